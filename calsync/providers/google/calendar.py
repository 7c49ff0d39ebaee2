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
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from calsync.config import GoogleProvider
from calsync.providers.adapter import ComposedBatchProvider
from calsync.providers.base import ApiCallCounter, uncounted
from calsync.providers.google.auth import CredentialSource
from calsync.providers.google.client import GoogleClient
from calsync.providers.google.mapping import Json
from calsync.providers.google.push import GoogleChannels
from calsync.providers.google.reader import BATCH_SIZE, PAGE_SIZE, GoogleReader
from calsync.providers.google.writer import GoogleWriter, event_id_for

__all__ = ["BATCH_SIZE", "PAGE_SIZE", "GoogleCalendar", "event_id_for"]


class GoogleCalendar(ComposedBatchProvider):
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

    def watch(self, calendar: str, address: str, token: str, ttl: timedelta) -> Json:
        return self.channels.watch(calendar, address, token, ttl)

    def stop_channel(self, calendar: str, channel_id: str, resource_id: str) -> None:
        self.channels.stop_channel(calendar, channel_id, resource_id)
