"""Reading CalDAV calendars: sync-collection, the getctag/getetag fallback, free/busy, probe.

Two ways to learn what changed, chosen per calendar by what the server does:

- ``sync``: RFC 6578 ``sync-collection``. The cursor is the server's sync
  token; the changed members are fetched with ``calendar-multiget`` and the
  removed ones (bare 404s) become tombstones by path. A token the server no
  longer accepts (403 ``valid-sync-token``) is :class:`CursorExpired`: the
  engine reads the calendar in full and the store keeps past history.
- ``ctag``: for servers without ``sync-collection``. The cursor keeps the
  collection's ``getctag`` and every member's ETag; an unchanged ctag costs
  one PROPFIND, a changed one a Depth 1 PROPFIND and a multiget of only the
  members whose ETag changed.

A full read (no cursor, or the first read of a new UTC day: the window moves
with ``now``, so recurring series are expanded again over the new days, as
the ICS provider does) lists the members, takes the token *before* reading
them (a change in between is seen again next time, never lost), and fetches
them all in multigets of ``multiget_size``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.model import ChangeSet, EventStatus, Window
from calsync.providers.base import ProviderError
from calsync.providers.caldav.client import CaldavClient, DavProblem, path_of
from calsync.providers.caldav.mapping import (
    busy_from_vfreebusy,
    free_busy_body,
    multiget_body,
    parse_ctag,
    parse_listing,
    parse_multiget,
    parse_sync,
    sync_collection_body,
    to_events,
)

log = logging.getLogger(__name__)

MAX_SYNC_PAGES = 100  # 507-truncated sync-collection pages followed in one fetch
#: Statuses with which a server says it has no ``sync-collection`` (or refuses it here).
NO_SYNC_COLLECTION = frozenset({400, 403, 404, 405, 415, 422, 501})
_LISTING = "<d:resourcetype/><d:getetag/><cs:getctag/>"


@dataclass(frozen=True, slots=True)
class _Cursor:
    mode: str  # "sync" or "ctag"
    day: str
    token: str | None = None
    ctag: str | None = None
    etags: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        data: dict[str, object] = {"v": 1, "mode": self.mode, "day": self.day}
        if self.mode == "sync":
            data["token"] = self.token
        else:
            data["ctag"] = self.ctag
            data["etags"] = self.etags
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        """The cursor, or None when absent or unreadable (a full read is always safe)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                return None
            if data["mode"] == "sync" and data.get("token"):
                return cls("sync", str(data["day"]), token=str(data["token"]))
            if data["mode"] == "ctag":
                etags = {str(k): str(v) for k, v in dict(data["etags"]).items()}
                ctag = data.get("ctag")
                return cls("ctag", str(data["day"]), ctag=str(ctag) if ctag else None,
                           etags=etags)  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None
        return None


def _day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


