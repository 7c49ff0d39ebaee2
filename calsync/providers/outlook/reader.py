"""Reading Microsoft 365 mailboxes: delta sync, batched reads, free/busy, probe.

Each mailbox's primary calendar is read with ``calendarView/delta`` over a
window (``@odata.nextLink`` pages, ``@odata.deltaLink`` stored as the cursor,
``Prefer: odata.maxpagesize`` and ``outlook.timezone="UTC"``); idle mailboxes
are fetched in JSON ``$batch`` requests of 20 (an idle cycle over C mailboxes
is ceil(C / 20) HTTP requests), several batches and full reads in flight at
once (``fetch_stream``); free/busy comes from ``getSchedule``.

Series. Delta lists occurrences (stripped to ids and times), exceptions and
singles, and masters with unreliable times. Every series seen is read once
more with ``GET events/{seriesMasterId}`` (batched): its own start, its
recurrence and its ``iCalUId``, from which the neutral series uid comes.

Incremental rounds. A series touched by a round (its master or an instance
changed) is read again whole inside the window (master + ``instances``) and
sent with ``series_scope``, so its cancelled occurrences -- rule times without
an instance -- become cancelled rows. An ``@removed`` entry is only an id: it
may be a deleted single event, a series, one deleted occurrence, or something
outside the window that changed. The ids are looked up (batched): what still
exists is handled by its kind (a single left the window: its row goes; an
instance: its series is read again). What no longer exists cannot be told
apart -- a deleted occurrence's id must not become a tombstone, as its row
turns into a cancelled one, and neither must the ids of a deleted series'
past occurrences, which are history -- so such a round is answered with a
full snapshot of the window (a fresh delta round): the store sweeps only
upcoming rows, so history stays. Attendee copies of cancelled meetings
(``isCancelled`` singles and masters) are tombstones, as with Google.
Both kinds of round name the plain occurrences (``pattern_keys``): after a
series edit Exchange restates the past ones too, and the store keeps those
as history (see ``mapping``: Series edits).

The delta link carries its window. Once the stored window's end falls a week
behind ``now + future_days``, the mailbox is read in full with a new window.

Resources become neutral events in ``mapping``; requests go through
``client.GraphClient``. The I/O threads only fetch: a read returns the raw
entries as a ``limits.Mapped``, and the mapping and expansion run on the
thread that consumes ``fetch_stream`` (CPU work on many threads at once costs
more CPU than on one).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from calsync.model import ChangeSet, Event, Window
from calsync.providers.base import CursorExpired, ProviderError
from calsync.providers.limits import Mapped, Spawned, finish, stream, stream_spawning
from calsync.providers.outlook.client import BATCH_SIZE, GraphClient, user_path
from calsync.providers.outlook.mapping import (
    KEY_PROPERTY,
    TAGS_PROPERTY,
    Json,
    SeriesData,
    automatic_replies_event,
    graph_instant,
    is_instance,
    is_owned,
    is_removed,
    is_tombstone,
    pattern_keys,
    series_uid,
    span_days,
    to_events,
    window_params,
)

log = logging.getLogger(__name__)

Outcome = tuple[str, Mapped[ChangeSet] | ProviderError]
Step = Spawned[Outcome]

MAX_PAGES = 2000  # of one delta round or listing: beyond that something is wrong
SCHEDULE_ITEMS = 20  # getSchedule: at most 20 schedules per request
SCHEDULE_DAYS = 61  # getSchedule: a range under 62 days
WINDOW_SLACK = timedelta(days=7)
FREE_STATUSES = frozenset({"free", "workingElsewhere", "unknown"})
EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY}' or id eq '{TAGS_PROPERTY}')"
)
_EXPAND_QUERY = "$expand=" + urllib.parse.quote(EXPAND, safe="")
_READ_PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'


@dataclass(frozen=True, slots=True)
class _Cursor:
    """The stored sync state: the delta link and the window it covers."""

    delta: str
    window: Window

    def encode(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "delta": self.delta,
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("v") != 1 or not data.get("delta"):
                return None
            window = Window(
                datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
            )
            return cls(str(data["delta"]), window)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _naive_utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class OutlookReader:
    """CalendarReader and BatchReader for one Microsoft 365 provider, plus free/busy."""

    def __init__(
        self,
        client: GraphClient,
        zone_of: Callable[[str], ZoneInfo],
        owners: Mapping[str, str],
    ) -> None:
        self.client = client
        self.settings = client.settings
        self.zone_of = zone_of
        self.owners = owners

    def _owner(self, calendar: str) -> str | None:
        return self.owners.get(calendar) or (calendar if "@" in calendar else None)

    def _window(self, now: datetime) -> Window:
        return Window(
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )

    def _stale(self, state: _Cursor, now: datetime) -> bool:
        wanted = self._window(now)
        span = wanted.end - wanted.start
        return (
            state.window.end < wanted.end - WINDOW_SLACK
            or abs((state.window.end - state.window.start) - span) > timedelta(days=1)
            or self.client.relative(state.delta) is None
        )

    def _get_many(
        self, calendar: str, paths: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> dict[str, Json | None]:
        """GET many relative paths in batches of 20; key -> body, or None for 404/410."""
        keys = list(paths)
        chunks = [keys[start : start + BATCH_SIZE] for start in range(0, len(keys), BATCH_SIZE)]
        # The batches go at once; the client's throttle keeps the mailbox's limit.
        reads = [partial(self._get_batch, calendar, chunk, paths, headers) for chunk in chunks]
        out: dict[str, Json | None] = {}
        for answered in stream(reads, self.settings.max_concurrency):
            out.update(answered)
        return {key: out[key] for key in keys}

    def _get_batch(
        self,
        calendar: str,
        chunk: Sequence[str],
        paths: Mapping[str, str],
        headers: Mapping[str, str] | None,
    ) -> dict[str, Json | None]:
        """One ``$batch`` of ``_get_many``."""
        requests = [
            {
                "id": str(number),
                "method": "GET",
                "url": paths[key],
                "headers": {"Prefer": _READ_PREFER, **(headers or {})},
            }
            for number, key in enumerate(chunk)
        ]
        answers = self.client.batch(calendar, requests)
        out: dict[str, Json | None] = {}
        for number, key in enumerate(chunk):
            item = answers[str(number)]
            status = int(item.get("status") or 0)
            body = item.get("body")
            if 200 <= status < 300 and isinstance(body, dict):
                out[key] = body
            elif status in (404, 410):
                out[key] = None
            else:
                raise self.client.problem(calendar, status or 502, body, delta=False)
        return out

    def probe(self, calendar: str) -> str | None:
        try:
            self.client.request("GET", self.client.url(f"{user_path(calendar)}/calendar"), calendar)
        except ProviderError as exc:
            return exc.message
        return None

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        state = _Cursor.decode(cursor)
        if state is None or self._stale(state, now):
            return self._full(calendar, now)()
        return self._incremental(calendar, state, None, now)()

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        """Every mailbox's change set or error (see :meth:`fetch_stream`)."""
        return dict(self.fetch_stream(requests, now))

    def fetch_stream(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet | ProviderError]]:
        """Each mailbox's change set or error, as soon as it is read.

        The first delta page of each goes in batches of 20; the batches and the
        full reads run concurrently, within ``max_concurrency`` and the
        per-mailbox limit (the client's throttle).
        """
        tasks: list[Callable[[], Step]] = []
        pending: list[tuple[str, _Cursor]] = []
        for calendar, cursor in requests:
            state = _Cursor.decode(cursor)
            if state is None or self._stale(state, now):
                tasks.append(partial(self._full_task, calendar, now))
            else:
                pending.append((calendar, state))
        for start in range(0, len(pending), BATCH_SIZE):
            tasks.append(partial(self._chunk_task, pending[start : start + BATCH_SIZE], now))
        for calendar, outcome in stream_spawning(tasks, self.settings.max_concurrency):
            yield calendar, finish(outcome)  # mapped here, on the consumer's thread

    def _full_task(self, calendar: str, now: datetime) -> Step:
        return Spawned([(calendar, self._guarded(calendar, None, now))])

    def _chunk_task(self, chunk: Sequence[tuple[str, _Cursor]], now: datetime) -> Step:
        """One ``$batch`` of first delta pages; then what each changed mailbox still needs."""
        firsts = self._first_pages(chunk)
        # What follows a changed first page (more pages, the touched series) is
        # one mailbox's own requests: mailboxes go on at once, not one by one.
        return Spawned(more=[
            partial(self._follow_up, calendar, (state, firsts[calendar]), now)
            for calendar, state in chunk
        ])

    def _follow_up(
        self, calendar: str, first: tuple[_Cursor, Json | ProviderError], now: datetime
    ) -> Step:
        return Spawned([(calendar, self._guarded(calendar, first, now))])

    def _guarded(
        self,
        calendar: str,
        first: tuple[_Cursor, Json | ProviderError] | None,
        now: datetime,
    ) -> Mapped[ChangeSet] | ProviderError:
        """One mailbox's read (from its batched first page, or in full), or its error."""
        try:
            if first is None:
                return self._full(calendar, now)
            state, page = first
            try:
                if isinstance(page, ProviderError):
                    raise page
                return self._incremental(calendar, state, page, now)
            except CursorExpired:
                log.info("graph %s: delta token expired; full resync", calendar)
                return self._full(calendar, now)
        except ProviderError as exc:
            return exc

    def _first_pages(
        self, chunk: Sequence[tuple[str, _Cursor]]
    ) -> dict[str, Json | ProviderError]:
        """The first page of every mailbox's next delta round, in one ``$batch``."""
        requests = []
        for number, (_calendar, state) in enumerate(chunk):
            relative = self.client.relative(state.delta)
            assert relative is not None  # _stale() sent the others to a full read
            requests.append(
                {
                    "id": str(number),
                    "method": "GET",
                    "url": relative,
                    "headers": {"Prefer": self._delta_prefer()},
                }
            )
        try:
            answers = self.client.batch("batch", requests)
        except ProviderError as exc:
            return {calendar: exc for calendar, _ in chunk}
        out: dict[str, Json | ProviderError] = {}
        for number, (calendar, _state) in enumerate(chunk):
            item = answers[str(number)]
            status = int(item.get("status") or 0)
            body = item.get("body")
            if 200 <= status < 300 and isinstance(body, dict):
                out[calendar] = body
            else:
                out[calendar] = self.client.problem(calendar, status or 502, body, delta=True)
        return out

    def _delta_prefer(self) -> str:
        return f"odata.maxpagesize={self.settings.page_size}, {_READ_PREFER}"

    def _round(
        self, calendar: str, url: str, params: Mapping[str, str] | None, first: Json | None
    ) -> tuple[list[Json], str]:
        """Every entry of one delta round (the last of each id wins) and its delta link."""
        headers = {"Prefer": self._delta_prefer()}
        page = first
        if page is None:
            page = self.client.request(
                "GET", url, calendar, params=params, headers=headers, delta=True
            )
        entries: dict[str, Json] = {}
        for _ in range(MAX_PAGES):
            for item in page.get("value") or []:
                if isinstance(item, dict) and item.get("id"):
                    entries.pop(item["id"], None)  # a replay: keep the newest, in order
                    entries[item["id"]] = item
            link = page.get("@odata.deltaLink")
            if link:
                return list(entries.values()), str(link)
            next_link = page.get("@odata.nextLink")
            if not next_link or self.client.relative(str(next_link)) is None:
                raise ProviderError(calendar, "Graph ended a delta round without a usable link")
            page = self.client.request(
                "GET", str(next_link), calendar, headers=headers, delta=True
            )
        raise ProviderError(calendar, f"more than {MAX_PAGES} delta pages; giving up")

    def _full(self, calendar: str, now: datetime) -> Mapped[ChangeSet]:
        """Read the window in full; the returned call maps it (see the module doc)."""
        window = self._window(now)
        url = self.client.url(f"{user_path(calendar)}/calendarView/delta")
        try:
            entries, link = self._round(calendar, url, window_params(window), None)
        except CursorExpired:
            # A page token expired in the middle of the first round: start it once more.
            try:
                entries, link = self._round(calendar, url, window_params(window), None)
            except CursorExpired as exc:
                raise ProviderError(calendar, exc.message) from None
        live = [e for e in entries if not is_removed(e) and not is_tombstone(e)]
        instances: dict[str, list[Json]] = {}
        for entry in live:
            if is_instance(entry) and entry.get("seriesMasterId"):
                instances.setdefault(str(entry["seriesMasterId"]), []).append(entry)
        master_ids = set(instances)
        master_ids |= {str(e["id"]) for e in live if e.get("type") == "seriesMaster"}
        masters = self._get_many(
            calendar, {m: self._event_path(calendar, m) for m in sorted(master_ids)}
        )
        series = []
        warnings = []
        for master_id in sorted(master_ids):
            master = masters.get(master_id)
            if master is None:
                warnings.append(f"{calendar}: series {master_id} vanished while reading")
                continue
            if is_tombstone(master) or not master.get("recurrence"):
                continue
            series.append(SeriesData(master, instances.get(master_id, [])))
        singles = self._singles(calendar, live)
        replies = self._automatic_replies(calendar, window)
        return partial(self._map_full, singles, series, calendar, window, link, warnings, replies)

    def _map_full(
        self,
        singles: list[Json],
        series: list[SeriesData],
        calendar: str,
        window: Window,
        link: str,
        warnings: list[str],
        replies: list[Event],
    ) -> ChangeSet:
        events, mapped = to_events(
            singles, series, calendar, window, self.zone_of(calendar), self._owner(calendar)
        )
        events += replies
        return ChangeSet(
            events=tuple(events),
            full=True,
            window=window,
            cursor=_Cursor(link, window).encode(),
            warnings=tuple(warnings + mapped),
            unread_uids=tuple(sorted(mapped.skipped_uids)),
            pattern_keys=pattern_keys(series, self.zone_of(calendar)),
        )

    def _automatic_replies(self, calendar: str, window: Window) -> list[Event]:
        """Scheduled automatic replies as an away event, where the app may read them.

        Read with each full snapshot of the window (not every idle round: that
        would double the requests of a quiet team). Without
        ``MailboxSettings.Read`` (403) or on any error the calendar alone says
        who is away; the sync goes on.
        """
        owner = self._owner(calendar)
        if owner is None:
            return []
        try:
            settings = self.client.request(
                "GET", self.client.url(f"{user_path(calendar)}/mailboxSettings"), calendar
            )
        except ProviderError as exc:
            log.info("graph %s: automatic replies not read (%s)", calendar, exc.message)
            return []
        event = automatic_replies_event(settings, owner, window)
        return [event] if event is not None else []

    def _event_path(self, calendar: str, event_id: str, suffix: str = "") -> str:
        quoted = urllib.parse.quote(event_id, safe="")
        return f"/{user_path(calendar)}/events/{quoted}{suffix}?{_EXPAND_QUERY}"

    def _singles(self, calendar: str, entries: Iterable[Json]) -> list[Json]:
        """Single events of a round; the ones calsync created re-read with their tags."""
        singles = [
            e
            for e in entries
            if e.get("type", "singleInstance") == "singleInstance"
            and not e.get("seriesMasterId")
            and not is_tombstone(e)
        ]
        owned = {str(e["id"]): self._event_path(calendar, str(e["id"])) for e in singles
                 if is_owned(e)}
        if not owned:
            return singles
        fresh = self._get_many(calendar, owned)
        return [fresh.get(str(e["id"])) or e for e in singles]

    def _incremental(
        self, calendar: str, state: _Cursor, first: Json | None, now: datetime
    ) -> Mapped[ChangeSet]:
        """Read what the round touched; the returned call maps it."""
        entries, link = self._round(calendar, state.delta, None, first)
        cursor = _Cursor(link, state.window).encode()
        if not entries:
            return partial(ChangeSet, unchanged=True, cursor=cursor)
        window = state.window
        live = [e for e in entries if not is_removed(e)]
        tombstones = [str(e["id"]) for e in live if is_tombstone(e)]
        touched = {str(e["seriesMasterId"]) for e in live if is_instance(e)
                   and e.get("seriesMasterId")}
        touched |= {str(e["id"]) for e in live if e.get("type") == "seriesMaster"}
        removed = [str(e["id"]) for e in entries if is_removed(e)]
        if removed:
            found = self._get_many(calendar, {i: self._event_path(calendar, i) for i in removed})
            if any(item is None for item in found.values()):
                log.info("graph %s: something was deleted; reading the window in full", calendar)
                return self._full(calendar, now)
            for event_id, item in found.items():
                assert item is not None
                if is_instance(item) and item.get("seriesMasterId"):
                    touched.add(str(item["seriesMasterId"]))
                elif item.get("type") == "seriesMaster" and not is_tombstone(item):
                    touched.add(event_id)
                else:  # a single that left the window, or a cancelled meeting
                    tombstones.append(event_id)
        touched -= set(tombstones)
        series = self._series(calendar, sorted(touched), window)
        if series is None:
            return self._full(calendar, now)
        singles = self._singles(calendar, live)
        return partial(
            self._map_incremental, singles, series, calendar, window, cursor, tombstones
        )

    def _map_incremental(
        self,
        singles: list[Json],
        series: list[SeriesData],
        calendar: str,
        window: Window,
        cursor: str,
        tombstones: list[str],
    ) -> ChangeSet:
        events, warnings = to_events(
            singles, series, calendar, window, self.zone_of(calendar), self._owner(calendar)
        )
        return ChangeSet(
            events=tuple(events),
            deleted_remote_ids=tuple(dict.fromkeys(tombstones)),
            series_scope=tuple(sorted({series_uid(s.master) for s in series})),
            window=window,
            cursor=cursor,
            warnings=tuple(warnings),
            unread_uids=tuple(sorted(warnings.skipped_uids)),
            pattern_keys=pattern_keys(series, self.zone_of(calendar)),
        )

    def _series(
        self, calendar: str, master_ids: Sequence[str], window: Window
    ) -> list[SeriesData] | None:
        """Each series whole inside the window (master + instances); None if one is gone."""
        if not master_ids:
            return []
        query = urllib.parse.urlencode(
            {**window_params(window), "$top": str(self.settings.page_size)}
        )
        paths: dict[str, str] = {}
        for master_id in master_ids:
            paths[f"m:{master_id}"] = self._event_path(calendar, master_id)
            quoted = urllib.parse.quote(master_id, safe="")
            paths[f"i:{master_id}"] = f"/{user_path(calendar)}/events/{quoted}/instances?{query}"
        found = self._get_many(calendar, paths)
        out = []
        for master_id in master_ids:
            master, page = found[f"m:{master_id}"], found[f"i:{master_id}"]
            if master is None or page is None:
                return None
            if is_tombstone(master) or not master.get("recurrence"):
                continue
            instances = list(page.get("value") or [])
            for _ in range(MAX_PAGES):
                next_link = page.get("@odata.nextLink")
                if not next_link:
                    break
                if self.client.relative(str(next_link)) is None:
                    raise ProviderError(calendar, "Graph sent a link to another host")
                page = self.client.request(
                    "GET", str(next_link), calendar, headers={"Prefer": _READ_PREFER}
                )
                instances += page.get("value") or []
            out.append(SeriesData(master, instances))
        return out

    def free_busy(
        self, calendars: Sequence[str], window: Window
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Busy intervals per mailbox (free/busy only: no titles, no attendees).

        getSchedule takes at most 20 mailboxes and a range under 62 days per
        request, so both are cut into pieces. An unknown mailbox is an error
        item inside a 200: it raises ProviderError naming that mailbox.
        """
        busy: dict[str, set[tuple[datetime, datetime]]] = {c: set() for c in calendars}
        lookup = {c.lower(): c for c in calendars}
        ids = list(dict.fromkeys(calendars))
        spans = span_days(window.start, window.end, SCHEDULE_DAYS)
        for offset in range(0, len(ids), SCHEDULE_ITEMS):
            chunk = ids[offset : offset + SCHEDULE_ITEMS]
            who = "me" if self.settings.auth == "device_code" else user_path(chunk[0])
            for low, high in spans:
                body = {
                    "schedules": chunk,
                    "startTime": {"dateTime": _naive_utc(low), "timeZone": "UTC"},
                    "endTime": {"dateTime": _naive_utc(high), "timeZone": "UTC"},
                    "availabilityViewInterval": 30,
                }
                response = self.client.request(
                    "POST",
                    self.client.url(f"{who}/calendar/getSchedule"),
                    chunk[0],
                    body=body,
                    headers={"Prefer": 'outlook.timezone="UTC"'},
                )
                for entry in response.get("value") or []:
                    schedule = str(entry.get("scheduleId") or "")
                    calendar = lookup.get(schedule.lower(), schedule)
                    error = entry.get("error")
                    if error:
                        code = error.get("responseCode") or "error"
                        raise ProviderError(
                            calendar, f"free/busy unavailable ({code}: {error.get('message')})"
                        )
                    for item in entry.get("scheduleItems") or []:
                        if item.get("status") in FREE_STATUSES:
                            continue
                        busy.setdefault(calendar, set()).add(
                            (graph_instant(item["start"]), graph_instant(item["end"]))
                        )
        return {calendar: sorted(intervals) for calendar, intervals in busy.items()}
