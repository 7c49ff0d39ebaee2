"""Microsoft 365 / Outlook through Graph v1.0: the adapter that implements the ports.

One ``OutlookCalendar`` per configured provider. It holds one
``client.GraphClient`` (httpx, tokens, retries, ``$batch``, errors) and hands
it to the parts that do the work:

- ``reader``: ``calendarView/delta`` rounds with the delta link as cursor,
  idle mailboxes in ``$batch`` requests of 20, series read whole, free/busy
  with ``getSchedule``, and the probe;
- ``writer``: events calsync owns, marked by ``transactionId`` and a
  single-value extended property holding the calsync key, and agenda blocks;
- ``push``: ``/subscriptions``.

``mapping`` turns resources into neutral events and ``auth`` provides the
tokens. Everything Graph-specific stays in this package: nothing outside knows
what a ``seriesMasterId`` or a ``$deltatoken`` is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from calsync.config import OutlookProvider
from calsync.providers.adapter import ComposedBatchProvider
from calsync.providers.base import ApiCallCounter, uncounted
from calsync.providers.outlook.auth import TokenSource
from calsync.providers.outlook.client import BATCH_SIZE, GraphClient
from calsync.providers.outlook.mapping import Json
from calsync.providers.outlook.push import GraphSubscriptions
from calsync.providers.outlook.reader import OutlookReader
from calsync.providers.outlook.writer import OutlookWriter, transaction_id_for

__all__ = ["BATCH_SIZE", "OutlookCalendar", "transaction_id_for"]


class OutlookCalendar(ComposedBatchProvider):
    """Reader, batch reader, free/busy, owned writes and subscriptions for one M365 provider.

    Implements CalendarReader, BatchReader, CalendarWriter, Subscriber and
    Closable.
    """

    def __init__(
        self,
        name: str,
        settings: OutlookProvider,
        tokens: TokenSource,
        zone_of: Callable[[str], ZoneInfo],
        *,
        owners: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = GraphClient(
            name, settings, tokens, sleep=sleep, rand=rand, transport=transport,
            count_api_call=count_api_call,
        )
        self.reader = OutlookReader(self.client, zone_of, dict(owners or {}))
        self.writer = OutlookWriter(self.client)
        self.subscriptions = GraphSubscriptions(self.client)

    def subscribe(
        self, calendar: str, notification_url: str, client_state: str, expires: datetime
    ) -> Json:
        return self.subscriptions.subscribe(calendar, notification_url, client_state, expires)

    def delete_subscription(self, calendar: str, subscription_id: str) -> None:
        self.subscriptions.delete_subscription(calendar, subscription_id)
