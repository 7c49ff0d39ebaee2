"""Google Calendar API v3: the adapter that implements the ports of ``providers.base``.

One ``GoogleCalendar`` per configured provider. It holds one
``client.GoogleClient`` (credentials, retries, batches, errors) and hands it
to the parts that do the work:

- ``reader``: full and incremental sync (``syncToken``), batches of at most
  50 calendars per HTTP request when one credential reads them all,
  free/busy and the probe;
- ``writer``: events calsync owns, tagged with
  ``extendedProperties.private.calsyncKey``, and agenda blocks;
- ``push``: ``events.watch`` channels.

``mapping`` turns resources into neutral events and ``auth`` provides the
credentials. Everything Google-specific stays in this package: nothing outside
knows what a ``recurringEventId`` or a ``syncToken`` is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.config import GoogleProvider
from calsync.model import AgendaBlock, ChangeSet, Window
from calsync.providers.base import ApiCallCounter, NewEvent, ProviderError, uncounted
from calsync.providers.google.auth import CredentialSource
from calsync.providers.google.client import GoogleClient, Resources
from calsync.providers.google.mapping import Json
from calsync.providers.google.push import GoogleChannels
from calsync.providers.google.reader import BATCH_SIZE, PAGE_SIZE, GoogleReader
from calsync.providers.google.writer import GoogleWriter, event_id_for

__all__ = ["BATCH_SIZE", "PAGE_SIZE", "GoogleCalendar", "event_id_for"]


class GoogleCalendar:
    """Reader, batch reader, free/busy, owned writes and push channels for one Google provider.

    Implements CalendarReader, BatchReader, CalendarWriter, ChannelWatcher
    and Closable.
    """

    def __init__(
        self,
        name: str,
        settings: GoogleProvider,
        credentials: CredentialSource,
        zone_of: Callable[[str], ZoneInfo],
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = GoogleClient(
            name, settings, credentials, sleep=sleep, rand=rand, count_api_call=count_api_call
        )
        self.reader = GoogleReader(self.client, zone_of)
        self.writer = GoogleWriter(self.client)
        self.channels = GoogleChannels(self.client)

    @property
    def _services(self) -> dict[str | None, Resources]:
        """The client's API resources per credential subject (tests close their sockets)."""
        return self.client.services

    def close(self) -> None:
        """Closable: persist refreshed OAuth tokens and close connections."""
        self.client.close()

    # -- CalendarReader, BatchReader, free/busy ----------------------------------------

    def probe(self, calendar: str) -> str | None:
        return self.reader.probe(calendar)

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        return self.reader.fetch_changes(calendar, cursor, now)

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        return self.reader.fetch_many(requests, now)

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        return self.reader.free_busy(calendars, window)

    # -- CalendarWriter, and the owned writes beneath it --------------------------------

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        return self.writer.create_owned(calendar, event, key)

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        self.writer.update_description(calendar, remote_id, block)

    def find_owned(self, calendar: str, key: str) -> Json | None:
        return self.writer.find_owned(calendar, key)

    def create_event(self, calendar: str, body: Json, key: str) -> Json:
        return self.writer.create_event(calendar, body, key)

    def patch_event(
        self,
        calendar: str,
        event_id: str,
        change: Callable[[Json], Json | None],
        *,
        owned_key: str | None = None,
        attempts: int = 3,
    ) -> Json:
        return self.writer.patch_event(
            calendar, event_id, change, owned_key=owned_key, attempts=attempts
        )

    def watch(self, calendar: str, address: str, token: str, ttl: timedelta) -> Json:
        return self.channels.watch(calendar, address, token, ttl)

    def stop_channel(self, calendar: str, channel_id: str, resource_id: str) -> None:
        self.channels.stop_channel(calendar, channel_id, resource_id)
