"""The neutral event model every provider translates into.

Nothing here knows a provider's field names. A calendar is a list of these
events: single events, series masters (``recurrence`` set) and the
materialised occurrences of each series over a bounded window (``original_start``
set), including occurrences that were cancelled, so a cancellation is a row with
a status rather than an absence.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar


class Response(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs_action"


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    response: Response = Response.NEEDS_ACTION

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))


_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Event:
    """One event on one calendar, as its provider reports it.

    ``uid`` is the iCalendar UID every copy of the event shares (the series UID
    for an occurrence), so the manager's and the report's copies correlate.
    Occurrences are identified by ``(uid, original_start)``: providers' own
    instance ids are opaque and are kept only in ``remote_id`` for writes.
    """

    uid: str
    start: datetime
    end: datetime
    title: str = ""
    status: EventStatus = EventStatus.CONFIRMED
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = ()
    original_start: datetime | None = None
    recurrence: tuple[str, ...] = ()
    all_day: bool = False
    timezone: str | None = None
    description: str = ""
    transparent: bool = False
    remote_id: str | None = None
    etag: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        for name in ("start", "end", "original_start"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value, name))
        if self.end < self.start:
            raise ValueError(f"event {self.uid}: end {self.end} is before start {self.start}")
        if self.organizer is not None:
            object.__setattr__(self, "organizer", normalize_email(self.organizer))
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    @property
    def key(self) -> str:
        """Identity of this event inside one calendar."""
        return occurrence_key(self.uid, self.original_start)

    @property
    def is_series(self) -> bool:
        return bool(self.recurrence)

    @property
    def is_occurrence(self) -> bool:
        return self.original_start is not None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def away(self) -> str | None:
        """Why this event marks its owner away (out of office, leave), if it does.

        Providers set ``tags["away"]`` when they read an out-of-office event.
        """
        return self.tags.get("away")

    @property
    def emails(self) -> frozenset[str]:
        """Everyone on the event: attendees and organizer."""
        people = {a.email for a in self.attendees}
        if self.organizer:
            people.add(self.organizer)
        return frozenset(people)

    def response_of(self, email: str) -> Response | None:
        email = normalize_email(email)
        for attendee in self.attendees:
            if attendee.email == email:
                return attendee.response
        if email == self.organizer:
            return Response.ACCEPTED
        return None


# C0 controls but tab, newline and carriage return; DEL; C1 controls. A feed is
# written by anyone: ESC[2J or an OSC title must not reach a terminal or a log.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters replaced by U+FFFD (line breaks and tabs kept)."""
    return _CONTROL.sub("\ufffd", text)


def occurrence_key(uid: str, original_start: datetime | None) -> str:
    if original_start is None:
        return uid
    # Computed for every row a sync writes: formatted by hand (about half of what
    # strftime costs), the same text; strftime keeps years before 1000 as it wrote them.
    t = original_start if original_start.tzinfo is UTC else to_utc(original_start)
    if t.year < 1000:
        return f"{uid}#{t.strftime('%Y%m%dT%H%M%SZ')}"
    return f"{uid}#{t.year}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def occurrence_slot(original_start: datetime | None) -> datetime | None:
    """What ``occurrence_key`` keeps of an original start: the instant, to the second.

    Within one uid, two events have the same key exactly when their slots are
    equal, so a mapping can match occurrences without formatting keys.
    """
    if original_start is None or not original_start.microsecond:
        return original_start
    return original_start.replace(microsecond=0)


# Fields a copy may change without Event's checks: none of them is normalized.
_UNCHECKED = frozenset({"remote_id", "etag", "status"})


def with_fields(event: Event, **changes: object) -> Event:
    """A copy of ``event`` with its ids, etag or status changed (not re-validated).

    ``dataclasses.replace`` runs ``__init__`` and every check again; providers
    set ids on every occurrence of a full sync, whose other fields were checked
    when the event was built.
    """
    for name in changes:
        if name not in _UNCHECKED:
            raise TypeError(f"with_fields changes only {sorted(_UNCHECKED)}, not {name}")
    copy = object.__new__(Event)
    setter = object.__setattr__
    for name, value in zip(_EVENT_FIELDS, _event_values(event), strict=True):
        setter(copy, name, value)
    for name, value in changes.items():
        setter(copy, name, value)
    return copy


_EVENT_FIELDS: tuple[str, ...] = Event.__slots__  # type: ignore[attr-defined]
_event_values = operator.attrgetter(*_EVENT_FIELDS)


