"""Synced calendars: their sync state (cursor, last success, last error) and the
writes of a sync, with the guard against a snapshot that would wipe a calendar.

``apply_changes`` is one transaction: the provider's new cursor is committed
together with the changes it produced, so a crash can neither skip nor
double-apply a change. Reading the events back is ``events``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from calsync.model import ChangeSet, normalize_email
from calsync.secrets import stored_calendar
from calsync.store import codec
from calsync.store.base import CHUNK, Database, insert_if_absent, utc
from calsync.store.models import CalendarRow, EventRow

# Advisory-lock key space of calendar syncs (the second key is the calendar id).
_SYNC_LOCK_SPACE = 0x63616C


class SuspiciousSnapshot(Exception):
    """A full snapshot would wipe a calendar's upcoming events: refused, nothing written.

    An empty answer where events were expected is far more often a broken
    feed, a wrong calendar id or a permissions change than a person who
    cancelled everything (vdirsyncer refuses such mass deletes too).
    """

    def __init__(self, calendar: str, stored: int) -> None:
        super().__init__(
            f"{calendar}: the full snapshot is empty but {stored} upcoming event(s) are "
            "stored; refusing to delete them (nothing was written, the cursor is unchanged)"
        )
        self.calendar = calendar
        self.stored = stored


@dataclass(frozen=True, slots=True)
class ApplyStats:
    """What one ``apply_changes`` did; ``deleted`` counts tombstones and swept events."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class CalendarStatus(NamedTuple):
    provider: str
    calendar: str
    owner: str
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None  # kept after a success: when the last failure was


def ensure_calendar(store: Database, provider: str, calendar: str, owner: str) -> int:
    """The id of the calendar, registering it on first sight (safe under concurrency).

    A feed URL is kept only as its digest (``secrets.stored_calendar``): the
    database never holds a secret calendar address.
    """
    owner = normalize_email(owner)
    calendar = stored_calendar(calendar)
    with store.transaction() as session:
        insert_if_absent(
            session,
            CalendarRow,
            {"provider": provider, "calendar": calendar, "owner": owner},
            ("provider", "calendar"),
        )
        row = session.scalars(
            select(CalendarRow).where(
                CalendarRow.provider == provider, CalendarRow.calendar == calendar
            )
        ).one()
        if row.owner != owner:
            row.owner = owner
        return row.id


@contextmanager
def calendar_locks(store: Database, calendar_ids: Iterable[int]) -> Iterator[set[int]]:
    """The calendars this worker may sync now: the others are another worker's.

    On PostgreSQL, session advisory locks on one connection, held for the
    whole pass and released at the end (or when the process dies). SQLite
    has one process: every calendar is ours.
    """
    ids = list(calendar_ids)
    if store.engine.dialect.name != "postgresql":
        yield set(ids)
        return
    with store.engine.connect() as connection:
        mine = {
            calendar_id
            for calendar_id in ids
            if connection.execute(
                text("SELECT pg_try_advisory_lock(:space, :id)"),
                {"space": _SYNC_LOCK_SPACE, "id": calendar_id},
            ).scalar()
        }
        connection.commit()
        try:
            yield mine
        finally:
            for calendar_id in mine:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:space, :id)"),
                    {"space": _SYNC_LOCK_SPACE, "id": calendar_id},
                )
            connection.commit()


def calendar_ids(store: Database) -> dict[tuple[str, str], int]:
    """(provider, calendar) -> id of every known calendar, in one query."""
    with store.transaction() as session:
        rows = session.execute(select(CalendarRow.id, CalendarRow.provider, CalendarRow.calendar))
        return {(row.provider, row.calendar): row.id for row in rows}


def cursors(store: Database, calendar_ids: Iterable[int]) -> dict[int, str | None]:
    """The cursors of many calendars in one query (an idle cycle reads them all)."""
    ids = list(calendar_ids)
    with store.transaction() as session:
        rows = session.execute(
            select(CalendarRow.id, CalendarRow.cursor).where(CalendarRow.id.in_(ids))
        )
        found = {row.id: row.cursor for row in rows}
    return {calendar_id: found.get(calendar_id) for calendar_id in ids}


