"""The send ledger keeps nudges too: a ``kind`` column on ``report_sends``.

Revision ID: 0009
Revises: 0008

Existing rows are weekly emails. A nudge's row is keyed by its recipient and a
key naming the pair and the occurrence ("nudge|<manager>|<report>|<start>"), so
the unique (manager, week) constraint that keeps the weekly email from going
out twice does the same for each nudge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_sends") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(), server_default="weekly", nullable=False)
        )


def downgrade() -> None:
    op.execute("DELETE FROM report_sends WHERE kind <> 'weekly'")
    with op.batch_alter_table("report_sends") as batch:
        batch.drop_column("kind")
