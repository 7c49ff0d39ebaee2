"""What the Google Calendar emulator keeps: calendars and stored events; request parameters.

- :class:`Calendar`: one calendar (owner, zone, its events by id, and which
  instance of which series each exception event overrides).
- :class:`StoredEvent`: a stored body (single event, series master, instance
  exception or tombstone) with its parsed times, series and change sequence.
- :class:`Params`: query parameters as Google reads them, with its 400s.

Also the small helpers every resource uses: base64 tokens, window overlap.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from calsync_emulators.google_errors import Json, bad_request, invalid
from calsync_emulators.google_recurrence import Series, When, parse_rfc3339
from calsync_emulators.zones import TimeFormatError, zone


class Params:
    """Query parameters as Google reads them: repeated names keep every value."""

    def __init__(self, raw: Mapping[str, Iterable[str] | str | int | bool] | None = None) -> None:
        self._raw: dict[str, list[str]] = {}
        for name, value in (raw or {}).items():
            if isinstance(value, bool):
                self._raw[name] = ["true" if value else "false"]
            elif isinstance(value, str | int):
                self._raw[name] = [str(value)]
            else:
                self._raw[name] = [str(v) for v in value]

    def has(self, name: str) -> bool:
        return name in self._raw

    def get(self, name: str) -> str | None:
        values = self._raw.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._raw.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise invalid(f"Invalid boolean value for {name}: '{value}'", name)

    def number(self, name: str, default: int | None, minimum: int = 1) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise invalid(f"Invalid value '{value}' for {name}.", name) from None
        if number < minimum:
            raise invalid(
                f"Invalid value '{value}'. Values must be greater than or equal to {minimum}.",
                name,
            )
        return number

    def instant(self, name: str) -> datetime | None:
        value = self.get(name)
        if value is None:
            return None
        parsed = parse_rfc3339(value)
        if parsed is None:
            raise bad_request()
        return parsed.astimezone(UTC)

    def zone(self, name: str = "timeZone") -> ZoneInfo | None:
        value = self.get(name)
        if not value:
            return None
        try:
            return zone(value)
        except TimeFormatError:
            raise invalid(f"Invalid time zone: {value}", name) from None


@dataclass(slots=True)
class StoredEvent:
    """One stored event: a single event, a series master, or an instance exception."""

    body: Json
    start: When
    end: When
    series: Series | None
    seq: int
    order: int

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def cancelled(self) -> bool:
        return self.body.get("status") == "cancelled"

    @property
    def master_id(self) -> str | None:
        return self.body.get("recurringEventId")


@dataclass(slots=True)
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    order: int
    seq: int
    updated: datetime
    events: dict[str, StoredEvent] = field(default_factory=dict)
    #: master id -> {instance suffix: exception event id}
    exceptions: dict[str, dict[str, str]] = field(default_factory=dict)
    epoch: int = 0

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

    def owned_by(self, email_address: str | None) -> bool:
        return bool(email_address) and str(email_address).lower() == self.owner.lower()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def overlaps(start: datetime, end: datetime, low: datetime | None, high: datetime | None) -> bool:
    if low is not None and not end > low:
        return False
    return high is None or start < high
