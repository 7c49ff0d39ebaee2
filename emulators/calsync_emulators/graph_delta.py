"""Delta of ``calendarView``: rounds of pages, delta tokens and what each token has seen.

A :class:`DeltaState` is what a ``$deltatoken`` stands for: the window, the
change sequence when it was issued, and a fingerprint of every entity the
client has been sent. The next round compares the window now with it:
entities gone (or changed outside the window) come as ``@removed``, new or
changed ones in full (plain occurrences stripped). A :class:`DeltaRound` keeps
one round's entries so that ``$skiptoken`` pages re-read the same answer.
:class:`Delta` holds the tokens and rounds of one emulator and its fault
switches (empty last pages, replayed entries, a small token cache, expiry).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calsync_emulators.graph_errors import (
    GraphError,
    bad_request,
    delta_query_not_supported,
    resync_required,
    sync_state_not_found,
)
from calsync_emulators.graph_lists import param, window
from calsync_emulators.graph_model import (
    Mailbox,
    View,
    b64,
    item_id,
    unb64,
    window_entities,
)
from calsync_emulators.graph_render import ODATA_EVENT, render
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import Json, format_utc

#: Page size of calendarView/delta without ``Prefer: odata.maxpagesize`` (the
#: docs give none; 10 is what the list endpoints use).
DEFAULT_DELTA_PAGE_SIZE = 10
#: Delta rounds kept for ``$skiptoken`` paging (oldest evicted first).
MAX_ROUNDS = 4096
#: Delta tokens kept per mailbox when no smaller ``token_cache`` is set (oldest
#: forgotten first, answering ``syncStateNotFound`` like an expired one). Graph
#: documents no count; without a bound every round of a long run stayed alive.
MAX_TOKENS_PER_MAILBOX = 64
#: Windows whose last snapshot is kept (ids and fingerprints only): above the
#: mailbox count of the biggest benchmark team, or a round-robin over all
#: mailboxes would evict each one just before it is read again.
MAX_SNAPSHOTS = 100_000


#: A window's current view: event id -> fingerprint of its content. Only ids and
#: fingerprints: a round re-reads entities from the store when it renders a page,
#: and keeping rendered entities for thousands of windows grew the emulator to GBs.
Snapshot = dict[str, str]


@dataclass(frozen=True, slots=True)
class _Kept:
    """A window's last snapshot: the mailbox's version then, and each item's."""

    version: int
    snapshot: Snapshot
    versions: dict[int, int]


@dataclass(slots=True)
class DeltaState:
    """What a ``$deltatoken`` stands for: the window and what the client has seen in it."""

    mailbox: str
    prefix: str
    low: datetime
    high: datetime
    seq: int
    seen: dict[str, str]
    expired: str | None = None


@dataclass(slots=True)
class DeltaRound:
    """One round of delta pages: the changes found when it began, and its closing token."""

    mailbox: str
    prefix: str
    low: datetime
    high: datetime
    entries: list[tuple[str, str]]
    delta_token: str
    expired: str | None = None


