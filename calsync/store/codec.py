"""Neutral values <-> column values, and the content hash of an event.

Kept apart from the queries so the round trip (``Event`` -> row -> ``Event``)
is one pair of functions that a test can pin down field by field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


def instants_to_json(instants: tuple[datetime, ...]) -> list[str]:
    return [instant.astimezone(UTC).isoformat() for instant in instants]


def instants_from_json(values: list[Any]) -> tuple[datetime, ...]:
    return tuple(datetime.fromisoformat(value).astimezone(UTC) for value in values)
