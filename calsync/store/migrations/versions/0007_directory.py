"""The directory's roster: people and pairs from [[directory.sources]], with end dates.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_people",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("manager", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("working_hours", sa.String(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", "email", name="pk_directory_people"),
    )
    op.create_table(
        "directory_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("manager", sa.String(), nullable=False),
        sa.Column("report", sa.String(), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_directory_pairs"),
    )
    op.create_index(
        "ix_directory_pairs_source_report", "directory_pairs", ["source", "report"]
    )
    op.create_index(
        "uq_directory_pairs_open",
        "directory_pairs",
        ["source", "manager", "report"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_directory_pairs_open", table_name="directory_pairs")
    op.drop_index("ix_directory_pairs_source_report", table_name="directory_pairs")
    op.drop_table("directory_pairs")
    op.drop_table("directory_people")
