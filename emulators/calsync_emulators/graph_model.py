"""What the Graph emulator keeps: mailboxes, items, overrides, and how events are viewed.

- :class:`Mailbox`: one user's calendar (its items by serial, its tombstones
  for delta, working hours for getSchedule).
- :class:`Item`: a single event or a series master in one mailbox; a master's
  instances are virtual unless an :class:`Override` (an exception, a cancelled
  copy) or a deletion changes one. :class:`Entity` is what a list shows: an item
  or one instance of it.
- :class:`View`: how a request wants events rendered (``Prefer`` zone and body
  type, ``$select``, ``$expand`` of extended properties).
- :class:`Change`: one write, as change notifications report it.

Also the small functions every resource uses on them: an item's event id, the
occurrence at an original start, and the entities a time window lists.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from calsync_emulators.google_recurrence import Occurrence, Series
from calsync_emulators.graph_times import (
    DAYS,
    EventRef,
    Json,
    encode_id,
    ical_uid,
    mailbox_tag,
)
from calsync_emulators.zones import TimeFormatError, resolve_zone


@dataclass(frozen=True, slots=True)
class View:
    """How to render events: output zone, body type, ``$select``, ``$expand`` of extended props."""

    tz_name: str = "UTC"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    body_type: str | None = None
    select: frozenset[str] | None = None
    svep_ids: tuple[str, ...] | None = None

    @classmethod
    def from_prefer(cls, prefer: Mapping[str, str]) -> View:
        """From parsed ``Prefer`` preferences; an unknown zone falls back to UTC."""
        name = prefer.get("outlook.timezone")
        body_type = prefer.get("outlook.body-content-type")
        body = body_type.lower() if body_type and body_type.lower() in ("text", "html") else None
        if name:
            try:
                return cls(name, resolve_zone(name), body)
            except TimeFormatError:
                pass
        return cls(body_type=body)

    def with_query(self, select: frozenset[str] | None, svep_ids: tuple[str, ...] | None) -> View:
        return View(self.tz_name, self.tz, self.body_type, select, svep_ids)


def parse_prefer(values: Iterable[str]) -> dict[str, str]:
    """``Prefer`` headers as {name: value}, quotes removed (several headers or comma lists)."""
    out: dict[str, str] = {}
    for header in values:
        for part in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
    return out


@dataclass(slots=True)
class Timing:
    """When an event (or an instance) happens; all-day times are midnights in ``tz``."""

    all_day: bool
    start: datetime
    end: datetime
    start_tz: str
    end_tz: str
    tz: ZoneInfo

    def overlaps(self, low: datetime, high: datetime) -> bool:
        return self.end > low and self.start < high

    def at(self, occurrence: Occurrence) -> Timing:
        """This timing moved to one occurrence of its series (zones kept)."""
        start, end = occurrence.start.astimezone(UTC), occurrence.end.astimezone(UTC)
        return Timing(self.all_day, start, end, self.start_tz, self.end_tz, self.tz)


@dataclass(slots=True)
class Override:
    """An instance that differs from its series: an exception (or a cancelled copy)."""

    original: datetime
    props: Json = field(default_factory=dict)
    timing: Timing | None = None
    is_cancelled: bool = False
    response: Json | None = None


@dataclass(eq=False, slots=True)
class Item:
    """A single event or a series master in one mailbox."""

    serial: int
    mailbox: str
    props: Json
    timing: Timing
    goid: bytes
    is_organizer: bool
    response: Json
    created: datetime
    modified: datetime
    change_prefix: bytes
    version: int = 0
    changed_seq: int = 0
    recurrence: Json | None = None
    series: Series | None = None
    rec_tz: ZoneInfo | None = None
    is_cancelled: bool = False
    exceptions: dict[datetime, Override] = field(default_factory=dict)
    deleted: set[datetime] = field(default_factory=set)
    svep: dict[str, Json] = field(default_factory=dict)
    transaction_id: str | None = None
    transaction_time: datetime | None = None

    @property
    def change_key(self) -> str:
        return base64.b64encode(self.change_prefix + self.version.to_bytes(6, "big")).decode()

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'

    @property
    def meeting_key(self) -> str:
        return ical_uid(self.goid)


@dataclass(slots=True)
class Mailbox:
    """One user's mailbox: its items by serial, delta tombstones, getSchedule working hours."""

    upn: str
    name: str
    user_id: str
    tag: bytes
    time_zone: str
    working_days: tuple[str, ...] = DAYS[:5]
    working_start: time = time(8)
    working_end: time = time(17)
    items: dict[int, Item] = field(default_factory=dict)
    tombstones: list[tuple[int, str]] = field(default_factory=list)
    #: Bumped by every write to the mailbox: a delta over an unchanged mailbox
    #: reuses the window's last snapshot instead of rendering every event again.
    version: int = 0

    @property
    def key(self) -> str:
        return self.upn.lower()

    @property
    def tz(self) -> ZoneInfo:
        return resolve_zone(self.time_zone)

    def address(self) -> Json:
        return {"name": self.name, "address": self.upn}


@dataclass(frozen=True, slots=True)
class Entity:
    """Something a calendar view lists: a single event, a master, or one of its instances."""

    item: Item
    original: datetime | None = None
    occurrence: Occurrence | None = None

    @property
    def is_instance(self) -> bool:
        return self.original is not None


@dataclass(frozen=True, slots=True)
class Change:
    """One change to report to subscriptions: ``changeType`` on an item of a mailbox."""

    mailbox: str
    user_id: str
    event_id: str
    change_type: str
    etag: str


def b64(data: bytes) -> str:
    """URL-safe base64 without padding (calendar ids, delta and skip tokens)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def item_id(item: Item, original: datetime | None = None) -> str:
    """The event id of an item (or of its instance at ``original``) in its mailbox."""
    return encode_id(EventRef(mailbox_tag(item.mailbox), item.serial, original))


def occurrence_at(item: Item, original: datetime) -> Occurrence | None:
    """The occurrence of a series master with this original start, if it has one."""
    assert item.series is not None
    if item.timing.all_day:
        day = original.astimezone(item.series.calendar_tz).date()
        return item.series.find(None, day)
    return item.series.find(original, None)


def window_entities(
    mailbox: Mailbox, low: datetime, high: datetime, *, masters: bool
) -> list[tuple[datetime, Entity]]:
    """What a calendar view lists, by start: singles, instances (and masters for delta)."""
    found: list[tuple[datetime, int, Entity]] = []
    for item in mailbox.items.values():
        if item.series is None:
            if item.timing.overlaps(low, high):
                found.append((item.timing.start, 1, Entity(item)))
            continue
        instances: list[tuple[datetime, int, Entity]] = []
        for occurrence in item.series.between(low, high):
            original = occurrence.original.astimezone(UTC)
            if original in item.deleted:
                continue
            override = item.exceptions.get(original)
            if override is not None and override.timing is not None:
                continue
            start = occurrence.start.astimezone(UTC)
            instances.append((start, 1, Entity(item, original, occurrence)))
        for original, override in item.exceptions.items():
            if override.timing is None or original in item.deleted:
                continue
            if override.timing.overlaps(low, high):
                occurrence = occurrence_at(item, original)
                if occurrence is not None:
                    entity = Entity(item, original, occurrence)
                    instances.append((override.timing.start, 1, entity))
        if instances and masters:
            first = min(s for s, _, _ in instances)
            found.append((first, 0, Entity(item)))
        found.extend(instances)
    found.sort(key=lambda t: (t[0], t[1], t[2].item.serial, t[2].original or low))
    return [(start, entity) for start, _, entity in found]
