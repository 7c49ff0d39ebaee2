"""Leases: several workers on one PostgreSQL share the calendars and manager groups.

Each worker keeps a heartbeat row (kind "worker") and leases on the calendars
and groups it holds; a lease that is not renewed expires and another worker
takes it over.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('worker', 'calendar', 'group')", name="ck_leases_kind"),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_leases"),
    )
    op.create_index("ix_leases_worker", "leases", ["worker"])


def downgrade() -> None:
    op.drop_index("ix_leases_worker", table_name="leases")
    op.drop_table("leases")
