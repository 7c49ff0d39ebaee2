"""Outbox lease: a worker claims a write until ``claimed_until``.

Several daemons may share one PostgreSQL database. A worker claims pending
writes by setting a lease (``FOR UPDATE SKIP LOCKED`` keeps two workers off the
same rows); a worker that dies leaves a lease that simply expires, and the next
one performs the write, which finds the event its key already created.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
