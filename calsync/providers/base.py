"""The ports every provider implements, and the errors they raise.

A provider object implements :class:`CalendarReader` and whichever of the
other ports its service supports: :class:`BatchReader` (many calendars per
HTTP request), :class:`FreeBusyReader` (busy times of calendars calsync does
not sync), :class:`CalendarWriter` (owned writes), :class:`ChannelWatcher`
(Google-style push channels), :class:`Subscriber` (Graph-style subscriptions)
and :class:`Closable` (tokens to persist, connections to drop). Callers check
a capability explicitly (``isinstance(p, CalendarWriter)``); nothing wraps
methods behind their back and nothing asks for a concrete class.

Providers count their HTTP requests through an :data:`ApiCallCounter` given
to them when built, so the service can export the counts without providers
importing it. May import only the ground (``calsync.model``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from calsync.model import AgendaBlock, ChangeSet, Window, printable


class ProviderError(Exception):
    """A calendar could not be read or written; the message names the calendar."""

    def __init__(self, calendar: str, message: str) -> None:
        # Both can carry text from a feed or a server: never a terminal escape.
        calendar, message = printable(calendar), printable(message)
        super().__init__(f"{calendar}: {message}")
        self.calendar = calendar
        self.message = message


class CursorExpired(ProviderError):
    """The stored sync cursor is no longer valid: the engine must resync in full."""


class ReauthorizationNeeded(ProviderError):
    """The grant was revoked or expired: a person must run ``calsync auth NAME`` again."""


#: ``(provider name, outcome)`` for each HTTP request a provider makes; outcome is
#: ``ok``, ``retry`` (it will be retried) or ``error`` (given up).
ApiCallCounter = Callable[[str, str], None]


def uncounted(provider: str, outcome: str) -> None:
    """The default :data:`ApiCallCounter`: counts nothing (commands without /metrics)."""


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

    def fetch_stream(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet | ProviderError]]:
        """What :meth:`fetch_many` returns, one calendar at a time as each is read.

        The provider reads concurrently within its limits; the caller stores
        each result as it comes, on its own thread, so only a few change sets
        are in memory at once.
        """
        ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event calsync creates (a make-up, or a pair's new 1:1 series), in neutral terms.

    ``recurrence`` holds iCalendar ``RRULE:`` lines; with them ``start``/``end``
    are the first occurrence and the series repeats at that wall time in
    ``timezone``.
    """

    title: str
    start: datetime
    end: datetime
    organizer: str
    attendees: tuple[str, ...]
    description: str = ""
    timezone: str = "UTC"
    tags: Mapping[str, str] = field(default_factory=dict)
    recurrence: tuple[str, ...] = ()


@runtime_checkable
class CalendarWriter(Protocol):
    """Writes to a calendar; only events calsync owns, or its agenda block in a 1:1."""

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """Create ``event`` tagged with ``key`` exactly once; return its remote id.

        Looks for the key first, so a retry, a restart or a second worker finds
        the event instead of creating another.
        """
        ...

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        """Put ``block`` into a 1:1's description (nothing else), conditionally on the etag.

        Leaves the event alone when the block is already there; a ``block`` with
        ``remove`` takes calsync's block out, leaving people's text as it was.
        """
        ...

    def delete_owned(self, calendar: str, remote_id: str, key: str) -> None:
        """Delete an event calsync created under ``key`` (undo); already gone is fine.

        Refuses an event that does not carry ``key``: calsync deletes only its own.
        """
        ...


@runtime_checkable
class FreeBusyReader(Protocol):
    """Busy times without reading events (Google freeBusy, Graph getSchedule)."""

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Busy intervals per calendar inside ``window``: times only, no titles."""
        ...


@runtime_checkable
class DoctorNotes(Protocol):
    """A provider with more to say in ``doctor`` than "readable" (how it invites, say)."""

    def doctor_notes(self, calendar: str) -> list[str]: ...


@runtime_checkable
class Closable(Protocol):
    """A provider that holds connections or refreshed tokens to save when done."""

    def close(self) -> None: ...


@runtime_checkable
class ChannelWatcher(Protocol):
    """Push by channels (Google ``events.watch``): opened, never renewed, stopped."""

    def watch(self, calendar: str, address: str, token: str, ttl: timedelta) -> dict[str, Any]:
        """Open a channel that POSTs to ``address`` with ``token``; the channel resource."""
        ...

    def stop_channel(self, calendar: str, channel_id: str, resource_id: str) -> None: ...


@runtime_checkable
class Subscriber(Protocol):
    """Push by subscriptions (Graph ``/subscriptions``): created, renewed, deleted."""

    def subscribe(
        self, calendar: str, notification_url: str, client_state: str, expires: datetime
    ) -> dict[str, Any]: ...

    def delete_subscription(self, calendar: str, subscription_id: str) -> None: ...
