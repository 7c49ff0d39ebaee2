"""The store: everything calsync keeps between runs, behind one small class.

Each public method is one transaction (``with session.begin():``): either all
of it is committed or none of it is. That is what lets a sync commit the
provider's new cursor together with the changes it produced, so a crash can
neither skip nor double-apply a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from calsync.config import Settings
from calsync.model import ChangeSet, Event, normalize_email
from calsync.policies.types import Occurrence, PairHealth, Status
from calsync.store import codec
from calsync.store.db import open_engine
from calsync.store.models import (
    Base,
    CalendarRow,
    EventRow,
    FindingRow,
    OccurrenceRow,
    OutboxRow,
    PairRow,
    PersonRow,
)

# Keeps IN (...) lists well below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
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


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A finding that currently holds for an active pair, and since when."""

    manager: str
    report: str
    kind: str
    message: str
    evidence: tuple[datetime, ...]
    severity: str
    first_seen: datetime
    last_seen: datetime


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


def open_store(url: str) -> Store:
    """Open (creating and migrating when needed) the database at ``url``.

    Accepts ``sqlite:///path.db`` and ``postgresql://user@host/db`` (psycopg 3
    is used without naming it). Raises ``StoreError`` with a readable message.
    """
    return Store(open_engine(url))


class Store:
    """calsync's persistent state. Safe to share across threads; one per process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the connections (the database stays as it is)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- configuration -------------------------------------------------------

    def sync_config(self, settings: Settings) -> None:
        """Make people and pairs match the config.

        Nothing is deleted: a pair that left the config becomes inactive, so
        its history (occurrences, findings) stays for reports; it becomes
        active again if it comes back.
        """
        with self._transaction() as session:
            people = {row.email: row for row in session.scalars(select(PersonRow))}
            for person in settings.people:
                row = people.get(person.email)
                if row is None:
                    row = PersonRow(email=person.email)
                    session.add(row)
                row.name = person.name
                row.timezone = person.timezone
                row.working_hours = person.working_hours.text
                row.provider = person.provider
                row.calendar = person.calendar
            session.flush()  # people first: pairs refer to them

            pairs = {(row.manager, row.report): row for row in session.scalars(select(PairRow))}
            configured = set()
            for pair in settings.pairs:
                configured.add((pair.manager, pair.report))
                pair_row = pairs.get((pair.manager, pair.report))
                if pair_row is None:
                    pair_row = PairRow(manager=pair.manager, report=pair.report)
                    session.add(pair_row)
                pair_row.cadence = pair.cadence.label
                pair_row.duration_minutes = _minutes(pair.duration)
                pair_row.min_duration_minutes = _minutes(pair.min_duration)
                pair_row.rebook = pair.rebook
                pair_row.title = pair.title
                pair_row.active = True
            for key, pair_row in pairs.items():
                if key not in configured:
                    pair_row.active = False

    def pair_id(self, manager: str, report: str) -> int:
        """The id of a configured pair (for outbox rows); LookupError if unknown."""
        with self._transaction() as session:
            return _pair(session, manager, report).id

    # -- calendars and their events -----------------------------------------

    def ensure_calendar(self, provider: str, calendar: str, owner: str) -> int:
        """The id of the calendar, registering it on first sight (safe under concurrency)."""
        owner = normalize_email(owner)
        with self._transaction() as session:
            _insert_if_absent(
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
    def calendar_locks(self, calendar_ids: Iterable[int]) -> Iterator[set[int]]:
        """The calendars this worker may sync now: the others are another worker's.

        On PostgreSQL, session advisory locks on one connection, held for the
        whole pass and released at the end (or when the process dies). SQLite
        has one process: every calendar is ours.
        """
        ids = list(calendar_ids)
        if self.engine.dialect.name != "postgresql":
            yield set(ids)
            return
        with self.engine.connect() as connection:
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

    def calendar_ids(self) -> dict[tuple[str, str], int]:
        """(provider, calendar) -> id of every known calendar, in one query."""
        with self._transaction() as session:
            rows = session.execute(select(CalendarRow.id, CalendarRow.provider,
                                          CalendarRow.calendar))
            return {(row.provider, row.calendar): row.id for row in rows}

    def cursors(self, calendar_ids: Iterable[int]) -> dict[int, str | None]:
        """The cursors of many calendars in one query (an idle cycle reads them all)."""
        ids = list(calendar_ids)
        with self._transaction() as session:
            rows = session.execute(
                select(CalendarRow.id, CalendarRow.cursor).where(CalendarRow.id.in_(ids))
            )
            found = {row.id: row.cursor for row in rows}
        return {calendar_id: found.get(calendar_id) for calendar_id in ids}

    def cursor(self, calendar_id: int) -> str | None:
        """The provider's sync cursor committed with the last applied changes."""
        with self._transaction() as session:
            return _calendar(session, calendar_id).cursor

    def apply_changes(self, calendar_id: int, changes: ChangeSet, now: datetime) -> ApplyStats:
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
        """
        now = _utc(now)
        with self._transaction() as session:
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

    def record_error(self, calendar_id: int, message: str, now: datetime) -> None:
        """Remember why the last sync of a calendar failed (cursor and events untouched)."""
        with self._transaction() as session:
            calendar = _calendar(session, calendar_id)
            calendar.last_error = codec.clean(message)
            calendar.last_error_at = _utc(now)

    def calendar_status(self) -> list[CalendarStatus]:
        """Every known calendar with its last success and last error, for ``doctor``."""
        with self._transaction() as session:
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

    def events_of(self, owner_emails: Iterable[str]) -> dict[str, list[Event]]:
        """Each owner's events across all their calendars, in start order (one query).

        Every requested owner is a key, with an empty list when nothing is stored.
        """
        owners = list(dict.fromkeys(normalize_email(email) for email in owner_emails))
        result: dict[str, list[Event]] = {owner: [] for owner in owners}
        for start in range(0, len(owners), _CHUNK):
            chunk = owners[start : start + _CHUNK]
            self._collect_events(result, CalendarRow.owner.in_(chunk))
        return result

    def all_events(self) -> dict[str, list[Event]]:
        """Every stored event, by owner, in start order (one query)."""
        result: dict[str, list[Event]] = {}
        self._collect_events(result, None)
        return result

    def _collect_events(self, into: dict[str, list[Event]], where: Any) -> None:
        query = select(CalendarRow.owner, *EventRow.__table__.c).join(
            CalendarRow, EventRow.calendar_id == CalendarRow.id
        )
        if where is not None:
            query = query.where(where)
        query = query.order_by(CalendarRow.owner, EventRow.start, EventRow.key)
        with self._transaction() as session:
            for row in session.execute(query):
                into.setdefault(row.owner, []).append(codec.event_from_row(row))

    # -- evaluation results -------------------------------------------------

    def save_health(self, health: PairHealth, now: datetime) -> None:
        """Store a pair's latest evaluation.

        Occurrences are replaced wholesale (they are recomputed from events
        every time). Findings keep their history: one row per (pair, kind)
        stays open while the finding persists and is updated in place, it is
        resolved when the kind disappears, and a new row opens if it returns,
        so reports can say "since when" and how often it came back.
        """
        now = _utc(now)
        with self._transaction() as session:
            pair = _pair(session, health.manager, health.report)

            session.execute(delete(OccurrenceRow).where(OccurrenceRow.pair_id == pair.id))
            # Keyed by original start, the table's primary key: a duplicate keeps the last.
            occurrences = {o.original_start: o for o in health.occurrences}
            if occurrences:
                session.execute(
                    insert(OccurrenceRow),
                    [_occurrence_values(pair.id, o, now) for o in occurrences.values()],
                )

            open_rows = {
                row.kind: row
                for row in session.scalars(
                    select(FindingRow).where(
                        FindingRow.pair_id == pair.id, FindingRow.resolved_at.is_(None)
                    )
                )
            }
            current = {finding.kind: finding for finding in health.findings}
            for kind, finding in current.items():
                row = open_rows.get(kind)
                if row is None:
                    row = FindingRow(pair_id=pair.id, kind=kind, first_seen=now)
                    session.add(row)
                row.message = codec.clean(finding.message)
                row.evidence = codec.instants_to_json(finding.evidence)
                row.severity = finding.severity
                row.last_seen = now
            for kind, row in open_rows.items():
                if kind not in current:
                    row.resolved_at = now

    def occurrences_of(self, manager: str, report: str) -> list[Occurrence]:
        """The occurrences of the pair's last saved evaluation, oldest first."""
        with self._transaction() as session:
            pair = _pair(session, manager, report)
            rows = session.scalars(
                select(OccurrenceRow)
                .where(OccurrenceRow.pair_id == pair.id)
                .order_by(OccurrenceRow.original_start)
            )
            return [
                Occurrence(
                    original_start=r.original_start,
                    start=r.start,
                    end=r.end,
                    status=Status(r.status),
                    by=r.by,
                    in_window=r.in_window,
                    uid=r.uid,
                    title=r.title,
                )
                for r in rows
            ]

    def open_findings(self, manager: str | None = None) -> list[OpenFinding]:
        """Findings that currently hold for active pairs, optionally of one manager."""
        query = (
            select(PairRow.manager, PairRow.report, FindingRow)
            .join(PairRow, FindingRow.pair_id == PairRow.id)
            .where(FindingRow.resolved_at.is_(None), PairRow.active.is_(True))
            .order_by(PairRow.manager, PairRow.report, FindingRow.kind)
        )
        if manager is not None:
            query = query.where(PairRow.manager == normalize_email(manager))
        with self._transaction() as session:
            return [
                OpenFinding(
                    manager=pair_manager,
                    report=report,
                    kind=row.kind,
                    message=row.message,
                    evidence=codec.instants_from_json(row.evidence),
                    severity=row.severity,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                )
                for pair_manager, report, row in session.execute(query)
            ]

    # -- outbox -------------------------------------------------------------

    def enqueue(
        self,
        key: str,
        action: str,
        payload: dict[str, Any],
        pair_id: int | None = None,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Queue a calendar write under a deterministic key; False if the key is already there.

        The key (pair, original occurrence, action) is what makes a write
        happen once: a retry, a restart or a second worker enqueuing the same
        action finds the existing row.
        """
        now = _utc(now) if now is not None else datetime.now(UTC)
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
        with self._transaction() as session:
            return _insert_if_absent(session, OutboxRow, values, ("key",))

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        """The oldest writes still to perform."""
        with self._transaction() as session:
            rows = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.state == "pending")
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return [_outbox_item(r) for r in rows]

    def claim(self, now: datetime, lease: timedelta, limit: int = 50) -> list[OutboxItem]:
        """Pending writes for this worker alone, leased until ``now + lease``.

        On PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps concurrent workers off each
        other's rows; a lease that ran out (its worker died) can be claimed again.
        """
        now = _utc(now)
        with self._transaction() as session:
            query = (
                select(OutboxRow)
                .where(
                    OutboxRow.state == "pending",
                    (OutboxRow.claimed_until.is_(None)) | (OutboxRow.claimed_until < now),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            for row in rows:
                row.claimed_until = now + lease
            return [_outbox_item(r) for r in rows]

    def outbox_item(self, key: str) -> OutboxItem | None:
        with self._transaction() as session:
            r = session.scalars(select(OutboxRow).where(OutboxRow.key == key)).one_or_none()
            if r is None:
                return None
            return _outbox_item(r)

    def mark_done(self, key: str, remote_id: str | None, *, now: datetime | None = None) -> None:
        """The write happened; ``remote_id`` is the provider's id of what it created."""
        self._update_outbox(
            key, now, state="done", remote_id=remote_id, last_error=None, claimed_until=None
        )

    def mark_failed(
        self, key: str, error: str, *, retry: bool = False, now: datetime | None = None
    ) -> None:
        """The write failed: count the attempt; ``retry`` keeps it pending for another try."""
        self._update_outbox(
            key,
            now,
            state="pending" if retry else "failed",
            last_error=codec.clean(error),
            attempts=OutboxRow.attempts + 1,
            claimed_until=None,
        )

    def _update_outbox(self, key: str, now: datetime | None, **values: Any) -> None:
        values["updated_at"] = _utc(now) if now is not None else datetime.now(UTC)
        with self._transaction() as session:
            result = session.execute(update(OutboxRow).where(OutboxRow.key == key).values(**values))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LookupError(f"no outbox entry with key {key!r}")


# -- helpers ------------------------------------------------------------------


def _apply_events(
    session: Session, calendar: CalendarRow, changes: ChangeSet, now: datetime
) -> ApplyStats:
    """The event part of ``Store.apply_changes``, inside its transaction."""
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

    incoming: dict[str, dict[str, Any]] = {}
    for event in changes.events:
        values = codec.event_values(event)
        if values["key"] not in tombstones:
            incoming[values["key"]] = values  # the last copy of a key wins

    doomed = [stored[key].id for key in tombstones if key in stored]
    scope = set(changes.series_scope)
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
            and _in_range(row.original_start or row.start, low, high)
        ]
        if swept and not changes.events:
            raise SuspiciousSnapshot(_describe(calendar), len(swept))
        doomed += swept

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    etag_only: list[dict[str, Any]] = []
    for key, values in incoming.items():
        digest = codec.content_hash(values)
        old = stored.get(key)
        if old is None:
            inserts.append(
                {**values, "calendar_id": calendar.id, "content_hash": digest, "updated_at": now}
            )
        elif old.content_hash != digest:
            updates.append({**values, "id": old.id, "content_hash": digest, "updated_at": now})
        elif old.etag != values["etag"]:
            etag_only.append({"id": old.id, "etag": values["etag"]})

    if inserts:
        session.execute(insert(EventRow), inserts)
    if updates:
        session.execute(update(EventRow), updates)
    if etag_only:
        session.execute(update(EventRow), etag_only)
    for start in range(0, len(doomed), _CHUNK):
        session.execute(delete(EventRow).where(EventRow.id.in_(doomed[start : start + _CHUNK])))

    return ApplyStats(
        inserted=len(inserts),
        updated=len(updates),
        unchanged=len(incoming) - len(inserts) - len(updates),
        deleted=len(doomed),
    )