def cursor(store: Database, calendar_id: int) -> str | None:
    """The provider's sync cursor committed with the last applied changes."""
    with store.transaction() as session:
        return _calendar(session, calendar_id).cursor


def apply_changes(
    store: Database, calendar_id: int, changes: ChangeSet, now: datetime
) -> ApplyStats:
    """Apply one fetch's changes and its new cursor in a single transaction.

    - ``unchanged``: only the cursor and ``last_synced_at`` are written.
    - events are upserted by ``Event.key``; an event whose content hash is
      the same is not rewritten (only a new etag is kept) and counts as
      unchanged.
    - ``deleted`` keys (tombstones) are removed; they win over an upsert of
      the same key in the same change set.
    - ``full``: stored events not in the snapshot whose effective start
      (``original_start or start``) lies in ``[max(window.start, now),
      window.end)`` are removed (no window: from ``now`` on). Past events
      are never swept, so history survives a feed that stops showing it.
      An empty snapshot that would sweep anything raises
      ``SuspiciousSnapshot`` and writes nothing.
    - ``pattern_keys``: a past occurrence stated from its series' pattern
      alone neither rewrites its stored row nor, inside the span of the
      series' stored occurrences, adds a row (either counts as unchanged);
      upcoming rows are not affected.
    """
    now = utc(now)
    with store.transaction() as session:
        # Locks the calendar row on PostgreSQL: concurrent syncs of one
        # calendar apply one after the other instead of interleaving.
        calendar = _calendar(session, calendar_id, lock=True)
        stats = ApplyStats()
        if not changes.unchanged:
            stats = _apply_events(session, calendar, changes, now)
        calendar.cursor = changes.cursor
        calendar.last_synced_at = now
        calendar.last_error = None
        return stats


def mark_unchanged(
    store: Database, cursors: Mapping[int, str | None], now: datetime
) -> None:
    """Calendars whose fetch found nothing new: their new cursors and sync time.

    What ``apply_changes`` writes for an ``unchanged`` change set, for many
    calendars in one transaction and one statement per ``CHUNK`` of them: an
    idle cycle of a thousand calendars is a couple of statements, not a
    thousand transactions.
    """
    rows = [{"calendar_id": key, "new_cursor": value} for key, value in cursors.items()]
    if not rows:
        return
    table = CalendarRow.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("calendar_id"))
        .values(cursor=bindparam("new_cursor"), last_synced_at=utc(now), last_error=None)
    )
    with store.transaction() as session:
        connection = session.connection()
        for start in range(0, len(rows), CHUNK):
            connection.execute(statement, rows[start : start + CHUNK])


def record_error(store: Database, calendar_id: int, message: str, now: datetime) -> None:
    """Remember why the last sync of a calendar failed (cursor and events untouched)."""
    with store.transaction() as session:
        calendar = _calendar(session, calendar_id)
        calendar.last_error = codec.clean(message)
        calendar.last_error_at = utc(now)


def calendar_status(store: Database) -> list[CalendarStatus]:
    """Every known calendar with its last success and last error, for ``doctor``."""
    with store.transaction() as session:
        rows = session.scalars(
            select(CalendarRow).order_by(
                CalendarRow.owner, CalendarRow.provider, CalendarRow.calendar
            )
        )
        return [
            CalendarStatus(
                r.provider, r.calendar, r.owner, r.last_synced_at, r.last_error, r.last_error_at
            )
            for r in rows
        ]


# -- helpers ------------------------------------------------------------------


