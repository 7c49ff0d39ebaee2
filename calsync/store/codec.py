"""Neutral values <-> column values, and the content hash of an event.

Kept apart from the queries so the round trip (``Event`` -> row -> ``Event``)
is one pair of functions that a test can pin down field by field.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, String, Text, cast, type_coerce

from calsync.model import Attendee, Event, EventStatus, Response, printable

# Bump when the hashed fields change: every stored event is then rewritten once.
_HASH_VERSION = "v1"

def clean(text: str) -> str:
    """Text as stored: control characters replaced (model.printable).

    PostgreSQL text cannot hold NUL, and a terminal escape from a feed must not
    come back out of the database into someone's terminal; replacing them on
    both backends keeps them alike.
    """
    return printable(text)


def clean_opt(text: str | None) -> str | None:
    return None if text is None else clean(text)


def event_values(event: Event) -> dict[str, Any]:
    """The event's column values (without calendar, content_hash, updated_at)."""
    return {
        "key": clean(event.key),
        "uid": clean(event.uid),
        "original_start": event.original_start,
        "start": event.start,
        "end": event.end,
        "title": clean(event.title),
        "status": event.status.value,
        "organizer": clean_opt(event.organizer),
        "attendees": [
            {"email": clean(a.email), "response": a.response.value} for a in event.attendees
        ],
        "recurrence": [clean(line) for line in event.recurrence],
        "all_day": event.all_day,
        "timezone": clean_opt(event.timezone),
        "description": clean(event.description),
        "transparent": event.transparent,
        "remote_id": clean_opt(event.remote_id),
        "etag": clean_opt(event.etag),
        "tags": {clean(k): clean(v) for k, v in event.tags.items()},
    }


def content_hash(values: Mapping[str, Any]) -> str:
    """A digest of everything an event says, except its etag.

    Etags churn on some servers without any change (vdirsyncer's lesson), so
    an event counts as changed only when this hash differs; a new etag alone
    is stored without counting as an update.
    """
    content = {name: value for name, value in values.items() if name != "etag"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_iso)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{_HASH_VERSION}:{digest}"


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def event_from_row(row: Any) -> Event:
    """Rebuild the neutral event from an ``EventRow`` (or any object with its columns)."""
    return Event(
        uid=row.uid,
        start=row.start,
        end=row.end,
        title=row.title,
        status=EventStatus(row.status),
        organizer=row.organizer,
        attendees=tuple(
            Attendee(email=a["email"], response=Response(a["response"])) for a in row.attendees
        ),
        original_start=row.original_start,
        recurrence=tuple(row.recurrence),
        all_day=row.all_day,
        timezone=row.timezone,
        description=row.description,
        transparent=row.transparent,
        remote_id=row.remote_id,
        etag=row.etag,
        tags=dict(row.tags),
    )


_STATUSES = {status.value: status for status in EventStatus}
_RESPONSES = {response.value: response for response in Response}
_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})
# The columns an Event is rebuilt from, in RowDecoder.event's order.
_COLUMNS = (
    "uid", "original_start", "start", "end", "title", "status", "organizer", "attendees",
    "recurrence", "all_day", "timezone", "description", "transparent", "remote_id", "etag",
    "tags",
)
_INSTANTS = frozenset({"original_start", "start", "end"})
_JSON = frozenset({"attendees", "recurrence", "tags"})


