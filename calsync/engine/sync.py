"""One sync pass: every person's calendar from its provider into the store.

A calendar that fails is recorded and skipped; the others carry on. An expired
cursor is a typed event: the calendar is fetched again in full, and the store's
sweep keeps past history.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from calsync.config import Settings
from calsync.engine.gc_tuning import fewer_collections
from calsync.model import ChangeSet
from calsync.providers.base import BatchReader, CalendarReader, CursorExpired, ProviderError
from calsync.secrets import shown_calendar, stored_calendar
from calsync.store import Store, SuspiciousSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CalendarResult:
    provider: str
    calendar: str
    owner: str
    ok: bool
    message: str = ""
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: bool = False
    warnings: tuple[str, ...] = ()
    resynced: bool = False


def sync_all(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    only: Collection[str] | None = None,
) -> list[CalendarResult]:
    """Every person's calendar, grouped by provider; batch-capable providers fetch at once.

    ``only``: just these calendar ids (what push notifications named).
    """
    with fewer_collections():  # a sync allocates in bulk (see gc_tuning)
        return _sync_all(settings, store, readers, now, only)


def _sync_all(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    only: Collection[str] | None,
) -> list[CalendarResult]:
    store.sync_config(settings)
    results = []
    by_provider: dict[str, list[tuple[str, str]]] = {}
    for person in settings.people:
        calendar = person.calendar_id
        if only is not None and calendar not in only:
            continue
        by_provider.setdefault(person.provider, []).append((calendar, person.email))
    known = store.calendar_ids()
    ids = {
        (name, calendar): known.get((name, stored_calendar(calendar)))
        or store.ensure_calendar(name, calendar, owner)
        for name, members in by_provider.items()
        for calendar, owner in members
    }
    with store.calendar_locks(ids.values()) as mine:
        for name, members in by_provider.items():
            reader = readers[name]
            others = [(c, o) for c, o in members if ids[(name, c)] not in mine]
            ours = [(c, o) for c, o in members if ids[(name, c)] in mine]
            results.extend(
                CalendarResult(name, c, o, ok=True, unchanged=True,
                               message="being synced by another worker")
                for c, o in others
            )
            if isinstance(reader, BatchReader) and len(ours) > 1:
                batch_ids = {c: ids[(name, c)] for c, _ in ours}
                results.extend(sync_batch(store, reader, name, ours, now, batch_ids))
            else:
                idle: dict[int, str | None] = {}
                results.extend(
                    sync_calendar(store, reader, calendar, owner, now, ids[(name, calendar)],
                                  idle=idle)
                    for calendar, owner in ours
                )
                store.mark_unchanged(idle, now)
    store.refresh_statistics(sum(r.inserted + r.updated for r in results))
    return results


def sync_batch(
    store: Store,
    reader: BatchReader,
    name: str,
    members: list[tuple[str, str]],
    now: datetime,
    ids: Mapping[str, int] | None = None,
) -> list[CalendarResult]:
    if ids is None:
        ids = {c: store.ensure_calendar(name, c, owner) for c, owner in members}
    cursors = store.cursors(ids[calendar] for calendar, _ in members)
    requests = [(calendar, cursors[ids[calendar]]) for calendar, _ in members]
    owners = dict(members)
    results = []
    idle: dict[int, str | None] = {}
    # The provider reads concurrently; each calendar is stored here, on this
    # thread, as soon as it arrives (its cursor in the same transaction); the
    # unchanged ones' cursors are written together at the end.
    for calendar, outcome in reader.fetch_stream(requests, now):
        if calendar in owners:
            owner = owners.pop(calendar)
            results.append(_apply(store, name, ids[calendar], calendar, owner, outcome, now,
                                  False, idle))
    for calendar, owner in owners.items():
        missing = ProviderError(calendar, "no result from the provider")
        results.append(_apply(store, name, ids[calendar], calendar, owner, missing, now, False))
    store.mark_unchanged(idle, now)
    return results


def sync_calendar(
    store: Store,
    reader: CalendarReader,
    calendar: str,
    owner: str,
    now: datetime,
    calendar_id: int | None = None,
    *,
    idle: dict[int, str | None] | None = None,
) -> CalendarResult:
    """One calendar; with ``idle``, an unchanged one's cursor is left there to write in batch."""
    if calendar_id is None:
        calendar_id = store.ensure_calendar(reader.name, calendar, owner)
    cursor = store.cursor(calendar_id)
    resynced = False
    outcome: ChangeSet | ProviderError
    try:
        try:
            outcome = reader.fetch_changes(calendar, cursor, now)
        except CursorExpired:
            log.info("cursor expired for %s/%s; fetching it in full", reader.name,
                     shown_calendar(calendar))
            resynced = True
            outcome = reader.fetch_changes(calendar, None, now)
    except ProviderError as exc:
        outcome = exc
    return _apply(store, reader.name, calendar_id, calendar, owner, outcome, now, resynced,
                  idle)


def _apply(
    store: Store,
    provider: str,
    calendar_id: int,
    calendar: str,
    owner: str,
    outcome: ChangeSet | ProviderError,
    now: datetime,
    resynced: bool,
    idle: dict[int, str | None] | None = None,
) -> CalendarResult:
    """Store one calendar's outcome: its changes and cursor, or why it failed.

    With ``idle``, an unchanged calendar's cursor goes there instead, for the
    caller to write with the others' in one statement (``Store.mark_unchanged``).
    """
    if isinstance(outcome, ProviderError):
        return _failed(store, provider, calendar_id, calendar, owner, str(outcome), now)
    if idle is not None and outcome.unchanged:
        idle[calendar_id] = outcome.cursor
        for warning in outcome.warnings:
            log.warning("%s", warning)
        return CalendarResult(provider, calendar, owner, ok=True, unchanged=True,
                              warnings=outcome.warnings, resynced=resynced)
    try:
        stats = store.apply_changes(calendar_id, outcome, now)
    except SuspiciousSnapshot as exc:
        return _failed(store, provider, calendar_id, calendar, owner, str(exc), now)
    for warning in outcome.warnings:
        log.warning("%s", warning)
    return CalendarResult(
        provider,
        calendar,
        owner,
        ok=True,
        inserted=stats.inserted,
        updated=stats.updated,
        deleted=stats.deleted,
        unchanged=outcome.unchanged,
        warnings=outcome.warnings,
        resynced=resynced,
    )


def _failed(
    store: Store,
    provider: str,
    calendar_id: int,
    calendar: str,
    owner: str,
    message: str,
    now: datetime,
) -> CalendarResult:
    log.warning("sync of %s's calendar failed: %s", owner, message)
    store.record_error(calendar_id, message, now)
    return CalendarResult(provider, calendar, owner, ok=False, message=message)
