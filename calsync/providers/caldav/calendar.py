"""CalDAV through the ``caldav`` library: the adapter that implements the ports.

One ``CaldavCalendar`` per configured provider. It holds one
``client.CaldavClient`` (the library's DAVClient, retries, counting, errors,
discovery) and hands it to the parts that do the work:

- ``reader``: ``sync-collection`` or getctag/getetag rounds, multigets,
  ``free-busy-query`` (or busy times from the events), and the probe;
- ``writer``: make-ups created once under their key, agenda blocks under
  ``If-Match``, attendee copies where the server does not schedule.

``mapping`` turns objects into neutral events through ``providers.expand``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from calsync.config import CaldavProvider
from calsync.providers.adapter import ComposedProvider
from calsync.providers.base import ApiCallCounter, ProviderError, uncounted
from calsync.providers.caldav.client import CaldavClient
from calsync.providers.caldav.reader import CaldavReader
from calsync.providers.caldav.writer import CaldavWriter


class CaldavCalendar(ComposedProvider):
    """Reader, free/busy and owned writes for one CalDAV account.

    Implements CalendarReader, FreeBusyReader, CalendarWriter, Closable and
    DoctorNotes.
    """

    def __init__(
        self,
        name: str,
        settings: CaldavProvider,
        zone_of: Callable[[str], ZoneInfo],
        *,
        owners: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.client = CaldavClient(name, settings, sleep=sleep, rand=rand,
                                   count_api_call=count_api_call)  # fmt: skip
        self.reader = CaldavReader(self.client, zone_of)
        self.writer = CaldavWriter(self.client, zone_of, dict(owners or {}))

    def doctor_notes(self, calendar: str) -> list[str]:
        """What ``doctor`` says about this calendar besides "readable"."""
        try:
            parts = urlsplit(self.client.calendar_url(calendar))
            server = f"{parts.scheme}://{parts.netloc}"
            if self.writer.server_schedules(calendar):
                return [f"the server schedules (RFC 6638): it invites the attendees of make-ups "
                        f"itself ({server})"]  # fmt: skip
        except ProviderError as exc:
            return [f"could not ask the server about scheduling: {exc.message}"]
        return [f"the server does not schedule: calsync writes make-ups into the attendees' "
                f"calendars it reads on this server too; others get no invitation ({server})"]