def normalize_email(email: str) -> str:
    email = email.strip()
    if email.lower().startswith("mailto:"):
        email = email[len("mailto:") :]
    return email.strip().lower()


def to_utc(value: datetime, what: str = "time") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open interval of instants [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start, "window start"))
        object.__setattr__(self, "end", to_utc(self.end, "window end"))
        if self.end < self.start:
            raise ValueError("window ends before it starts")

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.end and self.start < end


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What one fetch of one calendar produced.

    A ``full`` change set is a snapshot of everything the provider has inside
    ``window``: the store upserts it and removes upcoming events it did not
    contain. An incremental one carries upserts and tombstones: ``deleted``
    keys, or ``deleted_remote_ids`` when the provider reports a deletion by its
    own id only (Google's and Graph's tombstones). ``series_scope`` lists series
    uids whose whole state inside ``window`` this change set carries: their
    upcoming rows that it does not contain are gone. ``cursor`` is committed in
    the same transaction as the changes.
    ``unchanged`` means the provider saw nothing new and nothing is written but
    the cursor. ``unread_uids`` are series or events that were there but could
    not be read (a broken component): their stored rows are never swept, so a
    partial read cannot delete.
    ``pattern_keys`` are occurrences this change set states only from their
    series' current rule and master, with no data of their own (Graph's plain
    ``occurrence`` instances). Such a statement never rewrites a stored row
    whose effective start is past: Exchange restates every occurrence, past
    ones included, when a series is edited (its exceptions dropped, its
    responses cleared, or all of it moved to a new time), and those past rows
    are history. Nor does it add a past occurrence inside the span the store
    already holds for that series (the old history at a new time). An
    occurrence with data of its own (an exception, a deletion) still lands,
    past or not.
    """

    events: tuple[Event, ...] = ()
    deleted: tuple[str, ...] = ()
    deleted_remote_ids: tuple[str, ...] = ()
    series_scope: tuple[str, ...] = ()
    full: bool = False
    window: Window | None = None
    cursor: str | None = None
    unchanged: bool = False
    warnings: tuple[str, ...] = ()
    unread_uids: tuple[str, ...] = ()
    pattern_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgendaBlock:
    """calsync's block at the end of a 1:1's description: the one part of it calsync writes.

    The block sits between two marker lines; everything outside them is kept
    exactly as people wrote it, applying it twice changes nothing, and a block
    with a new link replaces the old one instead of adding a second. A writer
    is handed this value and nothing else, so no provider needs to know how
    the block is chosen.
    """

    url: str
    #: Take calsync's block out instead (undo): people's text is left byte for byte.
    remove: bool = False

    BEGIN: ClassVar[str] = "--- calsync: shared 1:1 agenda ---"
    END: ClassVar[str] = "--- end of calsync agenda ---"
    # The block and exactly the separator calsync put before it (or that
    # separator as a calendar UI may rewrite it: \r\n or <br>); anything looser
    # would eat characters people wrote.
    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        r"(?:\n\n|\r\n\r\n|<br\s*/?>\s*<br\s*/?>)?"
        + re.escape(BEGIN)
        + r".*?"
        + re.escape(END),
        re.DOTALL,
    )

    @property
    def text(self) -> str:
        return (
            f"{self.BEGIN}\nShared agenda for this 1:1 (add your topics before we meet):\n"
            f"{self.url}\n{self.END}"
        )

    @property
    def digest(self) -> str:
        """Short hash of the text: part of the outbox key, so a new link is a new write."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @classmethod
    def strip(cls, description: str) -> str:
        """The description without calsync's block: exactly what people wrote."""
        return cls._PATTERN.sub("", description)

    def applied_to(self, description: str) -> str | None:
        """The description carrying this block once, or None when it already does.

        With ``remove``: the description without calsync's block, or None when it
        has none.
        """
        people = self.strip(description)
        if self.remove:
            return None if people == description else people
        wanted = f"{people}\n\n{self.text}" if people else self.text
        return None if wanted == description else wanted

    def is_in(self, description: str) -> bool:
        return self.applied_to(description) is None

    @classmethod
    def from_text(cls, text: str) -> AgendaBlock:
        """The block a rendered ``text`` holds (outbox rows written before the typed codec)."""
        lines = text.strip().splitlines()
        if len(lines) < 4 or lines[0] != cls.BEGIN or lines[-1] != cls.END:
            raise ValueError("not a calsync agenda block")
        return cls(lines[-2].strip())
