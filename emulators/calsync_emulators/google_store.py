"""The calendars of the Google Calendar emulator and the bookkeeping every resource shares.

:class:`Store` holds the calendars (``primary`` names the one ``primary``
means), the change sequence every write bumps (etags, sync tokens and
``updated`` ordering come from it), the creation order of events, the
invitations copied into attendees' calendars, and the one random source for
ids. Every write ends with :meth:`Store.changed`, which tells the push channels.
It takes no lock: :class:`calsync_emulators.google_state.GoogleState` does,
around every public call.
"""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable
from datetime import UTC, datetime

from calsync_emulators.google_errors import Json, not_found
from calsync_emulators.google_model import Calendar
from calsync_emulators.zones import zone


class Store:
    """Calendars, the change sequence and ids (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], datetime], id_seed: int, primary: str | None) -> None:
        self.clock = clock
        self.primary = primary
        #: Called with a calendar after each write to it (the push channels' notifier).
        self.on_change: Callable[[Calendar], None] | None = None
        self.rng = random.Random(id_seed)
        self.calendars: dict[str, Calendar] = {}
        #: The change sequence: bumped by every write.
        self.seq = 0
        #: Invitations: (organizer calendar, event id) -> attendee calendars holding a copy.
        self.invites: dict[tuple[str, str], list[str]] = {}
        self._order = 0

    def now(self) -> datetime:
        value = self.clock()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def next_order(self) -> int:
        self._order += 1
        return self._order

    def new_id(self, cal: Calendar) -> str:
        while True:
            raw = self.rng.getrandbits(130).to_bytes(17, "big")
            candidate = base64.b32hexencode(raw).decode("ascii").lower().rstrip("=")[:26]
            if candidate not in cal.events:
                return candidate

    def calendar(self, calendar_id: str) -> Calendar:
        if calendar_id == "primary":
            if self.primary and self.primary in self.calendars:
                return self.calendars[self.primary]
            if self.calendars:
                return next(iter(self.calendars.values()))
            raise not_found()
        cal = self.calendars.get(calendar_id)
        if cal is None:
            raise not_found()
        return cal

    def primary_id(self) -> str | None:
        if self.primary and self.primary in self.calendars:
            return self.primary
        return next(iter(self.calendars), None)

    def add_calendar(
        self,
        calendar_id: str,
        owner: str | None = None,
        *,
        summary: str | None = None,
        time_zone: str = "UTC",
    ) -> None:
        """Create a calendar (no-op when it exists). ``owner`` defaults to the id."""
        if calendar_id in self.calendars:
            return
        zone(time_zone)
        self.seq += 1
        self.calendars[calendar_id] = Calendar(
            id=calendar_id,
            owner=owner or calendar_id,
            summary=summary or calendar_id,
            time_zone=time_zone,
            order=self.next_order(),
            seq=self.seq,
            updated=self.now(),
        )

    def calendar_ids(self) -> list[str]:
        return list(self.calendars)

    def has_calendar(self, calendar_id: str) -> bool:
        return calendar_id in self.calendars

    def stored_events(self, calendar_id: str) -> list[Json]:
        """Every stored event (masters, exceptions, singles, tombstones), as stored."""
        cal = self.calendar(calendar_id)
        return [copy.deepcopy(ev.body) for ev in cal.events.values()]

    def changed(self, cal: Calendar) -> None:
        """After a write to ``cal``: tell whoever listens (the push channels)."""
        if self.on_change is not None:
            self.on_change(cal)
