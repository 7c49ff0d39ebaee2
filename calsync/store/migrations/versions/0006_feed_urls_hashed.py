"""Feed URLs are kept only as their SHA-256 (a secret iCal address is read access).

Both the calendars and the people tables held them in clear.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from calsync.secrets import stored_calendar

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    for table, key in (("calendars", "id"), ("people", "email")):
        rows = connection.execute(
            sa.text(f"SELECT {key}, calendar FROM {table} WHERE calendar IS NOT NULL")
        ).fetchall()
        for row_key, calendar in rows:
            stored = stored_calendar(calendar)
            if stored != calendar:
                connection.execute(
                    sa.text(f"UPDATE {table} SET calendar = :stored WHERE {key} = :key"),
                    {"stored": stored, "key": row_key},
                )


def downgrade() -> None:
    # A digest cannot be turned back into the URL; the next sync registers the
    # calendar again from the config.
    pass
