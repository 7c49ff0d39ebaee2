## Template for `alembic revision` (see calsync.store.db.alembic_config); not needed at run
## time. Keep migrations in plain SQLAlchemy types (sa.DateTime(timezone=True), not calsync's
## own), so old migrations never break when the models change. Run `ruff check --fix` and
## `ruff format` on the generated file.
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
