"""Reading Google calendars: full and incremental sync, batched reads, free/busy, probe.

A full read lists the window (``timeMin``) and keeps the last page's
``nextSyncToken`` as the cursor; an incremental read lists from the cursor
and reads every touched series again whole (master + exceptions), so the
store can replace it. Both name the occurrences only a series' rule states
(``pattern_keys``): after an "all events" edit Google restates the past ones
too, and the store keeps those as history. ``fetch_many`` sends the first
incremental page of up to 50 calendars per credential in one batch request,
and ``fetch_stream`` runs the batches and full reads concurrently
(``max_concurrency`` requests in flight), handing each calendar over as soon
as it is read; a batch's changed calendars are then read one task each, under
the same bound (``limits.stream_spawning``). Resources become
neutral events in ``mapping``; requests go through ``client.GoogleClient``.

The I/O threads only fetch: each read returns the raw resources wrapped in a
``Mapped`` (``limits``), and the mapping and expansion run on the thread that
consumes ``fetch_stream``. Mapping is CPU work under the GIL: done on dozens
of threads at once it costs more CPU than done on one (contention).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from googleapiclient.http import HttpRequest

from calsync.model import ChangeSet, Window
from calsync.providers.base import CursorExpired, ProviderError
from calsync.providers.google.client import GoogleClient, HttpProblem, Resources
from calsync.providers.google.mapping import Json, is_tombstone, pattern_keys, to_events
from calsync.providers.limits import Mapped, Spawned, finish, stream, stream_spawning

log = logging.getLogger(__name__)

Outcome = tuple[str, Mapped[ChangeSet] | ProviderError]
Step = Spawned[Outcome]

PAGE_SIZE = 2500  # the API's maximum maxResults
BATCH_SIZE = 50  # calendars per batch request on an idle cycle
MAX_PAGES = 1000  # 2.5 million events: beyond that something is wrong
FREEBUSY_ITEMS = 50  # calendarExpansionMax
FREEBUSY_SPAN = timedelta(days=90)  # Google refuses long ranges; cal.com uses 90 days


@dataclass(frozen=True, slots=True)
class _Cursor:
    token: str

    def encode(self) -> str:
        return json.dumps({"v": 1, "sync": self.token}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["sync"])) if data.get("v") == 1 and data.get("sync") else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _pages(
    client: GoogleClient,
    resources: Resources,
    calendar: str,
    params: Mapping[str, Any],
    page: str | None = None,
) -> Iterator[Json]:
    for _ in range(MAX_PAGES):
        request = resources.events.list(
            calendarId=calendar,
            maxResults=PAGE_SIZE,
            singleEvents=False,
            **({"pageToken": page} if page else {}),
            **params,
        )
        response = client.execute(request, calendar)
        yield response
        page = response.get("nextPageToken")
        if not page:
            return
    raise ProviderError(calendar, f"more than {MAX_PAGES} pages; giving up")


def list_all(
    client: GoogleClient,
    resources: Resources,
    calendar: str,
    params: Mapping[str, Any],
    page: str | None = None,
) -> tuple[list[Json], str | None]:
    """Every item of a listing (from ``page`` on) and the sync token of its last page."""
    items: list[Json] = []
    token = None
    for response in _pages(client, resources, calendar, params, page):
        items.extend(response.get("items") or [])
        token = response.get("nextSyncToken") or token
    return items, token


class GoogleReader:
    """CalendarReader and BatchReader for one Google provider, plus free/busy."""

    def __init__(self, client: GoogleClient, zone_of: Callable[[str], ZoneInfo]) -> None:
        self.client = client
        self.settings = client.settings
        self.zone_of = zone_of

    def _window(self, now: datetime) -> Window:
        return Window(
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )

    def probe(self, calendar: str) -> str | None:
        try:
            resources = self.client.resources(calendar)
            self.client.execute(
                resources.events.list(calendarId=calendar, maxResults=1, singleEvents=False),
                calendar,
            )
        except ProviderError as exc:
            return exc.message
        return None

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        resources = self.client.resources(calendar)
        state = _Cursor.decode(cursor)
        if state is None:
            return self._full(resources, calendar, now)()
        items, token = list_all(self.client, resources, calendar, {"syncToken": state.token})
        return self._incremental(resources, calendar, items, token, now)()

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        """Every calendar's change set or error (see :meth:`fetch_stream`)."""
        return dict(self.fetch_stream(requests, now))

    def fetch_stream(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet | ProviderError]]:
        """Each calendar's change set or error, as soon as it is read.

        Incremental first pages go in batches of 50 per credential; the batches
        and the full reads run concurrently, ``max_concurrency`` requests at most.
        """
        tasks: list[Callable[[], Step]] = []
        groups: dict[str | None, list[tuple[str, _Cursor]]] = {}
        for calendar, cursor in requests:
            state = _Cursor.decode(cursor)
            if state is None:
                tasks.append(partial(self._full_task, calendar, now))
            else:
                subject = self.client.subject_for(calendar)
                groups.setdefault(subject, []).append((calendar, state))
        for members in groups.values():
            for start in range(0, len(members), BATCH_SIZE):
                tasks.append(partial(self._chunk_task, members[start : start + BATCH_SIZE], now))
        for calendar, outcome in stream_spawning(tasks, self.settings.max_concurrency):
            yield calendar, finish(outcome)  # mapped here, on the consumer's thread

    def _full_task(self, calendar: str, now: datetime) -> Step:
        return Spawned([(calendar, self._guarded(calendar, now, None))])

    def _chunk_task(self, chunk: Sequence[tuple[str, _Cursor]], now: datetime) -> Step:
        """One batch of first pages; then whatever each changed calendar still needs."""
        states = dict(chunk)
        # What follows a changed first page (more pages, the touched series) is
        # one calendar's own requests: calendars go on at once, not one by one.
        return Spawned(more=[
            partial(self._follow_up, calendar, now, (states[calendar], outcome))
            for calendar, outcome in self._batch_first_pages(chunk).items()
        ])

    def _follow_up(
        self, calendar: str, now: datetime, first: tuple[_Cursor, Json | ProviderError]
    ) -> Step:
        return Spawned([(calendar, self._guarded(calendar, now, first))])

    def _batch_first_pages(
        self, chunk: Sequence[tuple[str, _Cursor]]
    ) -> dict[str, Json | ProviderError]:
        """One HTTP request for the first incremental page of every calendar in ``chunk``."""
        states = dict(chunk)

        def first_page(resources: Resources, calendar: str) -> HttpRequest:
            return resources.events.list(
                calendarId=calendar,
                syncToken=states[calendar].token,
                maxResults=PAGE_SIZE,
                singleEvents=False,
            )

        return self.client.batch(states, first_page)

    def _guarded(
        self, calendar: str, now: datetime, first: tuple[_Cursor, Json | ProviderError] | None
    ) -> Mapped[ChangeSet] | ProviderError:
        """One calendar's read from its batched first page (or in full), or its error."""
        try:
            if first is None:
                return self._full(self.client.resources(calendar), calendar, now)
            try:
                return self._after_first_page(calendar, *first, now)
            except CursorExpired:
                log.info("google %s: sync token expired; full resync", calendar)
                return self._full(self.client.resources(calendar), calendar, now)
        except ProviderError as exc:
            return exc

    def _after_first_page(
        self, calendar: str, state: _Cursor, outcome: Json | ProviderError, now: datetime
    ) -> ChangeSet:
        if isinstance(outcome, ProviderError):
            raise outcome
        items = list(outcome.get("items") or [])
        token = outcome.get("nextSyncToken")
        resources = self.client.resources(calendar)
        if outcome.get("nextPageToken"):
            more, token = list_all(
                self.client,
                resources,
                calendar,
                {"syncToken": state.token},
                page=outcome["nextPageToken"],
            )
            items += more
        return self._incremental(resources, calendar, items, token, now)

    def _full(self, resources: Resources, calendar: str, now: datetime) -> Mapped[ChangeSet]:
        """Read the window in full; the returned call maps it (see the module doc)."""
        window = self._window(now)
        items, token = list_all(
            self.client, resources, calendar, {"timeMin": _rfc3339(window.start)}
        )
        if token is None:
            raise ProviderError(calendar, "Google sent no sync token on the last page")
        live = [item for item in items if not is_tombstone(item)]
        masters = self._missing_masters(resources, calendar, live)
        return partial(self._map_full, live, calendar, window, token, masters)

    def _map_full(
        self,
        live: Sequence[Json],
        calendar: str,
        window: Window,
        token: str,
        masters: dict[str, Json],
    ) -> ChangeSet:
        events, warnings = to_events(live, calendar, window, self.zone_of(calendar), masters)
        return ChangeSet(
            events=tuple(events),
            pattern_keys=pattern_keys(events),
            full=True,
            window=window,
            cursor=_Cursor(token).encode(),
            warnings=tuple(warnings),
            unread_uids=tuple(sorted(warnings.skipped_uids)),
        )

    def _missing_masters(
        self, resources: Resources, calendar: str, items: Sequence[Json]
    ) -> dict[str, Json]:
        """Masters of listed instances that the listing itself did not include."""
        have = {item["id"] for item in items if item.get("recurrence")}
        wanted = {item["recurringEventId"] for item in items if "recurringEventId" in item}
        masters = {}
        for master_id in sorted(wanted - have):
            try:
                master = self.client.execute(
                    resources.events.get(calendarId=calendar, eventId=master_id), calendar
                )
            except HttpProblem as exc:
                if exc.status in (404, 410):
                    continue
                raise
            except ProviderError:
                continue
            masters[master_id] = master
        return masters

    def _series(self, resources: Resources, calendar: str, master_id: str) -> list[Json] | None:
        """A series' master and every exception, or None when the series is gone."""
        try:
            master = self.client.execute(
                resources.events.get(calendarId=calendar, eventId=master_id), calendar
            )
        except HttpProblem as exc:
            if exc.status in (404, 410):
                return None
            raise
        if master.get("status") == "cancelled" or not master.get("recurrence"):
            return None if master.get("status") == "cancelled" else [master]
        items, _ = list_all(
            self.client,
            resources,
            calendar,
            {"iCalUID": master.get("iCalUID") or master["id"], "showDeleted": True},
        )
        series = [item for item in items if item.get("id") == master_id
                  or item.get("recurringEventId") == master_id]
        if not any(item.get("id") == master_id for item in series):
            series.append(master)
        return series

    def _series_read(self, calendar: str, master_id: str) -> tuple[str, list[Json] | None]:
        """``_series`` on this thread's own resources (httplib2 is not thread-safe)."""
        return master_id, self._series(self.client.resources(calendar), calendar, master_id)

    def _incremental(
        self,
        resources: Resources,
        calendar: str,
        items: Sequence[Json],
        token: str | None,
        now: datetime,
    ) -> Mapped[ChangeSet]:
        """Read what the changes touched; the returned call maps it."""
        if token is None:
            raise ProviderError(calendar, "Google sent no sync token on the last page")
        if not items:
            return partial(ChangeSet, unchanged=True, cursor=_Cursor(token).encode())
        window = self._window(now)
        deleted = [item["id"] for item in items if is_tombstone(item)]
        touched = {item["recurringEventId"] for item in items if "recurringEventId" in item}
        touched |= {item["id"] for item in items if item.get("recurrence")}
        touched -= set(deleted)
        singles = [
            item
            for item in items
            if not is_tombstone(item) and "recurringEventId" not in item
            and not item.get("recurrence")
        ]
        series_items: list[Json] = []
        scope: list[str] = []
        reads = [partial(self._series_read, calendar, master_id) for master_id in touched]
        by_master = dict(stream(reads, self.settings.max_concurrency))
        for master_id in sorted(touched):
            fetched = by_master[master_id]
            if fetched is None:
                deleted.append(master_id)
                continue
            series_items.extend(fetched)
            master = next(item for item in fetched if item["id"] == master_id)
            scope.append(master.get("iCalUID") or master_id)
        return partial(
            self._map_incremental, singles + series_items, calendar, window, token, deleted, scope
        )

    def _map_incremental(
        self,
        items: Sequence[Json],
        calendar: str,
        window: Window,
        token: str,
        deleted: Sequence[str],
        scope: Sequence[str],
    ) -> ChangeSet:
        events, warnings = to_events(items, calendar, window, self.zone_of(calendar))
        return ChangeSet(
            events=tuple(events),
            pattern_keys=pattern_keys(events),
            deleted_remote_ids=tuple(deleted),
            series_scope=tuple(scope),
            window=window,
            cursor=_Cursor(token).encode(),
            warnings=tuple(warnings),
            unread_uids=tuple(sorted(warnings.skipped_uids)),
        )

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Busy intervals per calendar (free/busy only: no titles, no attendees)."""
        busy: dict[str, list[tuple[datetime, datetime]]] = {c: [] for c in calendars}
        spans = []
        start = window.start
        while start < window.end:
            end = min(start + FREEBUSY_SPAN, window.end)
            spans.append((start, end))
            start = end
        ids = list(dict.fromkeys(calendars))
        for offset in range(0, len(ids), FREEBUSY_ITEMS):
            chunk = ids[offset : offset + FREEBUSY_ITEMS]
            resources = self.client.resources(chunk[0])
            for lo, hi in spans:
                body = {
                    "timeMin": _rfc3339(lo),
                    "timeMax": _rfc3339(hi),
                    "timeZone": "UTC",
                    "items": [{"id": c} for c in chunk],
                }
                response = self.client.execute(resources.freebusy.query(body=body), chunk[0])
                for calendar, data in (response.get("calendars") or {}).items():
                    errors = data.get("errors") or []
                    if errors:
                        reasons = ", ".join(str(e.get("reason")) for e in errors)
                        raise ProviderError(calendar, f"free/busy unavailable ({reasons})")
                    for period in data.get("busy") or []:
                        busy.setdefault(calendar, []).append(
                            (_instant(period["start"]), _instant(period["end"]))
                        )
        for intervals in busy.values():
            intervals.sort()
        return busy