def _outbox_item(row: OutboxRow) -> OutboxItem:
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


def _remote_tombstones(stored: dict[str, Any], changes: ChangeSet, now: datetime) -> set[str]:
    """Keys of the rows a provider deleted by its own id.

    A deleted single event goes. A deleted series takes its upcoming
    occurrences with it, but its master and past occurrences stay: those 1:1s
    were held, and the history must say so.
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
        else:
            keys.add(key)
    for key, row in stored.items():
        if row.uid in series and row.original_start is not None and row.original_start >= now:
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


def _pair(session: Session, manager: str, report: str) -> PairRow:
    manager, report = normalize_email(manager), normalize_email(report)
    row = session.scalars(
        select(PairRow).where(PairRow.manager == manager, PairRow.report == report)
    ).one_or_none()
    if row is None:
        raise LookupError(f"no pair {manager} / {report} (is it in the config?)")
    return row


def _insert_if_absent(
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


def _occurrence_values(pair_id: int, occurrence: Occurrence, now: datetime) -> dict[str, Any]:
    return {
        "pair_id": pair_id,
        "original_start": occurrence.original_start,
        "start": occurrence.start,
        "end": occurrence.end,
        "status": occurrence.status.value,
        "by": occurrence.by,
        "in_window": occurrence.in_window,
        "uid": occurrence.uid,
        "title": codec.clean(occurrence.title),
        "evaluated_at": now,
    }


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone")
    return value.astimezone(UTC)
