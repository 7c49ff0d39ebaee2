"""Weekly report sends: one row per (manager, ISO week), claimed before the email goes out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The unique (manager, week) constraint is what keeps a restart, a retry or a
second worker from sending a manager's weekly email twice
(``calsync.store.report_sends``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "report_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(), nullable=False),
        sa.Column("week", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _instant("claimed_at"),
        _instant("next_attempt_at", nullable=True),
        _instant("sent_at", nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint(
            "state IN ('sending', 'sent', 'failed')", name="ck_report_sends_state"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_report_sends"),
        sa.UniqueConstraint("manager", "week", name="uq_report_sends_manager_week"),
    )


def downgrade() -> None:
    op.drop_table("report_sends")
