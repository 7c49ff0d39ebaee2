"""What every store module shares: the engine, its transactions, and two helpers.

``Database`` holds the engine; ``calsync.store.facade.Store`` extends it with
one method per module function. The modules (``calendars``, ``events``,
``pairs``, ``health``, ``outbox``, ``report_sends``) take the store as a
``Database`` first argument, so they never import the facade that imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from calsync.store.models import Base

# Keeps IN (...) lists well below SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
#: Event rows one sync pass must insert or update before PostgreSQL's planner
#: statistics are refreshed at once (see ``refresh_statistics``).
ANALYZE_AFTER_ROWS = 5_000


class Database:
    """An engine and its sessions. Safe to share across threads; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the connections (the database stays as it is)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    def refresh_statistics(self, changed: int) -> bool:
        """ANALYZE the calendar tables after a bulk load of ``changed`` event rows.

        A cold start loads every calendar in minutes, well inside autovacuum's
        minute-long nap: the evaluation that follows was planned on an empty
        table and read each manager's group by a parallel sequential scan of all
        events (40 ms instead of 4 per group, most of PostgreSQL's CPU at 400
        pairs). SQLite plans from its indexes without statistics. True when run.
        """
        if changed < ANALYZE_AFTER_ROWS or self.engine.dialect.name != "postgresql":
            return False
        with self.engine.connect() as connection:
            connection.execute(text("ANALYZE calendars, events"))
            connection.commit()
        return True

    def write_problem(self) -> str | None:
        """Why nothing can be written here (a read-only database or user), or None.

        Writes the schema version onto itself and rolls back: nothing changes.
        """
        try:
            with self.engine.connect() as connection:
                transaction = connection.begin()
                try:
                    connection.execute(
                        text("UPDATE alembic_version SET version_num = version_num")
                    )
                finally:
                    transaction.rollback()
        except SQLAlchemyError as exc:
            detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
            return f"the database cannot be written: {detail[:200]}"
        return None


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def insert_if_absent(
    session: Session, model: type[Base], values: dict[str, Any], unique: tuple[str, ...]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: race-free between workers; True if inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(model)
    elif dialect == "sqlite":
        statement = sqlite.insert(model)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database {dialect}")
    statement = (
        statement.values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        # RETURNING, not rowcount: drivers report -1 for an INSERT that returns rows.
        .returning(*model.__table__.primary_key.columns)
    )
    return session.execute(statement).first() is not None
