"""The in-memory model behind the Microsoft Graph v1.0 (calendar) emulator.

Pure state and rules, no HTTP: :mod:`calsync_emulators.graph` parses requests
and calls :class:`GraphState`, which answers with Graph-shaped dicts or raises
:class:`~calsync_emulators.graph_errors.GraphError` carrying Graph's error code
and message. Every public method takes the one lock, so the threaded HTTP
server and a test poking the state directly see the same mailboxes.

Model: each mailbox holds *items* -- single events and series masters. A
master expands its ``recurrence`` in wall time; its instances are virtual
(``occurrence``) unless an *override* turns one into an ``exception`` (a move,
an edit, an attendee's ``isCancelled: true``) or the owner deleted it. A
meeting's copies in the organizer's and the attendees' mailboxes share the
``iCalUId`` (Exchange's GlobalObjectId) and nothing else: each has its own ids,
etag, extended properties and response.

:class:`GraphState` composes one module per resource, over one
:class:`~calsync_emulators.graph_store.Store` (mailboxes, items, change
sequence): :mod:`~calsync_emulators.graph_events` (create, read, PATCH,
DELETE, cancel, answers; meeting copies in
:mod:`~calsync_emulators.graph_meetings`), :mod:`~calsync_emulators.graph_lists`
(calendarView, instances, events list), :mod:`~calsync_emulators.graph_delta`
(calendarView/delta and its tokens) and :mod:`~calsync_emulators.graph_schedule`
(getSchedule). Subscriptions are in :mod:`calsync_emulators.graph_push` and
``$batch`` in :mod:`calsync_emulators.graph`, which call this class.

The behaviour reproduced, and the choices made where Graph's documentation is
silent, are listed in the docstring of :mod:`calsync_emulators.graph`; the
limits are the constants of the resource modules.
"""

from __future__ import annotations

import functools
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from calsync_emulators import graph_events, graph_lists, graph_mailbox, graph_schedule
from calsync_emulators.graph_delta import Delta
from calsync_emulators.graph_directory import Directory
from calsync_emulators.graph_model import Mailbox, View
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import Json

P = ParamSpec("P")
R = TypeVar("R")
Params = Mapping[str, list[str]]


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        state = args[0]
        assert isinstance(state, GraphState)
        with state.lock:
            return method(*args, **kwargs)

    return wrapper


