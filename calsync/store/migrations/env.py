"""Alembic environment for calsync's store.

calsync runs its migrations itself when it opens a database
(``calsync.store.db.migrate``), handing over an open connection in
``config.attributes["connection"]``; there is no alembic.ini and no logging
setup here, so the application's own logging is left alone.
"""

from __future__ import annotations

from alembic import context

from calsync.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "calsync migrations run online on a connection passed in "
        "config.attributes['connection'] (see calsync.store.db.alembic_config)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: later migrations use batch mode there.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
