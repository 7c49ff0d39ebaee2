"""One sync pass: every person's calendar from its provider into the store.

A calendar that fails is recorded and skipped; the others carry on. An expired
cursor is a typed event: the calendar is fetched again in full, and the store's
sweep keeps past history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync.config import IcsProvider, Settings
from calsync.providers.base import CalendarReader, CursorExpired, ProviderError
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


def build_readers(settings: Settings) -> dict[str, CalendarReader]:
    """One reader per configured provider."""
    from calsync.providers.ics import IcsReader

    zones = {
        (person.provider, calendar_of(person.calendar, person.email)): ZoneInfo(person.timezone)
        for person in settings.people
    }
    readers: dict[str, CalendarReader] = {}
    for name, provider in settings.providers.items():
        if isinstance(provider, IcsProvider):

            def zone_of(calendar: str, _name: str = name) -> ZoneInfo:
                return zones.get((_name, calendar), ZoneInfo("UTC"))

            readers[name] = IcsReader(name, provider, settings.base_dir, zone_of)
    return readers


def calendar_of(calendar: str | None, email: str) -> str:
    """A person's calendar id: as configured, else their email."""
    return calendar if calendar else email


def sync_all(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
) -> list[CalendarResult]:
    store.sync_config(settings)
    results = []
    for person in settings.people:
        reader = readers[person.provider]
        calendar = calendar_of(person.calendar, person.email)
        results.append(sync_calendar(store, reader, calendar, person.email, now))
    return results


def sync_calendar(
    store: Store, reader: CalendarReader, calendar: str, owner: str, now: datetime
) -> CalendarResult:
    calendar_id = store.ensure_calendar(reader.name, calendar, owner)
    cursor = store.cursor(calendar_id)
    resynced = False
    try:
        try:
            changes = reader.fetch_changes(calendar, cursor, now)
        except CursorExpired:
            log.info("cursor expired for %s/%s; fetching it in full", reader.name, calendar)
            resynced = True
            changes = reader.fetch_changes(calendar, None, now)
        stats = store.apply_changes(calendar_id, changes, now)
    except (ProviderError, SuspiciousSnapshot) as exc:
        message = str(exc)
        log.warning("sync failed: %s", message)
        store.record_error(calendar_id, message, now)
        return CalendarResult(reader.name, calendar, owner, ok=False, message=message)
    for warning in changes.warnings:
        log.warning("%s", warning)
    return CalendarResult(
        reader.name,
        calendar,
        owner,
        ok=True,
        inserted=stats.inserted,
        updated=stats.updated,
        deleted=stats.deleted,
        unchanged=changes.unchanged,
        warnings=changes.warnings,
        resynced=resynced,
    )