class CaldavReader:
    """CalendarReader and FreeBusyReader for one CalDAV account."""

    def __init__(self, client: CaldavClient, zone_of: Callable[[str], ZoneInfo]) -> None:
        self.client = client
        self.settings = client.settings
        self.zone_of = zone_of
        self._no_free_busy: set[str] = set()

    def _window(self, now: datetime) -> Window:
        return Window(
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )

    # -- CalendarReader ---------------------------------------------------------------------

    def probe(self, calendar: str) -> str | None:
        try:
            url = self.client.calendar_url(calendar)
            reply = self.client.propfind(url, calendar, "<d:resourcetype/>", 0)
            if reply.xml().find(".//{urn:ietf:params:xml:ns:caldav}calendar") is None:
                return f"{url} is not a calendar collection"
        except ProviderError as exc:
            return exc.message
        except Exception as exc:  # doctor reports, never crashes
            return f"unreadable answer from the server: {exc}"
        return None

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        url = self.client.calendar_url(calendar)
        state = _Cursor.decode(cursor)
        if state is None or state.day != _day(now):
            return self._full(calendar, url, now)
        if state.mode == "sync":
            return self._since_token(calendar, url, state, now)
        return self._since_ctag(calendar, url, state, now)

    # -- full reads -----------------------------------------------------------------------------

    def _full(self, calendar: str, url: str, now: datetime) -> ChangeSet:
        try:
            listing, token = self._initial_listing(calendar, url)
            new = _Cursor("sync", _day(now), token=token)
        except DavProblem as exc:
            if exc.status not in NO_SYNC_COLLECTION:
                raise
            log.info("caldav %s: %s has no sync-collection (HTTP %s); comparing ETags",
                     self.client.name, path_of(url), exc.status)  # fmt: skip
            ctag, etags = self._listing(calendar, url)
            listing = list(etags)
            new = _Cursor("ctag", _day(now), ctag=ctag, etags=etags)
        objects = self._multiget(calendar, url, listing)
        window = self._window(now)
        events, warnings, _ = to_events(objects, url, window, self.zone_of(calendar))
        return ChangeSet(events=tuple(events), full=True, window=window, cursor=new.encode(),
                         warnings=tuple(warnings))  # fmt: skip

    def _initial_listing(self, calendar: str, url: str) -> tuple[list[str], str]:
        members: dict[str, None] = {}
        token: str | None = None
        for _ in range(MAX_SYNC_PAGES):
            reply = self.client.report(url, calendar, sync_collection_body(token), depth=0)
            page = parse_sync(reply.xml(), url)
            # Some servers (Radicale) list removed members even on an initial sync
            # (RFC 6578 3.4 says they must not): a full read ignores them.
            members.update(dict.fromkeys(page.changed))
            for gone in page.removed:
                members.pop(gone, None)
            if page.token is None:
                raise ProviderError(calendar, "the server sent no sync-token")
            token = page.token
            if not page.truncated:
                return list(members), token
        raise ProviderError(calendar, f"more than {MAX_SYNC_PAGES} truncated sync pages")

    def _listing(self, calendar: str, url: str) -> tuple[str | None, dict[str, str]]:
        reply = self.client.propfind(url, calendar, _LISTING, 1)
        return parse_listing(reply.xml(), url)

    def _multiget(
        self, calendar: str, url: str, paths: Sequence[str]
    ) -> list[tuple[str, str | None, bytes]]:
        found = []
        size = self.settings.multiget_size
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            reply = self.client.report(url, calendar, multiget_body(chunk), depth=1)
            found += parse_multiget(reply.xml(), url)
        return found

    # -- incremental reads --------------------------------------------------------------------

    def _since_token(self, calendar: str, url: str, state: _Cursor, now: datetime) -> ChangeSet:
        changed: dict[str, None] = {}
        removed: dict[str, None] = {}
        token = state.token
        for _ in range(MAX_SYNC_PAGES):
            reply = self.client.report(url, calendar, sync_collection_body(token), depth=0)
            page = parse_sync(reply.xml(), url)
            for path in page.changed:
                changed[path] = None
                removed.pop(path, None)
            for path in page.removed:
                removed[path] = None
                changed.pop(path, None)
            if page.token is None:
                raise ProviderError(calendar, "the server sent no sync-token")
            token = page.token
            if not page.truncated:
                break
        else:
            raise ProviderError(calendar, f"more than {MAX_SYNC_PAGES} truncated sync pages")
        new = _Cursor("sync", state.day, token=token)
        return self._changes(calendar, url, list(changed), list(removed), new, now)

    def _since_ctag(self, calendar: str, url: str, state: _Cursor, now: datetime) -> ChangeSet:
        if state.ctag is not None:
            reply = self.client.propfind(url, calendar, "<cs:getctag/>", 0)
            if parse_ctag(reply.xml()) == state.ctag:
                return ChangeSet(unchanged=True, cursor=state.encode())
        ctag, etags = self._listing(calendar, url)
        changed = [p for p, etag in etags.items() if state.etags.get(p) != etag]
        removed = [p for p in state.etags if p not in etags]
        new = _Cursor("ctag", state.day, ctag=ctag, etags=etags)
        return self._changes(calendar, url, changed, removed, new, now)

    def _changes(
        self,
        calendar: str,
        url: str,
        changed: list[str],
        removed: list[str],
        new: _Cursor,
        now: datetime,
    ) -> ChangeSet:
        if not changed and not removed:
            return ChangeSet(unchanged=True, cursor=new.encode())
        objects = self._multiget(calendar, url, changed)
        got = {path for path, _, _ in objects}
        removed = removed + [p for p in changed if p not in got]  # gone since it was listed
        window = self._window(now)
        events, warnings, uids = to_events(objects, url, window, self.zone_of(calendar))
        return ChangeSet(
            events=tuple(events),
            deleted_remote_ids=tuple(removed),
            series_scope=tuple(dict.fromkeys(uids)),
            window=window,
            cursor=new.encode(),
            warnings=tuple(warnings),
        )

    # -- free/busy ------------------------------------------------------------------------------

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Busy intervals per calendar: ``free-busy-query`` where the server answers it, else
        computed from the calendar's events, expanded like every read."""
        busy: dict[str, list[tuple[datetime, datetime]]] = {}
        for calendar in dict.fromkeys(calendars):
            url = self.client.calendar_url(calendar)
            if url not in self._no_free_busy:
                try:
                    reply = self.client.report(url, calendar, free_busy_body(window), depth=1)
                    busy[calendar] = _clip(busy_from_vfreebusy(reply.body), window)
                    continue
                except DavProblem as exc:
                    if exc.status not in NO_SYNC_COLLECTION:
                        raise
                    self._no_free_busy.add(url)
                except ValueError:
                    self._no_free_busy.add(url)
            busy[calendar] = self._busy_from_events(calendar, url, window)
        return busy

    def free_busy_supported(self, calendar: str) -> bool | None:
        """What the last ``free_busy`` learned: False once the server refused the query."""
        return self.client.calendar_url(calendar) not in self._no_free_busy

    def _busy_from_events(
        self, calendar: str, url: str, window: Window
    ) -> list[tuple[datetime, datetime]]:
        _, etags = self._listing(calendar, url)
        objects = self._multiget(calendar, url, list(etags))
        events, _, _ = to_events(objects, url, window, self.zone_of(calendar))
        # As a server's free-busy-query counts them (RFC 4791 7.10): opaque events that are
        # not cancelled, all-day ones included (in the calendar's zone, not the server's UTC).
        spans = [
            (e.start, e.end)
            for e in events
            if not e.is_series and not e.transparent
            and e.status is not EventStatus.CANCELLED and window.overlaps(e.start, e.end)
        ]
        return _clip(sorted(spans), window)


def _clip(
    spans: list[tuple[datetime, datetime]], window: Window
) -> list[tuple[datetime, datetime]]:
    return [(max(s, window.start), min(e, window.end)) for s, e in spans
            if window.overlaps(s, e)]  # fmt: skip