class RowDecoder:
    """Rows of the events table -> ``Event`` values, at close to what reading them costs.

    What the store wrote is already valid (aware UTC times, normalized emails,
    cleaned text), so an event is rebuilt without re-validating it. JSON columns
    are read as text and each distinct text is decoded once per read: every copy
    and occurrence of a series shares one attendee tuple, one recurrence tuple
    and one tags mapping (all immutable). Emails, uids and owners are interned,
    so a calendar of thousands of events holds each address once. On SQLite the
    instants are read as their stored text and parsed by ``fromisoformat``.

    One decoder per read: its caches live as long as that read's events.
    """

    __slots__ = ("_attendees", "_instants", "_raw_times", "_recurrences", "_tags")

    def __init__(self, dialect: str) -> None:
        self._raw_times = dialect == "sqlite"
        self._attendees: dict[str, tuple[Attendee, ...]] = {"[]": ()}
        self._recurrences: dict[str, tuple[str, ...]] = {"[]": ()}
        self._tags: dict[str, Mapping[str, str]] = {"{}": _EMPTY_TAGS}
        # Both copies of an occurrence, and many events, share their instants.
        self._instants: dict[str, datetime] = {}

    def columns(self, table_columns: Any) -> list[ColumnElement[Any]]:
        """The selected columns, in the order ``event`` reads them (after the owner)."""
        out: list[ColumnElement[Any]] = []
        for name in _COLUMNS:
            column = table_columns[name]
            if name in _JSON:
                column = cast(column, Text).label(name)
            elif name in _INSTANTS and self._raw_times:
                column = type_coerce(column, String).label(name)
            out.append(column)
        return out

    @staticmethod
    def intern(text: str) -> str:
        return sys.intern(text)

    def event(self, row: Any) -> Event:
        """The ``Event`` of one row of ``select(owner, *columns(...))``."""
        (_owner, uid, original, start, end, title, status, organizer, attendees, recurrence,
         all_day, timezone, description, transparent, remote_id, etag, tags) = row
        if self._raw_times:
            instants = self._instants
            parsed = instants.get(start)
            start = parsed if parsed is not None else instants.setdefault(start, _parse(start))
            parsed = instants.get(end)
            end = parsed if parsed is not None else instants.setdefault(end, _parse(end))
            if original is not None:
                parsed = instants.get(original)
                original = (parsed if parsed is not None
                            else instants.setdefault(original, _parse(original)))
        else:
            start = start.astimezone(UTC)
            end = end.astimezone(UTC)
            original = original.astimezone(UTC) if original is not None else None
        people = self._attendees.get(attendees)
        if people is None:
            people = self._attendees[attendees] = tuple(
                _attendee(a["email"], a["response"]) for a in json.loads(attendees)
            )
        rules = self._recurrences.get(recurrence)
        if rules is None:
            rules = self._recurrences[recurrence] = tuple(json.loads(recurrence))
        labels = self._tags.get(tags)
        if labels is None:
            labels = self._tags[tags] = MappingProxyType(json.loads(tags))
        event = object.__new__(Event)
        # Event is a frozen dataclass: its own __init__ sets fields this way too.
        setter = object.__setattr__
        setter(event, "uid", sys.intern(uid))
        setter(event, "start", start)
        setter(event, "end", end)
        setter(event, "title", title)
        setter(event, "status", _STATUSES[status])
        setter(event, "organizer", sys.intern(organizer) if organizer is not None else None)
        setter(event, "attendees", people)
        setter(event, "original_start", original)
        setter(event, "recurrence", rules)
        setter(event, "all_day", all_day)
        setter(event, "timezone", timezone)
        setter(event, "description", description)
        setter(event, "transparent", transparent)
        setter(event, "remote_id", remote_id)
        setter(event, "etag", etag)
        setter(event, "tags", labels)
        return event


def _parse(text: str) -> datetime:
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (models.UTCDateTime).
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _attendee(email: str, response: str) -> Attendee:
    attendee = object.__new__(Attendee)
    object.__setattr__(attendee, "email", sys.intern(email))
    object.__setattr__(attendee, "response", _RESPONSES[response])
    return attendee


def instants_to_json(instants: tuple[datetime, ...]) -> list[str]:
    return [instant.astimezone(UTC).isoformat() for instant in instants]


def instants_from_json(values: list[Any]) -> tuple[datetime, ...]:
    return tuple(datetime.fromisoformat(value).astimezone(UTC) for value in values)