class Delta:
    """The delta tokens and rounds of one emulator, over its store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Fault switches (see the emulator's methods of the same names): an empty
        #: page before the deltaLink, each page repeating the previous one's last
        #: entry, and only this many tokens kept per mailbox.
        self.empty_pages = False
        self.replays = False
        self.token_cache: int | None = None
        self._tokens: dict[str, DeltaState] = {}
        self._issued: dict[str, deque[str]] = {}  # mailbox -> its tokens, oldest first
        self._rounds: OrderedDict[str, DeltaRound] = OrderedDict()
        # (mailbox, window) -> the mailbox's version and its snapshot then, with
        # the version of each item in it. Rendering a year of events to find that
        # nothing changed made an idle round of a few thousand mailboxes cost the
        # emulator minutes; re-rendering the unchanged items of a changed mailbox
        # was most of its CPU in a cold cycle that writes to every mailbox.
        self._snapshots: OrderedDict[tuple[str, datetime, datetime], _Kept] = OrderedDict()

    def read(
        self,
        user: str,
        prefix: str,
        params: Mapping[str, list[str]],
        view: View,
        page_size: int | None,
    ) -> Json:
        """GET .../calendarView/delta: one page of a round (see the module docs)."""
        mailbox = self.store.mailbox(user)
        for name in params:
            if name.lower() in ("$select", "$filter", "$orderby", "$expand", "$search"):
                raise delta_query_not_supported()
        size = page_size or DEFAULT_DELTA_PAGE_SIZE
        skip_token = param(params, "$skiptoken") or param(params, "$skipToken")
        delta_token = param(params, "$deltatoken") or param(params, "$deltaToken")
        if skip_token:
            round_id, offset, flag = self._parse_skip(skip_token)
            current = self._rounds.get(round_id)
            if current is None or current.mailbox != mailbox.key:
                raise sync_state_not_found()
            if current.expired:
                raise self._expired(current.expired, current.prefix, current.low, current.high)
            return self._page(current, round_id, offset, flag, size, view)
        if delta_token:
            state = self._tokens.get(delta_token)
            if state is None or state.mailbox != mailbox.key:
                raise sync_state_not_found()
            if state.expired:
                raise self._expired(state.expired, state.prefix, state.low, state.high)
            low, high, previous = state.low, state.high, state
        else:
            low, high = window(params)
            if high <= low:
                raise bad_request("The endDateTime must be after the startDateTime.")
            previous = None
        snapshot = self._snapshot_kept(mailbox, low, high)
        entries: list[tuple[str, str]] = []
        if previous is None:
            entries = [("item", event_id) for event_id in snapshot]
        else:
            removed = [i for i in previous.seen if i not in snapshot]
            entries += [("removed", i) for i in removed]
            outside = self._changed_outside(mailbox, previous, snapshot)
            entries += [("removed", i) for i in outside if i not in removed]
            entries += [("item", i) for i, fp in snapshot.items() if previous.seen.get(i) != fp]
        # The token shares the snapshot: neither is changed once made.
        token = self._new_token(
            DeltaState(mailbox.key, prefix, low, high, self.store.seq, snapshot)
        )
        round_id = b64(self.store.random(12))
        self._rounds[round_id] = DeltaRound(mailbox.key, prefix, low, high, entries, token)
        while len(self._rounds) > MAX_ROUNDS:
            self._rounds.popitem(last=False)
        return self._page(self._rounds[round_id], round_id, 0, 0, size, view)

    def expire(self, mode: str = "syncStateNotFound") -> None:
        """Every outstanding delta and skip token fails on its next use (``410`` or 400)."""
        if mode not in ("410", "syncStateNotFound"):
            raise ValueError(f"mode must be '410' or 'syncStateNotFound', not {mode!r}")
        for state in self._tokens.values():
            state.expired = mode
        for current in self._rounds.values():
            current.expired = mode

    def location(self, prefix: str, low: datetime, high: datetime) -> str:
        """The initial request URL of a window (the ``Location`` of a 410)."""
        query = urllib.parse.urlencode(
            {"startDateTime": format_utc(low), "endDateTime": format_utc(high)}
        )
        return f"{self.store.base_url}/v1.0/{prefix}/calendarView/delta?{query}"

    def _snapshot_kept(self, mailbox: Mailbox, low: datetime, high: datetime) -> Snapshot:
        """``_snapshot``, from the last one of this window while the mailbox is unchanged."""
        key = (mailbox.key, low, high)
        kept = self._snapshots.get(key)
        if kept is not None:
            self._snapshots.move_to_end(key)
            if kept.version == mailbox.version:
                return kept.snapshot
        fresh = self._snapshot(mailbox, low, high, kept)
        self._snapshots[key] = fresh
        while len(self._snapshots) > MAX_SNAPSHOTS:
            self._snapshots.popitem(last=False)
        return fresh.snapshot

    def _snapshot(
        self, mailbox: Mailbox, low: datetime, high: datetime, before: _Kept | None
    ) -> _Kept:
        """The current view of a window: id -> fingerprint of its content.

        An entity of an item whose version is what it was in ``before`` keeps
        its fingerprint from there: every change to an item touches its version.
        """
        out: Snapshot = {}
        versions: dict[int, int] = {}
        for _, entity in window_entities(mailbox, low, high, masters=True):
            item = entity.item
            versions[item.serial] = item.version
            event_id = item_id(item, entity.original)
            if before is not None and before.versions.get(item.serial) == item.version:
                digest = before.snapshot.get(event_id)
                if digest is not None:
                    out[event_id] = digest
                    continue
            rendered = render(entity, View())
            for volatile in ("@odata.etag", "lastModifiedDateTime"):
                rendered.pop(volatile, None)
            if entity.is_instance:
                rendered.pop("changeKey", None)
            out[event_id] = hashlib.sha1(json.dumps(rendered, sort_keys=True).encode()).hexdigest()
        return _Kept(mailbox.version, out, versions)

    def _new_token(self, state: DeltaState) -> str:
        token = b64(self.store.random(24))
        self._tokens[token] = state
        mine = self._issued.setdefault(state.mailbox, deque())
        mine.append(token)
        keep = MAX_TOKENS_PER_MAILBOX if self.token_cache is None else self.token_cache
        while len(mine) > keep:
            self._tokens.pop(mine.popleft(), None)
        return token

    def _expired(self, mode: str, prefix: str, low: datetime, high: datetime) -> GraphError:
        if mode == "410":
            return resync_required(self.location(prefix, low, high))
        return sync_state_not_found()

    def _changed_outside(
        self, mailbox: Mailbox, previous: DeltaState, snapshot: Mapping[str, Any]
    ) -> list[str]:
        """Items added, changed or deleted outside the window since the token: ``@removed``."""
        out: list[str] = []
        for item in mailbox.items.values():
            event_id = item_id(item)
            fresh = item.changed_seq > previous.seq
            if fresh and event_id not in snapshot and event_id not in previous.seen:
                out.append(event_id)
        for seq, event_id in mailbox.tombstones:
            if seq > previous.seq and event_id not in previous.seen and event_id not in snapshot:
                out.append(event_id)
        return out

    def _parse_skip(self, token: str) -> tuple[str, int, int]:
        try:
            round_id, offset, flag = unb64(token).decode("ascii").split(":")
            return round_id, int(offset), int(flag)
        except (ValueError, UnicodeDecodeError):
            raise sync_state_not_found() from None

    def _page(
        self, current: DeltaRound, round_id: str, offset: int, flag: int, size: int, view: View
    ) -> Json:
        entries = current.entries
        start = offset
        if self.replays and offset > 0:
            start = offset - 1
        chunk = entries[start : offset + size]
        mailbox = self.store.mailboxes[current.mailbox]
        value = [self._value(mailbox, kind, event_id, view) for kind, event_id in chunk]
        link = f"{self.store.base_url}/v1.0/{current.prefix}/calendarView/delta"
        out: Json = {"@odata.context": f"{self.store.base_url}/v1.0/$metadata#Collection(event)"}
        final = offset + size >= len(entries)
        if final and self.empty_pages and not flag:
            skip = b64(f"{round_id}:{len(entries)}:1".encode())
            out["@odata.nextLink"] = f"{link}?$skiptoken={skip}"
        elif final:
            out["@odata.deltaLink"] = f"{link}?$deltatoken={current.delta_token}"
        else:
            skip = b64(f"{round_id}:{offset + size}:0".encode())
            out["@odata.nextLink"] = f"{link}?$skiptoken={skip}"
        out["value"] = value
        return out

    def _value(self, mailbox: Mailbox, kind: str, event_id: str, view: View) -> Json:
        removed = {"@odata.type": ODATA_EVENT, "id": event_id, "@removed": {"reason": "deleted"}}
        if kind == "removed":
            return removed
        try:
            entity = self.store.resolve(mailbox, event_id)
        except GraphError:
            return removed
        return render(entity, view, delta=True)