def _apply_events(
    session: Session, calendar: CalendarRow, changes: ChangeSet, now: datetime
) -> ApplyStats:
    """The event part of ``apply_changes``, inside its transaction."""
    stored = {
        row.key: row
        for row in session.execute(
            select(
                EventRow.id,
                EventRow.key,
                EventRow.content_hash,
                EventRow.etag,
                EventRow.start,
                EventRow.original_start,
                EventRow.uid,
                EventRow.remote_id,
            ).where(EventRow.calendar_id == calendar.id)
        )
    }
    tombstones = {codec.clean(key) for key in changes.deleted}
    tombstones |= _remote_tombstones(stored, changes, now)

    dialect = session.get_bind().dialect.name
    encoder = codec.RowEncoder(dialect)
    incoming: dict[str, dict[str, Any]] = {}
    for event in changes.events:
        values = encoder.values(event)
        if values["key"] not in tombstones:
            incoming[values["key"]] = values  # the last copy of a key wins

    # Past occurrences restated from their series' pattern alone: what was
    # stored stays, and the series' past is not re-added at a new time.
    history = _restated_history(stored, changes, now)

    doomed = [stored[key].id for key in tombstones if key in stored]
    # What could not be read stays as it was: a broken master must not read as
    # a deleted series (its upcoming rows gone, a false no_upcoming).
    unread = set(changes.unread_uids)
    scope = set(changes.series_scope) - unread
    if scope:
        low = now if changes.window is None else max(changes.window.start, now)
        high = None if changes.window is None else changes.window.end
        doomed += [
            row.id
            for key, row in stored.items()
            if row.uid in scope
            and key not in incoming
            and key not in tombstones
            and _in_range(row.original_start or row.start, low, high)
        ]
    if changes.full:
        low = now if changes.window is None else max(changes.window.start, now)
        high = None if changes.window is None else changes.window.end
        swept = [
            row.id
            for key, row in stored.items()
            if key not in incoming
            and key not in tombstones
            and row.uid not in unread
            and _in_range(row.original_start or row.start, low, high)
        ]
        if swept and not changes.events:
            raise SuspiciousSnapshot(_describe(calendar), len(swept))
        doomed += swept

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    etag_only: list[dict[str, Any]] = []
    updated_at = encoder.bound_instant(now)
    for key, values in incoming.items():
        old = stored.get(key)
        if old is None:
            if key not in history:
                inserts.append({**values, "calendar_id": calendar.id, "updated_at_utc": updated_at})
        elif old.content_hash != values["content_hash"]:
            if key not in history:
                updates.append({**values, "id": old.id, "updated_at_utc": updated_at})
        elif old.etag != values["etag"]:
            etag_only.append({"id": old.id, "etag": values["etag"]})

    # One executemany each on the session's connection (same transaction): the
    # ORM bulk path costs more per row than the database does (bench_sync).
    connection = session.connection()
    writes = _writes(connection.dialect)
    if inserts:
        writes.insert(connection, inserts)
    if updates:
        writes.update(connection, [_by_id(row) for row in updates])
    if etag_only:
        connection.execute(_UPDATE_ETAG_BY_ID, [_by_id(row) for row in etag_only])
    for start in range(0, len(doomed), CHUNK):
        session.execute(delete(EventRow).where(EventRow.id.in_(doomed[start : start + CHUNK])))

    return ApplyStats(
        inserted=len(inserts),
        updated=len(updates),
        unchanged=len(incoming) - len(inserts) - len(updates),
        deleted=len(doomed),
    )


_EVENTS = EventRow.__table__
_UPDATE_ETAG_BY_ID = (
    _EVENTS.update().where(_EVENTS.c.id == bindparam("row_id")).values(etag=bindparam("etag"))
)


