"""The outbox: calendar writes to perform exactly once, each under a deterministic key.

The planner ``enqueue``s a write (a second enqueue of the same key is a
no-op), a worker ``claim``s pending writes under a lease, performs them and
records ``mark_done`` (or ``complete``, with their audit rows) or
``mark_failed``. ``pending`` is what is still to do.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from calsync.store import codec
from calsync.store.base import Database, insert_if_absent, utc
from calsync.store.models import OutboxRow, PairRow
from calsync.store.writes import insert_audit


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    action: str
    payload: dict[str, Any]
    pair_id: int | None
    state: str
    attempts: int
    last_error: str | None
    remote_id: str | None


def enqueue(
    store: Database,
    key: str,
    action: str,
    payload: dict[str, Any],
    pair_id: int | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Queue a calendar write under a deterministic key; False if the key is already there.

    The key (pair, original occurrence, action) is what makes a write happen
    once: a retry, a restart or a second worker enqueuing the same action
    finds the existing row.
    """
    now = utc(now) if now is not None else datetime.now(UTC)
    values = {
        "key": key,
        "action": action,
        "payload": payload,
        "pair_id": pair_id,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    with store.transaction() as session:
        return insert_if_absent(session, OutboxRow, values, ("key",))


def requeue(
    store: Database, key: str, payload: dict[str, Any], *, now: datetime | None = None
) -> bool:
    """Queue a write that was given up (state ``failed``) again, with a new payload.

    For a person choosing another make-up time after calsync could not book the
    first: the key stays (it is what makes the write happen once); only a
    ``failed`` row changes, in one conditional statement, so of two requests
    exactly one gets it. False when the row is not ``failed`` (or not there).
    """
    now = utc(now) if now is not None else datetime.now(UTC)
    with store.transaction() as session:
        result = session.execute(
            update(OutboxRow)
            .where(OutboxRow.key == key, OutboxRow.state == "failed")
            .values(payload=payload, state="pending", attempts=0, last_error=None,
                    claimed_until=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def pending(store: Database, limit: int = 100) -> list[OutboxItem]:
    """The oldest writes still to perform."""
    with store.transaction() as session:
        rows = session.scalars(
            select(OutboxRow)
            .where(OutboxRow.state == "pending")
            # Make-ups first: a bumped 1:1 should not wait behind a cold start's
            # thousands of agenda blocks; otherwise in queue order.
            .order_by(OutboxRow.action != MAKE_UP, OutboxRow.id)
            .limit(limit)
        )
        return [_item(r) for r in rows]


def item(store: Database, key: str) -> OutboxItem | None:
    """The write queued under ``key`` (undo reads what it wrote and where)."""
    with store.transaction() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.key == key))
        return None if row is None else _item(row)


#: The action name of a make-up (engine.actions.CreateMakeUp.KIND; the store
#: does not import the engine).
MAKE_UP = "create_makeup"


def claim(
    store: Database,
    now: datetime,
    lease: timedelta,
    limit: int | None = 50,
    *,
    managers: Collection[str] | None = None,
    pairs: Collection[int] | None = None,
) -> list[OutboxItem]:
    """Pending writes for this worker alone, leased until ``now + lease``.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps concurrent workers off each
    other's rows; a lease that ran out (its worker died) can be claimed again.
    ``managers``: only the writes of these managers' pairs (and writes of no
    pair), so each worker writes to its own groups' calendars. ``pairs``: only
    these pairs' writes (``limit`` None: all of them).
    """
    now = utc(now)
    with store.transaction() as session:
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.state == "pending",
                (OutboxRow.claimed_until.is_(None)) | (OutboxRow.claimed_until < now),
            )
            # Make-ups first: a bumped 1:1 should not wait behind a cold start's
            # thousands of agenda blocks; otherwise in queue order.
            .order_by(OutboxRow.action != MAKE_UP, OutboxRow.id)
            .limit(limit)
        )
        if pairs is not None:
            query = query.where(OutboxRow.pair_id.in_(sorted(pairs)))
        if managers is not None:
            theirs = select(PairRow.id).where(PairRow.manager.in_(sorted(managers)))
            query = query.where(OutboxRow.pair_id.is_(None) | OutboxRow.pair_id.in_(theirs))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=OutboxRow)
        rows = list(session.scalars(query))
        for row in rows:
            row.claimed_until = now + lease
        return [_item(r) for r in rows]


def mark_done(
    store: Database, key: str, remote_id: str | None, *, now: datetime | None = None
) -> None:
    """The write happened; ``remote_id`` is the provider's id of what it created."""
    _update(store, key, now, state="done", remote_id=remote_id, last_error=None, claimed_until=None)


def complete(
    store: Database,
    done: Sequence[tuple[str, str | None, dict[str, Any]]],
    *,
    now: datetime | None = None,
) -> None:
    """Writes that happened: (key, remote id, audit row) each, in one transaction.

    Each audit row goes in with its outbox row marked done, together: a crash
    before the commit leaves both as they were and re-runs the writes, which
    find their events. One commit for a chain of writes, not two per write.
    """
    when = utc(now) if now is not None else datetime.now(UTC)
    with store.transaction() as session:
        for key, remote_id, audit in done:
            insert_audit(session, audit)
            result = session.execute(
                update(OutboxRow).where(OutboxRow.key == key).values(
                    state="done", remote_id=remote_id, last_error=None, claimed_until=None,
                    updated_at=when,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LookupError(f"no outbox entry with key {key!r}")


def mark_failed(
    store: Database, key: str, error: str, *, retry: bool = False, now: datetime | None = None
) -> None:
    """The write failed: count the attempt; ``retry`` keeps it pending for another try."""
    _update(
        store,
        key,
        now,
        state="pending" if retry else "failed",
        last_error=codec.clean(error),
        attempts=OutboxRow.attempts + 1,
        claimed_until=None,
    )


def _update(store: Database, key: str, now: datetime | None, **values: Any) -> None:
    values["updated_at"] = utc(now) if now is not None else datetime.now(UTC)
    with store.transaction() as session:
        result = session.execute(update(OutboxRow).where(OutboxRow.key == key).values(**values))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LookupError(f"no outbox entry with key {key!r}")


def _item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        key=row.key,
        action=row.action,
        payload=row.payload,
        pair_id=row.pair_id,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        remote_id=row.remote_id,
    )
