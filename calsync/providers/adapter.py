"""The part every HTTP provider's adapter shares: the ports, delegated to its parts.

A provider subpackage builds a client (HTTP, retries, errors), a reader and
a writer on it; its adapter class (``GoogleCalendar``, ``OutlookCalendar``)
derives from :class:`ComposedProvider` and adds what only its service has
(push channels or subscriptions). The engine only ever sees the ports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from calsync.model import AgendaBlock, ChangeSet, Window
from calsync.providers.base import NewEvent, ProviderError


class _Client(Protocol):
    def close(self) -> None: ...


class _Reader(Protocol):
    def probe(self, calendar: str) -> str | None: ...

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet: ...

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]: ...


class _Writer(Protocol):
    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str: ...

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None: ...

    def delete_owned(self, calendar: str, remote_id: str, key: str) -> None: ...


class _BatchReader(_Reader, Protocol):
    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]: ...

    def fetch_stream(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet | ProviderError]]: ...


class ComposedProvider:
    """CalendarReader, FreeBusyReader, CalendarWriter and Closable, delegated.

    Subclasses set ``name``, ``client``, ``reader`` and ``writer`` in their
    constructor.
    """

    name: str
    client: _Client
    reader: _Reader
    writer: _Writer

    def close(self) -> None:
        """Closable: persist refreshed tokens and drop connections."""
        self.client.close()

    def probe(self, calendar: str) -> str | None:
        return self.reader.probe(calendar)

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        return self.reader.fetch_changes(calendar, cursor, now)

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        return self.reader.free_busy(calendars, window)

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        return self.writer.create_owned(calendar, event, key)

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        self.writer.update_description(calendar, remote_id, block)

    def delete_owned(self, calendar: str, remote_id: str, key: str) -> None:
        self.writer.delete_owned(calendar, remote_id, key)


class ComposedBatchProvider(ComposedProvider):
    """A :class:`ComposedProvider` whose service reads many calendars per request."""

    reader: _BatchReader

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        return self.reader.fetch_many(requests, now)

    def fetch_stream(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet | ProviderError]]:
        return self.reader.fetch_stream(requests, now)