class _EventWrites:
    """The insert and the update by id of event rows, for one dialect.

    The values are bound as ``codec.RowEncoder`` encoded them (``write_binds``).
    The row's id is bound as ``row_id``: a bind named like a column would clash
    with the SET clause of the same name (so would RowEncoder's other names).

    On SQLite, whose driver takes the encoded values as they are (text, numbers,
    booleans as integers), the statements are compiled once and the rows go to
    the driver's ``executemany`` as tuples: SQLAlchemy's per-row parameter
    processing cost more than SQLite's insert itself (bench_sync). Elsewhere
    (PostgreSQL: insertmanyvalues) Core executes them.
    """

    def __init__(self, dialect: Dialect) -> None:
        binds = codec.write_binds(dialect.name)
        self._insert = _EVENTS.insert().values(binds)
        self._update = _EVENTS.update().where(_EVENTS.c.id == bindparam("row_id")).values(binds)
        self._driver = dialect.name == "sqlite"
        if self._driver:
            plain = [c.name for c in _EVENTS.columns if c.name not in binds and c.name != "id"]
            insert = self._insert.compile(dialect=dialect, column_keys=plain)
            update = self._update.compile(
                dialect=dialect, column_keys=[c for c in plain if c != "calendar_id"]
            )
            self._insert_sql, self._insert_row = insert.string, itemgetter(*insert.positiontup)
            self._update_sql, self._update_row = update.string, itemgetter(*update.positiontup)

    def insert(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if self._driver:
            connection.exec_driver_sql(self._insert_sql, [self._insert_row(r) for r in rows])
        else:
            connection.execute(self._insert, rows)

    def update(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if self._driver:
            connection.exec_driver_sql(self._update_sql, [self._update_row(r) for r in rows])
        else:
            connection.execute(self._update, rows)


_WRITES: dict[str, _EventWrites] = {}


def _writes(dialect: Dialect) -> _EventWrites:
    """The statements for this kind of database (built once per process)."""
    writes = _WRITES.get(dialect.name)
    if writes is None:
        writes = _WRITES[dialect.name] = _EventWrites(dialect)
    return writes


def _by_id(row: dict[str, Any]) -> dict[str, Any]:
    """An update's parameters: its values, with the id as the WHERE bind."""
    params = {name: value for name, value in row.items() if name != "id"}
    params["row_id"] = row["id"]
    return params


def _remote_tombstones(stored: dict[str, Any], changes: ChangeSet, now: datetime) -> set[str]:
    """Keys of the rows a provider deleted by its own id.

    A deleted single event goes. A deleted series takes its upcoming
    occurrences with it, but its master and past occurrences stay: those 1:1s
    were held, and the history must say so. A series that had not begun (its
    master starts at or after ``now``, e.g. the new half of a split) has no
    history: its master goes too, as a full sync's sweep removes it.
    """
    gone = {codec.clean(remote) for remote in changes.deleted_remote_ids}
    if not gone:
        return set()
    keys: set[str] = set()
    series: set[str] = set()
    has_occurrences = {row.uid for row in stored.values() if row.original_start is not None}
    for key, row in stored.items():
        if row.remote_id not in gone:
            continue
        if row.original_start is None and row.uid in has_occurrences:
            series.add(row.uid)
            if row.start >= now:
                keys.add(key)
        else:
            keys.add(key)
    for key, row in stored.items():
        if row.uid in series and row.original_start is not None and row.original_start >= now:
            keys.add(key)
    return keys


def _restated_history(stored: dict[str, Any], changes: ChangeSet, now: datetime) -> set[str]:
    """Keys of past occurrences this change set states only from their series' pattern.

    Such a statement says what the series' rule and master say today, not what
    happened then: Exchange restates every occurrence when a series is edited
    (exceptions dropped, responses cleared), so a cancelled 1:1 would read as
    held and a decline would vanish. A stored row is therefore not rewritten,
    and an occurrence the store never recorded is not added where the store
    already holds the series' history (between its first and last stored
    occurrence): it is the old history at a new time (the whole series moved),
    not a meeting that happened. Older ones (a longer window) are added.
    Upcoming rows, and occurrences with data of their own, are applied.
    """
    pattern = {codec.clean(key) for key in changes.pattern_keys}
    if not pattern:
        return set()
    spans: dict[str, tuple[datetime, datetime]] = {}
    for row in stored.values():
        if row.original_start is not None:
            low, high = spans.get(row.uid, (row.original_start, row.original_start))
            spans[row.uid] = (min(low, row.original_start), max(high, row.original_start))
    keys: set[str] = set()
    for event in changes.events:
        key = codec.clean(event.key)
        if key not in pattern or (event.original_start or event.start) >= now:
            continue
        span = spans.get(codec.clean(event.uid))
        if key in stored or (
            span is not None and event.original_start is not None
            and span[0] <= event.original_start <= span[1]
        ):
            keys.add(key)
    return keys


def _in_range(instant: datetime, low: datetime, high: datetime | None) -> bool:
    return instant >= low and (high is None or instant < high)


def _describe(calendar: CalendarRow) -> str:
    return f"{calendar.provider} calendar {calendar.calendar!r} of {calendar.owner}"


def _calendar(session: Session, calendar_id: int, lock: bool = False) -> CalendarRow:
    row = session.get(CalendarRow, calendar_id, with_for_update=lock or None)
    if row is None:
        raise LookupError(f"no calendar with id {calendar_id}")
    return row
