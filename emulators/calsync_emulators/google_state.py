"""The in-memory model behind the Google Calendar API v3 emulator.

Pure state and rules, no HTTP: :mod:`calsync_emulators.google` parses requests
and calls :class:`GoogleState`, which answers with API-shaped dicts or raises
:class:`~calsync_emulators.google_errors.ApiError` carrying Google's error
body. Every public method takes the one lock, so the threaded HTTP server and
a test poking the state directly see the same consistent calendars.

:class:`GoogleState` composes one module per resource over one
:class:`~calsync_emulators.google_store.Store` (calendars, change sequence,
ids): :mod:`~calsync_emulators.google_reads` (calendarList, events list, get,
instances), :mod:`~calsync_emulators.google_writes` (insert, import, patch,
update, delete, invitations; bodies checked and composed by
:mod:`~calsync_emulators.google_bodies`), :mod:`~calsync_emulators.google_freebusy`,
:mod:`~calsync_emulators.google_pages` (sync tokens and page cursors) and
:mod:`~calsync_emulators.google_channels` (watch channels and push messages).

The behaviour reproduced, and the choices made where Google's documentation is
silent or contradicts itself, are listed in the docstring of
:mod:`calsync_emulators.google`; the limits are the constants of the resource
modules.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from calsync_emulators import google_freebusy, google_reads, google_writes
from calsync_emulators.google_channels import Channels
from calsync_emulators.google_directory import Directory
from calsync_emulators.google_errors import Json
from calsync_emulators.google_model import Params
from calsync_emulators.google_pages import Pages
from calsync_emulators.google_store import Store

P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        state = args[0]
        assert isinstance(state, GoogleState)
        with state.lock:
            return method(*args, **kwargs)

    return wrapper


class GoogleState:
    """Calendars, events, sync tokens, page cursors and push channels of one emulator."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id_seed: int = 0,
        primary: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.store = Store(
            clock=clock or (lambda: datetime.now(UTC)), id_seed=id_seed, primary=primary
        )
        #: Sync tokens and page cursors, and their fault switches (``short_pages``,
        #: ``sync_token_ttl``).
        self.pages = Pages(self.store)
        #: Push channels; the HTTP layer sets their ``listener`` and ``base_url``.
        self.push = Channels(self.store)
        self.store.on_change = self.push.changed
        #: Workspace users, and the grants of the token endpoint (``google_directory``).
        self.directory = Directory()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.store.clock

    def now(self) -> datetime:
        return self.store.now()

    # -------------------------------------------------------- calendars ----
    @_locked
    def add_calendar(
        self,
        calendar_id: str,
        owner: str | None = None,
        *,
        summary: str | None = None,
        time_zone: str = "UTC",
    ) -> None:
        """Create a calendar (no-op when it exists). ``owner`` defaults to the id."""
        self.store.add_calendar(calendar_id, owner, summary=summary, time_zone=time_zone)

    @_locked
    def calendar_ids(self) -> list[str]:
        return self.store.calendar_ids()

    @_locked
    def has_calendar(self, calendar_id: str) -> bool:
        return self.store.has_calendar(calendar_id)

    @_locked
    def stored_events(self, calendar_id: str) -> list[Json]:
        """Every stored event (masters, exceptions, singles, tombstones), as stored."""
        return self.store.stored_events(calendar_id)

    @_locked
    def calendar_list(self, params: Params) -> Json:
        return google_reads.calendar_list(self.store, self.pages, params)

    @_locked
    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Invalidate outstanding sync tokens (all, or one calendar's): next use is 410."""
        self.pages.expire(calendar_id)

    # ------------------------------------------------------------ reads ----
    @_locked
    def list_events(self, calendar_id: str, params: Params) -> Json:
        return google_reads.list_events(self.store, self.pages, calendar_id, params)

    @_locked
    def get_event(self, calendar_id: str, event_id: str, params: Params | None = None) -> Json:
        return google_reads.get_event(self.store, calendar_id, event_id, params)

    @_locked
    def instances(self, calendar_id: str, event_id: str, params: Params) -> Json:
        return google_reads.instances(self.store, self.pages, calendar_id, event_id, params)

    # ----------------------------------------------------------- writes ----
    @_locked
    def insert_event(self, calendar_id: str, body: Json, *, mode: str = "insert") -> Json:
        """events.insert (``mode="seed"`` also accepts organizer, timestamps, exceptions)."""
        return google_writes.insert_event(self.store, calendar_id, body, mode=mode)

    @_locked
    def import_event(self, calendar_id: str, body: Json) -> Json:
        """events.import: keyed by iCalUID; importing a known iCalUID updates that event."""
        return google_writes.import_event(self.store, calendar_id, body)

    @_locked
    def patch_event(
        self, calendar_id: str, event_id: str, patch: Json, if_match: str | None = None
    ) -> Json:
        return google_writes.patch_event(self.store, calendar_id, event_id, patch, if_match)

    @_locked
    def update_event(
        self, calendar_id: str, event_id: str, body: Json, if_match: str | None = None
    ) -> Json:
        return google_writes.update_event(self.store, calendar_id, event_id, body, if_match)

    @_locked
    def delete_event(self, calendar_id: str, event_id: str, if_match: str | None = None) -> None:
        google_writes.delete_event(self.store, calendar_id, event_id, if_match)

    # --------------------------------------------------------- freebusy ----
    @_locked
    def free_busy(self, body: Json) -> Json:
        return google_freebusy.free_busy(self.store, body)

    # ------------------------------------------------------------- push ----
    @_locked
    def watch(self, calendar_id: str, body: Json) -> Json:
        return self.push.watch(calendar_id, body)

    @_locked
    def stop_channel(self, body: Json) -> None:
        self.push.stop(body)

    @_locked
    def channels(self) -> list[Json]:
        return self.push.active()
