"""Sync tokens and page cursors of the Google Calendar emulator.

A sync token records the change sequence, the calendar (or ``*`` for the
calendar list), the window of the list that issued it and two epochs: a
calendar's (bumped by ``expire_sync_tokens(calendar)``) and the emulator's
(bumped by ``expire_sync_tokens()``); a stale one is 410 ``fullSyncRequired``,
as is one older than ``sync_token_ttl`` seconds. A multi-page result is kept
server-side as a :class:`Cursor` (``pageToken`` names it and a page), so a
client paging through sees one consistent snapshot with ``nextSyncToken`` on
the last page only; at most :data:`MAX_CURSORS` are kept.
"""

from __future__ import annotations

import binascii
import copy
import json
from collections import OrderedDict
from dataclasses import dataclass

from calsync_emulators.google_errors import Json, full_sync_required, invalid
from calsync_emulators.google_model import b64, unb64
from calsync_emulators.google_store import Store

#: an evicted page token gets 400).
MAX_CURSORS = 256


@dataclass(slots=True)
class Cursor:
    """A multi-page result: its pages, the sync token of its last page, its envelope."""

    pages: list[list[Json]]
    sync_token: str | None
    envelope: Json


class Pages:
    """Sync tokens and page cursors of one emulator, with their fault switches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Fault switch: pages are at most half of ``maxResults`` and an empty
        #: page (still with a ``nextPageToken``) precedes the last one.
        self.short_pages = False
        #: Fault switch: sync tokens older than this many seconds get 410.
        self.sync_token_ttl: float | None = None
        #: Bumped by ``expire_sync_tokens()``: every outstanding token goes stale.
        self.epoch = 0
        self._cursor_serial = 0
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()

    def sync_token_for(self, calendar_key: str, epoch: int, window: list[str | None] | None) -> str:
        payload = {
            "c": calendar_key,
            "s": self.store.seq,
            "e": epoch,
            "g": self.epoch,
            "t": self.store.now().timestamp(),
            "w": window,
        }
        return "C" + b64(json.dumps(payload, separators=(",", ":")).encode())

    def decode_sync_token(self, token: str, calendar_key: str, epoch: int = 0) -> Json:
        try:
            if not token.startswith("C"):
                raise ValueError(token)
            payload = json.loads(unb64(token[1:]))
            if not isinstance(payload, dict):
                raise ValueError(token)
            fresh = (
                payload["c"] == calendar_key
                and payload["e"] == epoch
                and payload["g"] == self.epoch
                and int(payload["s"]) <= self.store.seq
            )
            age = self.store.now().timestamp() - float(payload["t"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise full_sync_required() from None
        if not fresh or (self.sync_token_ttl is not None and age > self.sync_token_ttl):
            raise full_sync_required()
        return payload

    def expire(self, calendar_id: str | None = None) -> None:
        """Invalidate outstanding sync tokens (all, or one calendar's): next use is 410."""
        if calendar_id is None:
            self.epoch += 1
        else:
            self.store.calendar(calendar_id).epoch += 1

    def paginate(
        self, items: list[Json], size: int, sync_token: str | None, envelope: Json
    ) -> Json:
        if self.short_pages:
            step = max(1, size // 2)
            pages = [items[i : i + step] for i in range(0, len(items), step)] or [[]]
            pages.insert(len(pages) - 1, [])
        else:
            pages = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        self._cursor_serial += 1
        key = f"{self._cursor_serial}-{self.store.rng.getrandbits(32):08x}"
        self._cursors[key] = Cursor(pages, sync_token, envelope)
        if len(pages) == 1:  # nothing to page through: keep no snapshot
            return self._page_response(key, 0, forget=True)
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)
        return self._page_response(key, 0)

    def page(self, token: str) -> Json:
        try:
            key, _, index = unb64(token).decode("ascii").rpartition(":")
            position = int(index)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise invalid("Invalid page token value.", "pageToken") from None
        cursor = self._cursors.get(key)
        if cursor is None or not 0 <= position < len(cursor.pages):
            raise invalid("Invalid page token value.", "pageToken")
        return self._page_response(key, position)

    def _page_response(self, key: str, position: int, *, forget: bool = False) -> Json:
        cursor = self._cursors.pop(key) if forget else self._cursors[key]
        out = dict(cursor.envelope)
        if position + 1 < len(cursor.pages):
            out["nextPageToken"] = b64(f"{key}:{position + 1}".encode())
        elif cursor.sync_token is not None:
            out["nextSyncToken"] = cursor.sync_token
        out["items"] = copy.deepcopy(cursor.pages[position])
        return out
