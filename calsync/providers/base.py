"""The ports every provider implements, and the errors they raise.

The engine checks capabilities explicitly (``isinstance(p, CalendarWriter)``);
nothing wraps methods behind its back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from calsync.model import ChangeSet


class ProviderError(Exception):
    """A calendar could not be read or written; the message names the calendar."""

    def __init__(self, calendar: str, message: str) -> None:
        super().__init__(f"{calendar}: {message}")
        self.calendar = calendar
        self.message = message


class CursorExpired(ProviderError):
    """The stored sync cursor is no longer valid: the engine must resync in full."""


class ReauthorizationNeeded(ProviderError):
    """The grant was revoked or expired: a person must run ``calsync auth NAME`` again."""


@runtime_checkable
class CalendarReader(Protocol):
    """Reads one provider's calendars into neutral change sets."""

    name: str

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        """Everything that changed on ``calendar`` since ``cursor`` (None: a full fetch).

        Raises CursorExpired when the cursor is no longer accepted, and
        ProviderError for anything else that stops this calendar.
        """
        ...

    def probe(self, calendar: str) -> str | None:
        """A cheap reachability check for ``doctor``: None when fine, else the problem."""
        ...


@runtime_checkable
class BatchReader(Protocol):
    """A reader that fetches many calendars at once (Google batch, Graph $batch)."""

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Mapping[str, ChangeSet | ProviderError]:
        """``(calendar, cursor)`` pairs -> each calendar's change set or its error.

        An expired cursor is handled inside (the calendar is fetched in full).
        """
        ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event calsync creates (a make-up), in neutral terms."""

    title: str
    start: datetime
    end: datetime
    organizer: str
    attendees: tuple[str, ...]
    description: str = ""
    timezone: str = "UTC"
    tags: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class CalendarWriter(Protocol):
    """Writes to a calendar; only events calsync owns, or its agenda block in a 1:1."""

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """Create ``event`` tagged with ``key`` exactly once; return its remote id.

        Looks for the key first, so a retry, a restart or a second worker finds
        the event instead of creating another.
        """
        ...

    def update_description(
        self, calendar: str, remote_id: str, change: Callable[[str], str | None]
    ) -> None:
        """Rewrite a description with ``change`` (None: leave it), conditionally on the etag."""
        ...
