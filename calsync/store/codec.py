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

from sqlalchemy import JSON, ColumnElement, DateTime, String, Text, bindparam, cast, type_coerce

from calsync.model import Attendee, Event, EventStatus, Response, occurrence_key, printable

# Bump when the hashed fields or their canonical form change: every stored event
# is then rewritten once, on the first sync of its calendar after the upgrade
# (its hash differs, so it counts as updated once). v2: the canonical form is
# the pre-encoded column values joined by a separator (RowEncoder), no longer a
# sorted-keys JSON dump of them.
_HASH_VERSION = "v2"
# Between the hashed fields, and standing for None. Both are control
# characters, which ``clean`` replaces in every text: they never occur in one.
_SEP = "\x1f"
_NONE = "\x1e"


def clean(text: str) -> str:
    """Text as stored: control characters replaced (model.printable).

    PostgreSQL text cannot hold NUL, and a terminal escape from a feed must not
    come back out of the database into someone's terminal; replacing them on
    both backends keeps them alike.
    """
    # Printable text has no control character: most text skips the regex.
    return text if text.isprintable() else printable(text)


def clean_opt(text: str | None) -> str | None:
    return None if text is None else clean(text)


def instant_text(value: datetime) -> str:
    """An aware instant as stored on SQLite, ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC.

    Exactly what SQLAlchemy's SQLite ``DATETIME`` writes for ``models.UTCDateTime``
    (and what ``RowDecoder`` parses back): string order is time order.
    """
    if value.tzinfo is UTC:  # every Event time: "...ffffff+00:00" without its offset
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store naive datetime {value.isoformat()}")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class RowEncoder:
    """``Event`` values -> parameters of the events table's write statements.

    The mirror of :class:`RowDecoder`, for ``calendars.apply_changes``. The
    occurrences of a series share their attendees, recurrence lines, texts and
    often their instants, so each distinct value is cleaned and encoded once
    per apply instead of once per row:

    - the JSON columns are bound as the JSON text (``json.dumps`` as SQLAlchemy
      would write it, so the stored text is the same), under ``<column>_json``;
    - instants are bound under ``<column>_utc``: the text SQLite stores, or the
      aware UTC instant for PostgreSQL;
    - the content hash is built from those encoded pieces (see ``_HASH_VERSION``).

    ``calendars`` builds the statements that read these names
    (:func:`write_binds`). One encoder per apply: its caches live as long as
    that apply's events.
    """

    __slots__ = (
        "_attendees", "_instants", "_key_suffixes", "_raw_times", "_recurrences", "_tags",
        "_texts",
    )

    def __init__(self, dialect: str) -> None:
        self._raw_times = dialect == "sqlite"
        # Keyed by identity: every occurrence of a component shares one tuple. The
        # tuple is kept in the value, so its id cannot be reused meanwhile.
        self._attendees: dict[int, tuple[tuple[Attendee, ...], str]] = {}
        self._recurrences: dict[tuple[str, ...], str] = {(): "[]"}
        self._tags: dict[tuple[tuple[str, str], ...], str] = {(): "{}"}
        self._instants: dict[datetime, str] = {}
        # What Event.key adds to the uid for an original start ("#YYYYMMDDTHHMMSSZ").
        self._key_suffixes: dict[datetime, str] = {}
        self._texts: dict[str, str] = {}

    def instant(self, value: datetime) -> str:
        text = self._instants.get(value)
        if text is None:
            text = self._instants[value] = instant_text(value)
        return text

    def bound_instant(self, value: datetime) -> str | datetime:
        """An instant as bound (``<column>_utc``): text on SQLite, aware UTC otherwise."""
        return self.instant(value) if self._raw_times else value.astimezone(UTC)

    def _text(self, text: str) -> str:
        if text.isprintable():
            return text
        found = self._texts.get(text)
        if found is None:
            found = self._texts[text] = printable(text)
        return found

    def _opt(self, text: str | None) -> str | None:
        return None if text is None else self._text(text)

    def _attendees_json(self, people: tuple[Attendee, ...]) -> str:
        if not people:
            return "[]"
        found = self._attendees.get(id(people))
        if found is None:
            text = json.dumps(
                [{"email": self._text(a.email), "response": a.response.value} for a in people]
            )
            found = self._attendees[id(people)] = (people, text)
        return found[1]

    def _recurrence_json(self, lines: tuple[str, ...]) -> str:
        text = self._recurrences.get(lines)
        if text is None:
            text = self._recurrences[lines] = json.dumps([self._text(line) for line in lines])
        return text

    def _tags_json(self, tags: Mapping[str, str]) -> str:
        items = tuple(tags.items())
        text = self._tags.get(items)
        if text is None:
            text = self._tags[items] = json.dumps(
                {self._text(k): self._text(v) for k, v in items}
            )
        return text

    def values(self, event: Event) -> dict[str, Any]:
        """The event's parameters (without calendar_id and updated_at), its hash included."""
        # Called for every row of a sync: the caches are read inline.
        text = self._text
        instants = self._instants
        uid = text(event.uid)
        original = event.original_start
        if original is None:
            key = uid
            original_text = None
        else:
            suffix = self._key_suffixes.get(original)
            if suffix is None:
                # occurrence_key's own text; clean() leaves it as it is.
                suffix = self._key_suffixes[original] = occurrence_key("", original)
            key = uid + suffix  # == clean(event.key): the suffix has no control character
            original_text = instants.get(original) or self.instant(original)
        start, end = event.start, event.end
        start_text = instants.get(start) or self.instant(start)
        end_text = instants.get(end) or self.instant(end)
        title = text(event.title)
        status = _STATUS_TEXT[event.status]
        organizer = None if event.organizer is None else text(event.organizer)
        people = event.attendees
        attendees = self._attendees_json(people) if people else "[]"
        lines = event.recurrence
        recurrence = self._recurrence_json(lines) if lines else "[]"
        timezone = None if event.timezone is None else text(event.timezone)
        description = text(event.description)
        remote_id = None if event.remote_id is None else text(event.remote_id)
        labels = event.tags
        tags = self._tags_json(labels) if labels else "{}"
        # Everything the event says but its etag: etags churn on some servers
        # without any change (vdirsyncer's lesson), so an event counts as changed
        # only when this differs; a new etag alone is stored without an update.
        canonical = _SEP.join((
            key, uid, original_text or _NONE, start_text, end_text, title, status,
            organizer if organizer is not None else _NONE, attendees, recurrence,
            "1" if event.all_day else "0", timezone if timezone is not None else _NONE,
            description, "1" if event.transparent else "0",
            remote_id if remote_id is not None else _NONE, tags,
        ))
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        raw = self._raw_times
        return {
            "key": key,
            "uid": uid,
            "original_start_utc": (
                None if original is None else original_text if raw else original.astimezone(UTC)
            ),
            "start_utc": start_text if raw else start.astimezone(UTC),
            "end_utc": end_text if raw else end.astimezone(UTC),
            "title": title,
            "status": status,
            "organizer": organizer,
            "attendees_json": attendees,
            "recurrence_json": recurrence,
            "all_day": event.all_day,
            "timezone": timezone,
            "description": description,
            "transparent": event.transparent,
            "remote_id": remote_id,
            "etag": self._opt(event.etag),
            "tags_json": tags,
            "content_hash": f"{_HASH_VERSION}:{digest}",
        }


_STATUS_TEXT = {status: status.value for status in EventStatus}
# The columns RowEncoder binds under another name, and how.
_JSON_COLUMNS = ("attendees", "recurrence", "tags")
_INSTANT_COLUMNS = ("original_start", "start", "end", "updated_at")


def write_binds(dialect: str) -> dict[str, ColumnElement[Any]]:
    """Column -> bind expression for RowEncoder's pre-encoded values, for ``.values()``.

    JSON text goes in as text (SQLite stores it as given; PostgreSQL casts it to
    ``json``, which keeps the text as given too); instants as the text SQLite
    stores, or as aware instants for PostgreSQL. Neither is encoded again.
    """
    binds: dict[str, ColumnElement[Any]] = {}
    for name in _JSON_COLUMNS:
        value = bindparam(f"{name}_json", type_=Text)
        binds[name] = cast(value, JSON) if dialect == "postgresql" else value
    for name in _INSTANT_COLUMNS:
        binds[name] = bindparam(
            f"{name}_utc", type_=String if dialect == "sqlite" else DateTime(timezone=True)
        )
    return binds


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
