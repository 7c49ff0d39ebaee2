"""Engines and migrations: turn a database URL into a migrated, ready engine.

SQLite is the default (one file next to the config); PostgreSQL serves teams
running several workers. Both get the same schema from the same Alembic
migrations, run automatically on open, so a user never runs a separate
migration step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any constant: PostgreSQL advisory lock taken while migrating, so two workers
# starting at once do not both try to create the schema.
_MIGRATION_LOCK = 0x63616C73  # "cals"

SQLITE_BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """The database cannot be opened or migrated; the message names it (without password)."""


def normalize_url(url: str) -> URL:
    """Parse ``url``, using psycopg 3 for plain ``postgresql://`` / ``postgres://`` URLs.

    SQLAlchemy's bare ``postgresql://`` means psycopg2, which calsync does not
    depend on; users should not have to know driver names.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"{url!r} is not a database URL (e.g. 'sqlite:///calsync.db')") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r} in "
            f"{parsed.render_as_string(hide_password=True)} (use sqlite:/// or postgresql://)"
        )
    return parsed


def create_store_engine(url: str) -> Engine:
    """An engine with calsync's connection settings for the URL's backend."""
    parsed = normalize_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLite checks foreign keys only when asked, per connection; a busy timeout
    # makes a second process (CLI next to the daemon) wait instead of failing;
    # WAL lets readers go on while a sync writes.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still commits atomically (a cursor and its changes
        # survive or vanish together); it only skips an fsync per commit, so a
        # power cut may undo the last syncs, which the next sync fetches again.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini): works from an installed wheel.

    Developers create a new revision with::

        with engine.connect() as conn:
            command.revision(alembic_config(conn), "what changed", autogenerate=True)
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it already is."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")


def describe(engine: Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def open_engine(url: str) -> Engine:
    """Create the engine and migrate; raise StoreError with a readable message."""
    try:
        engine = create_store_engine(url)
    except (ArgumentError, ImportError) as exc:  # e.g. a driver that is not installed
        safe = normalize_url(url).render_as_string(hide_password=True)
        raise StoreError(f"cannot open database {safe}: {exc}") from None
    try:
        migrate(engine)
    except (SQLAlchemyError, CommandError) as exc:
        # CommandError: e.g. a revision this calsync does not know (a newer version wrote it).
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot open database {describe(engine)}: {reason}") from exc
    return engine