class GraphState:
    """Mailboxes, events, delta tokens and the rules of Graph's calendar API."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id_seed: int = 0,
        tenant_id: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.tenant_id = tenant_id or str(uuid.UUID(int=random.Random(id_seed).getrandbits(128)))
        #: An attendee's decline moves their copy to Deleted Items (Outlook's default).
        self.keep_declined = False
        #: Mailboxes and items; the HTTP layer sets its ``listener`` and ``base_url``.
        self.store = Store(clock=clock or (lambda: datetime.now(UTC)), id_seed=id_seed)
        #: Delta tokens and rounds, and their fault switches (``empty_pages``,
        #: ``replays``, ``token_cache``; the emulator's methods of the same names).
        self.deltas = Delta(self.store)
        #: Entra ID users, managers and groups (``graph_directory``).
        self.directory = Directory(self.store)
        #: Automatic replies by mailbox key (mailboxSettings; ``graph_mailbox``).
        self.replies: dict[str, Json] = {}

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.store.clock

    def now(self) -> datetime:
        return self.store.now()

    # -------------------------------------------------------- mailboxes ----
    @_locked
    def add_mailbox(
        self,
        upn: str,
        name: str | None = None,
        *,
        time_zone: str = "UTC",
        working_days: Iterable[str] | None = None,
        working_start: str = "08:00",
        working_end: str = "17:00",
    ) -> Mailbox:
        """Create a mailbox (idempotent); ``time_zone`` is a Windows or IANA name."""
        return self.store.add_mailbox(
            upn,
            name,
            time_zone=time_zone,
            working_days=working_days,
            working_start=working_start,
            working_end=working_end,
        )

    @_locked
    def mailbox_ids(self) -> list[str]:
        return self.store.mailbox_ids()

    @_locked
    def mailbox(self, user: str) -> Mailbox:
        """The mailbox a ``/users/{id}`` segment names (UPN or user id), else ErrorInvalidUser."""
        return self.store.mailbox(user)

    def find_mailbox(self, address: str | None) -> Mailbox | None:
        return self.store.find_mailbox(address)

    @_locked
    def user(self, user: str) -> Json:
        return self.store.user(user)

    @_locked
    def calendar(self, user: str) -> Json:
        return self.store.calendar(user)

    # ---------------------------------------------------- mailbox settings ----
    @_locked
    def mailbox_settings(self, user: str) -> Json:
        """GET /users/{id}/mailboxSettings (403 for a mailbox ``deny_mailbox_settings`` named)."""
        mailbox = self.store.mailbox(user)
        if mailbox.key in self.directory.denied_settings:
            raise graph_mailbox.access_denied()
        replies = self.replies.get(mailbox.key) or graph_mailbox.default_replies()
        return graph_mailbox.mailbox_settings(mailbox, replies, self.store.base_url)

    @_locked
    def patch_mailbox_settings(self, user: str, patch: object) -> Json:
        """PATCH /users/{id}/mailboxSettings: automatic replies (the rest is read-only here)."""
        mailbox = self.store.mailbox(user)
        if mailbox.key in self.directory.denied_settings:
            raise graph_mailbox.access_denied()
        current = self.replies.get(mailbox.key) or graph_mailbox.default_replies()
        self.replies[mailbox.key] = graph_mailbox.patched_replies(current, patch)
        return graph_mailbox.mailbox_settings(mailbox, self.replies[mailbox.key],
                                              self.store.base_url)

    # ----------------------------------------------------------- events ----
    @_locked
    def create_event(
        self, user: str, body: Json, *, view: View | None = None, seed: bool = False
    ) -> tuple[Json, bool]:
        """POST /users/{id}/events: (the event, created?) -- False for a transactionId replay."""
        return graph_events.create_event(self.store, user, body, view=view, seed=seed)

    @_locked
    def get_event(self, user: str, event_id: str, view: View | None = None) -> Json:
        return graph_events.get_event(self.store, user, event_id, view)

    @_locked
    def stored_events(self, user: str) -> list[Json]:
        """Every item of a mailbox (singles and masters), rendered in UTC."""
        return graph_events.stored_events(self.store, user)

    @_locked
    def patch_event(
        self,
        user: str,
        event_id: str,
        patch: Json,
        if_match: str | None = None,
        view: View | None = None,
    ) -> Json:
        """PATCH an event, a master (the whole series) or an instance (makes an exception)."""
        return graph_events.patch_event(self.store, user, event_id, patch, if_match, view)

    @_locked
    def delete_event(self, user: str, event_id: str, if_match: str | None = None) -> None:
        """DELETE an item or instance; an organizer's delete cancels the meeting for attendees."""
        graph_events.delete_event(self.store, user, event_id, if_match)

    @_locked
    def cancel_event(self, user: str, event_id: str, comment: str | None = None) -> None:
        """POST .../cancel: organizer only (else 400); the item goes to Deleted Items."""
        graph_events.cancel_event(self.store, user, event_id, comment)

    @_locked
    def respond(
        self,
        user: str,
        event_id: str,
        response: str,
        *,
        comment: str | None = None,
        send_response: bool = True,
    ) -> None:
        """accept / tentativelyAccept / decline by an attendee (202 in Graph)."""
        graph_events.respond(
            self.store,
            user,
            event_id,
            response,
            comment=comment,
            send_response=send_response,
            keep_declined=self.keep_declined,
        )

    @_locked
    def remove_cancelled(self, user: str) -> int:
        """What "Remove from calendar" does to cancelled copies; returns how many went."""
        return graph_events.remove_cancelled(self.store, user)

    # ------------------------------------------------------------ lists ----
    @_locked
    def calendar_view(self, user: str, params: Params, view: View, link: str) -> Json:
        """GET /users/{id}/calendarView: instances and singles in the window, paged."""
        return graph_lists.calendar_view(self.store, user, params, view, link)

    @_locked
    def instances(self, user: str, event_id: str, params: Params, view: View, link: str) -> Json:
        """GET .../events/{masterId}/instances: occurrences and exceptions in the window."""
        return graph_lists.instances(self.store, user, event_id, params, view, link)

    @_locked
    def list_events(self, user: str, params: Params, view: View, link: str) -> Json:
        """GET /users/{id}/events: singles and masters, with $filter/$orderby/$top/$skip."""
        return graph_lists.list_events(self.store, user, params, view, link)

    # ------------------------------------------------------------ delta ----
    @_locked
    def delta(
        self, user: str, prefix: str, params: Params, view: View, page_size: int | None
    ) -> Json:
        """GET .../calendarView/delta: one page of a round (see :mod:`graph_delta`)."""
        return self.deltas.read(user, prefix, params, view, page_size)

    @_locked
    def expire_delta_tokens(self, mode: str = "syncStateNotFound") -> None:
        """Every outstanding delta and skip token fails on its next use (``410`` or 400)."""
        self.deltas.expire(mode)

    # ------------------------------------------------------ getSchedule ----
    @_locked
    def get_schedule(self, user: str, body: Json, view: View) -> Json:
        """POST /users/{id}/calendar/getSchedule."""
        return graph_schedule.get_schedule(self.store, user, body, view)
