"""Microsoft 365 / Outlook calendars through Microsoft Graph v1.0, over httpx.

One ``OutlookCalendar`` per configured provider. It reads each mailbox's
primary calendar with ``calendarView/delta`` over a window (``@odata.nextLink``
pages, ``@odata.deltaLink`` stored as the cursor, ``Prefer:
odata.maxpagesize`` and ``outlook.timezone="UTC"``); fetches idle mailboxes in
JSON ``$batch`` requests of 20 (an idle cycle over C mailboxes is
ceil(C / 20) HTTP requests); answers free/busy with ``getSchedule``; and writes
only events calsync owns, marked by ``transactionId`` and a single-value
extended property holding the calsync key. ``outlook_mapping`` turns the
resources into neutral events; ``outlook_auth`` provides the tokens.

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

The delta link carries its window. Once the stored window's end falls a week
behind ``now + future_days``, the mailbox is read in full with a new window.

Everything Graph-specific stays here: nothing outside knows what a
``seriesMasterId`` or a ``$deltatoken`` is.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from calsync.config import OutlookProvider, is_loopback_url
from calsync.model import AgendaBlock, ChangeSet, Window
from calsync.providers.base import (
    ApiCallCounter,
    CursorExpired,
    NewEvent,
    ProviderError,
    ReauthorizationNeeded,
    uncounted,
)
from calsync.providers.outlook.auth import TokenSource
from calsync.providers.outlook.mapping import (
    KEY_PROPERTY,
    TAGS_PROPERTY,
    TRANSACTION_PREFIX,
    Json,
    SeriesData,
    graph_instant,
    html_text,
    is_instance,
    is_owned,
    is_removed,
    is_tombstone,
    series_uid,
    span_days,
    tags_of,
    to_events,
    window_params,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 20  # Graph's JSON batch limit
MAX_PAGES = 2000  # of one delta round or listing: beyond that something is wrong
SCHEDULE_ITEMS = 20  # getSchedule: at most 20 schedules per request
SCHEDULE_DAYS = 61  # getSchedule: a range under 62 days
WINDOW_SLACK = timedelta(days=7)
CURSOR_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
FREE_STATUSES = frozenset({"free", "workingElsewhere", "unknown"})
EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY}' or id eq '{TAGS_PROPERTY}')"
)
_EXPAND_QUERY = "$expand=" + urllib.parse.quote(EXPAND, safe="")
_READ_PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'
_NO_MAILBOX = frozenset({"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI"})


def transaction_id_for(key: str) -> str:
    """The ``transactionId`` of the event calsync creates for ``key`` (same key, same id)."""
    return TRANSACTION_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def _odata_string(text: str) -> str:
    return text.replace("'", "''")


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status not in (501, 505))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_of(status: int, body: Any) -> tuple[int, str, str]:
    """(status, code, message) of a Graph error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return status, str(error.get("code") or ""), str(error.get("message") or "")
    return status, "", ""


def _json_of(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}


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


class _HttpProblem(ProviderError):
    """A Graph error response that callers may inspect (status, code)."""

    def __init__(self, calendar: str, message: str, status: int, code: str) -> None:
        super().__init__(calendar, message)
        self.status = status
        self.code = code


class OutlookCalendar:
    """Reader, batch reader, free/busy and owned writes for one Microsoft 365 provider."""

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
        self.count_api_call = count_api_call
        self.settings = settings
        self.tokens = tokens
        self.zone_of = zone_of
        self.owners = dict(owners or {})
        self.sleep = sleep
        self.rand = rand
        self.base = settings.graph_endpoint.rstrip("/")
        self._client = httpx.Client(
            timeout=settings.timeout,
            transport=transport,
            # A loopback emulator must not go through a proxy from the environment.
            trust_env=not is_loopback_url(self.base),
        )
        self._token: str | None = None

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        """Persist msal's token cache and drop connections."""
        self.tokens.save()
        self._client.close()

    def _user(self, calendar: str) -> str:
        return "users/" + urllib.parse.quote(calendar, safe="@")

    def _url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def _relative(self, link: str) -> str | None:
        """A link on our Graph endpoint as a batch-relative URL; None when elsewhere."""
        if link.startswith(self.base + "/"):
            return link[len(self.base) :]
        return None

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
            or self._relative(state.delta) is None
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 120.0)
        # Exponential backoff with jitter, capped: 0.5 s, 1 s, 2 s ... 32 s.
        return min(32.0, 0.5 * 2**attempt) * (0.5 + self.rand() / 2)

    def _auth(self, calendar: str, *, refresh: bool = False) -> dict[str, str]:
        """The Authorization header; msal's cache answers until the token nears expiry."""
        self._token = self.tokens.token(calendar, refresh=refresh)
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _http(
        self,
        method: str,
        url: str,
        calendar: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """One request with the retry policy: 429/5xx honour Retry-After, else backoff."""
        attempts = self.settings.max_retries + 1
        refreshed = False
        for attempt in range(attempts):
            last = attempt == attempts - 1
            send = {**(headers or {}), **self._auth(calendar)}
            try:
                response = self._client.request(
                    method, url, params=params, json=body, headers=send
                )
            except httpx.TransportError as exc:
                if not idempotent or last:
                    self.count_api_call(self.name, "error")
                    raise ProviderError(calendar, f"cannot reach Microsoft Graph: {exc}") from None
                self.count_api_call(self.name, "retry")
                delay = self._delay(attempt, None)
                log.info("graph %s: %s, retrying in %.1fs", calendar, exc, delay)
                self.sleep(delay)
                continue
            if response.status_code == 401 and not refreshed and self._token and not last:
                refreshed = True  # an expired token: fetch a fresh one, once
                self.count_api_call(self.name, "retry")
                self._auth(calendar, refresh=True)
                continue
            if _retryable(response.status_code) and not last:
                self.count_api_call(self.name, "retry")
                delay = self._delay(attempt, _retry_after(response.headers))
                log.info(
                    "graph %s: %s %s, retrying in %.1fs", calendar, method,
                    response.status_code, delay,
                )
                self.sleep(delay)
                continue
            # As for Google: an expired delta link (410) is an answer, not a failure.
            failed = response.status_code >= 400 and response.status_code != 410
            self.count_api_call(self.name, "error" if failed else "ok")
            return response
        raise AssertionError("unreachable")

    def _request(
        self,
        method: str,
        url: str,
        calendar: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delta: bool = False,
        idempotent: bool = True,
    ) -> Json:
        response = self._http(
            method, url, calendar, params=params, body=body, headers=headers,
            idempotent=idempotent,
        )
        payload = _json_of(response)
        if 200 <= response.status_code < 300:
            return payload if isinstance(payload, dict) else {}
        raise self._problem(calendar, response.status_code, payload, delta=delta)

    def _problem(self, calendar: str, status: int, body: Any, *, delta: bool) -> ProviderError:
        status, code, message = _error_of(status, body)
        if delta and (status == 410 or code.lower() in CURSOR_CODES):
            return CursorExpired(calendar, f"delta token no longer valid ({code or status})")
        if status == 401:
            if self.settings.auth == "device_code":
                return ReauthorizationNeeded(
                    calendar,
                    f"Microsoft Graph refused the token ({code or message}); "
                    f"run `calsync -c <config> auth {self.name}` again",
                )
            return ProviderError(
                calendar, f"Microsoft Graph refused the app's token (401 {code})"
            )
        if status == 403:
            return _HttpProblem(
                calendar,
                f"no access to this mailbox (403 {code}): the app needs the Calendars "
                "permission, and an application access policy may exclude the mailbox",
                status,
                code,
            )
        if status == 404 and code in _NO_MAILBOX:
            return _HttpProblem(calendar, f"no such mailbox ({status} {code})", status, code)
        detail = f"{code}: {message}" if code else message or "no details"
        return _HttpProblem(calendar, f"Microsoft Graph error {status} ({detail})", status, code)

    # -- $batch -----------------------------------------------------------------

    def _batch(self, label: str, requests: Sequence[Json]) -> dict[str, Json]:
        """Run up to 20 requests in one ``$batch``; retry inner 429/5xx; id -> response item.

        Raises a ProviderError only when the batch itself fails.
        """
        pending = {str(r["id"]): dict(r) for r in requests}
        out: dict[str, Json] = {}
        attempts = self.settings.max_retries + 1
        refreshed = False
        for attempt in range(attempts):
            last = attempt == attempts - 1
            envelope = self._request(
                "POST", self._url("$batch"), label, body={"requests": list(pending.values())}
            )
            retry: dict[str, Json] = {}
            wait = 0.0
            expired = False
            for item in envelope.get("responses") or []:
                item_id = str(item.get("id"))
                if item_id not in pending:
                    continue
                status = int(item.get("status") or 0)
                if status == 401 and not refreshed and self._token and not last:
                    expired = True  # the token expired between two batches
                    retry[item_id] = pending[item_id]
                elif _retryable(status) and not last:
                    retry[item_id] = pending[item_id]
                    wait = max(wait, self._delay(attempt, _retry_after(item.get("headers"))))
                else:
                    out[item_id] = item
            for item_id in pending:
                if item_id not in out and item_id not in retry:
                    out[item_id] = {"id": item_id, "status": 502, "body": {}}
            if not retry:
                return out
            if expired:
                refreshed = True
                self._auth(label, refresh=True)
            pending = retry
            log.info("graph batch: %d requests to retry in %.1fs", len(retry), wait)
            self.sleep(wait)
        return out

    def _get_many(
        self, calendar: str, paths: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> dict[str, Json | None]:
        """GET many relative paths in batches of 20; key -> body, or None for 404/410."""
        keys = list(paths)
        out: dict[str, Json | None] = {}
        for start in range(0, len(keys), BATCH_SIZE):
            chunk = keys[start : start + BATCH_SIZE]
            requests = [
                {
                    "id": str(number),
                    "method": "GET",
                    "url": paths[key],
                    "headers": {"Prefer": _READ_PREFER, **(headers or {})},
                }
                for number, key in enumerate(chunk)
            ]
            answers = self._batch(calendar, requests)
            for number, key in enumerate(chunk):
                item = answers[str(number)]
                status = int(item.get("status") or 0)
                body = item.get("body")
                if 200 <= status < 300 and isinstance(body, dict):
                    out[key] = body
                elif status in (404, 410):
                    out[key] = None
                else:
                    raise self._problem(calendar, status or 502, body, delta=False)
        return out

    # -- reading ----------------------------------------------------------------

    def probe(self, calendar: str) -> str | None:
        try:
            self._request("GET", self._url(f"{self._user(calendar)}/calendar"), calendar)
        except ProviderError as exc:
            return exc.message
        return None

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        state = _Cursor.decode(cursor)
        if state is None or self._stale(state, now):
            return self._full(calendar, now)
        return self._incremental(calendar, state, None, now)

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        """Fetch many mailboxes; the first delta page of each goes in batches of 20."""
        results: dict[str, ChangeSet | ProviderError] = {}
        pending: list[tuple[str, _Cursor]] = []
        for calendar, cursor in requests:
            state = _Cursor.decode(cursor)
            if state is None or self._stale(state, now):
                results[calendar] = self._guarded(calendar, None, now)
            else:
                pending.append((calendar, state))
        for start in range(0, len(pending), BATCH_SIZE):
            chunk = pending[start : start + BATCH_SIZE]
            firsts = self._first_pages(chunk)
            for calendar, state in chunk:
                results[calendar] = self._guarded(calendar, (state, firsts[calendar]), now)
        return results

    def _guarded(
        self,
        calendar: str,
        first: tuple[_Cursor, Json | ProviderError] | None,
        now: datetime,
    ) -> ChangeSet | ProviderError:
        """One mailbox's change set (from its batched first page, or in full), or its error."""
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
            relative = self._relative(state.delta)
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
            answers = self._batch("batch", requests)
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
                out[calendar] = self._problem(calendar, status or 502, body, delta=True)
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
            page = self._request("GET", url, calendar, params=params, headers=headers, delta=True)
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
            if not next_link or self._relative(str(next_link)) is None:
                raise ProviderError(calendar, "Graph ended a delta round without a usable link")
            page = self._request("GET", str(next_link), calendar, headers=headers, delta=True)
        raise ProviderError(calendar, f"more than {MAX_PAGES} delta pages; giving up")

    def _full(self, calendar: str, now: datetime) -> ChangeSet:
        window = self._window(now)
        url = self._url(f"{self._user(calendar)}/calendarView/delta")
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
        events, mapped = to_events(
            singles, series, calendar, window, self.zone_of(calendar), self._owner(calendar)
        )
        return ChangeSet(
            events=tuple(events),
            full=True,
            window=window,
            cursor=_Cursor(link, window).encode(),
            warnings=tuple(warnings + mapped),
        )

    def _event_path(self, calendar: str, event_id: str, suffix: str = "") -> str:
        quoted = urllib.parse.quote(event_id, safe="")
        return f"/{self._user(calendar)}/events/{quoted}{suffix}?{_EXPAND_QUERY}"

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
    ) -> ChangeSet:
        entries, link = self._round(calendar, state.delta, None, first)
        cursor = _Cursor(link, state.window).encode()
        if not entries:
            return ChangeSet(unchanged=True, cursor=cursor)
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
            paths[f"i:{master_id}"] = f"/{self._user(calendar)}/events/{quoted}/instances?{query}"
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
                if self._relative(str(next_link)) is None:
                    raise ProviderError(calendar, "Graph sent a link to another host")
                page = self._request(
                    "GET", str(next_link), calendar, headers={"Prefer": _READ_PREFER}
                )
                instances += page.get("value") or []
            out.append(SeriesData(master, instances))
        return out

    # -- free/busy ----------------------------------------------------------------

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
            who = "me" if self.settings.auth == "device_code" else self._user(chunk[0])
            for low, high in spans:
                body = {
                    "schedules": chunk,
                    "startTime": {"dateTime": _naive_utc(low), "timeZone": "UTC"},
                    "endTime": {"dateTime": _naive_utc(high), "timeZone": "UTC"},
                    "availabilityViewInterval": 30,
                }
                response = self._request(
                    "POST",
                    self._url(f"{who}/calendar/getSchedule"),
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

    # -- writes (only what calsync owns) -------------------------------------------

    def _item_url(self, calendar: str, event_id: str, suffix: str = "") -> str:
        return self._url(
            f"{self._user(calendar)}/events/{urllib.parse.quote(event_id, safe='')}{suffix}"
        )

    def _read(self, calendar: str, event_id: str) -> Json | None:
        """An event with calsync's extended properties; None when it is gone."""
        try:
            return self._request(
                "GET",
                self._item_url(calendar, event_id),
                calendar,
                params={"$expand": EXPAND},
                headers={"Prefer": 'outlook.timezone="UTC"'},
            )
        except _HttpProblem as exc:
            if exc.status in (404, 410):
                return None
            raise

    def find_owned(self, calendar: str, key: str) -> Json | None:
        """The live event tagged with ``key``, if calsync already created it."""
        query = (
            f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' "
            f"and ep/value eq '{_odata_string(key)}')"
        )
        url = self._url(f"{self._user(calendar)}/events")
        params: Mapping[str, str] | None = {"$filter": query, "$expand": EXPAND}
        headers = {"Prefer": 'outlook.timezone="UTC"'}
        for _ in range(MAX_PAGES):
            page = self._request("GET", url, calendar, params=params, headers=headers)
            for item in page.get("value") or []:
                if not item.get("isCancelled") and tags_of(item).get("key") == key:
                    return item
            next_link = page.get("@odata.nextLink")
            if not next_link or self._relative(str(next_link)) is None:
                return None
            url, params = str(next_link), None
        return None

    def create_event(
        self, calendar: str, body: Json, key: str, tags: Mapping[str, str] | None = None
    ) -> Json:
        """Create an owned event exactly once.

        Looks for the key first (a restart or another worker created it), then
        POSTs with a ``transactionId`` derived from the key, so a retried POST
        whose first answer was lost returns the first event instead of a copy.
        ``tags`` (``pair``, ``for``, ...) are stored next to the key.
        """
        existing = self.find_owned(calendar, key)
        if existing is not None:
            return existing
        properties = [
            p for p in body.get("singleValueExtendedProperties") or ()
            if str(p.get("id")).lower() not in (KEY_PROPERTY.lower(), TAGS_PROPERTY.lower())
        ]
        properties.append({"id": KEY_PROPERTY, "value": key})
        extra = {k: v for k, v in (tags or {}).items() if k != "key"}
        if extra:
            properties.append({"id": TAGS_PROPERTY, "value": json.dumps(extra, sort_keys=True)})
        payload = {
            **body,
            "transactionId": transaction_id_for(key),
            "singleValueExtendedProperties": properties,
        }
        # Safe to retry: Graph answers a repeated transactionId with the first event.
        return self._request(
            "POST", self._url(f"{self._user(calendar)}/events"), calendar, body=payload,
            headers={"Prefer": 'outlook.timezone="UTC"'},
        )

    def patch_event(
        self,
        calendar: str,
        event_id: str,
        change: Callable[[Json], Json | None],
        *,
        owned_key: str | None = None,
        attempts: int = 3,
    ) -> Json:
        """Patch with ``If-Match``; on 412 re-read and recompute the change.

        ``change`` gets the current resource and returns the fields to patch,
        or None when nothing needs to change. With ``owned_key`` the event must
        carry that calsync key.
        """
        for _ in range(attempts):
            current = self._read(calendar, event_id)
            if current is None:
                raise ProviderError(calendar, f"event {event_id} no longer exists")
            if owned_key is not None and tags_of(current).get("key") != owned_key:
                raise ProviderError(calendar, f"event {event_id} is not calsync's to change")
            fields = change(current)
            if not fields:
                return current
            try:
                return self._request(
                    "PATCH",
                    self._item_url(calendar, event_id),
                    calendar,
                    body=fields,
                    headers={
                        "If-Match": str(current.get("@odata.etag") or "*"),
                        "Prefer": 'outlook.timezone="UTC"',
                    },
                )
            except _HttpProblem as exc:
                if exc.status != 412:
                    raise
                log.info("graph %s: %s changed underneath; re-reading", calendar, event_id)
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def _owned(self, calendar: str, event_id: str, key: str) -> Json | None:
        current = self._read(calendar, event_id)
        if current is not None and tags_of(current).get("key") != key:
            raise ProviderError(calendar, f"event {event_id} is not calsync's to delete")
        return current

    def delete_event(self, calendar: str, event_id: str, key: str, *, attempts: int = 3) -> None:
        """Delete an event calsync created (tagged with ``key``); already gone is fine.

        Deleting a meeting from the organizer's calendar also cancels it for
        the attendees.
        """
        for _ in range(attempts):
            current = self._owned(calendar, event_id, key)
            if current is None:
                return
            response = self._http(
                "DELETE",
                self._item_url(calendar, event_id),
                calendar,
                headers={"If-Match": str(current.get("@odata.etag") or "*")},
            )
            if response.status_code in (204, 200, 404, 410):
                return
            if response.status_code != 412:
                raise self._problem(calendar, response.status_code, _json_of(response), delta=False)
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def cancel_event(self, calendar: str, event_id: str, key: str, comment: str = "") -> None:
        """Cancel a meeting calsync organized (tagged with ``key``), with a message.

        Only the organizer can cancel; the attendees get the cancellation.
        """
        current = self._owned(calendar, event_id, key)
        if current is None:
            return
        if not current.get("isOrganizer", True):
            raise ProviderError(calendar, f"event {event_id}: only its organizer can cancel it")
        try:
            # Not repeated after a network error: a cancel that got through leaves a 404.
            self._request(
                "POST", self._item_url(calendar, event_id, "/cancel"), calendar,
                body={"comment": comment}, idempotent=False,
            )
        except _HttpProblem as exc:
            if exc.status not in (404, 410):
                raise

    # -- CalendarWriter ------------------------------------------------------------------

    # -- change notifications (subscriptions) ------------------------------------

    def subscribe(
        self, calendar: str, notification_url: str, client_state: str, expires: datetime
    ) -> Json:
        """Ask Graph to POST changes of ``calendar``'s events to ``notification_url``.

        Graph validates the URL before answering (the daemon's /push/graph echoes
        the token), so the daemon's server must already be listening.
        """
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"/{self._user(calendar)}/events",
            "expirationDateTime": _graph_instant(expires),
            "clientState": client_state,
        }
        return self._request(
            "POST", self._url("subscriptions"), calendar, body=body, idempotent=False
        )

    def renew_subscription(self, calendar: str, subscription_id: str, expires: datetime) -> Json:
        body = {"expirationDateTime": _graph_instant(expires)}
        path = "subscriptions/" + urllib.parse.quote(subscription_id, safe="")
        return self._request("PATCH", self._url(path), calendar, body=body)

    def delete_subscription(self, calendar: str, subscription_id: str) -> None:
        path = "subscriptions/" + urllib.parse.quote(subscription_id, safe="")
        try:
            self._request("DELETE", self._url(path), calendar)
        except ProviderError as exc:
            if getattr(exc, "status", None) != 404:
                raise

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """CalendarWriter: a make-up on the organizer's mailbox, the others invited."""
        zone = ZoneInfo(event.timezone)
        body: Json = {
            "subject": event.title,
            "body": {"contentType": "text", "content": event.description},
            "start": {"dateTime": _local(event.start, zone), "timeZone": event.timezone},
            "end": {"dateTime": _local(event.end, zone), "timeZone": event.timezone},
            "attendees": [
                {"type": "required", "emailAddress": {"address": email}}
                for email in event.attendees
                if email.lower() != event.organizer.lower()
            ],
            "isReminderOn": True,
        }
        return str(self.create_event(calendar, body, key, event.tags)["id"])

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        """CalendarWriter: the agenda block, with If-Match and a re-read on 412.

        A text body is rewritten as text. An HTML body (Outlook's usual, with
        Teams links and formatting) keeps its markup: the block is decided on
        its text, and only calsync's block is replaced or added, as an HTML
        fragment.
        """
        change = block.applied_to

        def fields(current: Json) -> Json | None:
            body = current.get("body") or {}
            content = str(body.get("content") or "")
            if str(body.get("contentType") or "text").lower() != "html":
                updated = change(content)
                return None if updated is None else {
                    "body": {"contentType": "text", "content": updated}
                }
            updated = change(html_text(content))
            markup = content if updated is None else _with_html_block(content, updated)
            if markup == content:
                return None
            return {"body": {"contentType": "html", "content": markup}}

        self.patch_event(calendar, remote_id, fields)


def _naive_utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


_HTML_BLOCK = re.compile(
    r"(?:<div[^>]*>\s*)?" + re.escape(html.escape(AgendaBlock.BEGIN, quote=False)) + r".*?"
    + re.escape(html.escape(AgendaBlock.END, quote=False)) + r"(?:\s*</div>)?",
    re.DOTALL,
)


def _with_html_block(markup: str, updated_text: str) -> str:
    """``markup`` with calsync's block (as it appears in ``updated_text``) replaced or added."""
    start, end = updated_text.find(AgendaBlock.BEGIN), updated_text.rfind(AgendaBlock.END)
    without = _HTML_BLOCK.sub("", markup)
    if start < 0 or end < 0:
        return without  # the change removed the block
    lines = updated_text[start : end + len(AgendaBlock.END)].split("\n")
    fragment = "<div>" + "<br>".join(html.escape(line, quote=False) for line in lines) + "</div>"
    closing = re.search(r"(?i)</body>", without)
    if closing is None:
        return without + fragment
    return without[: closing.start()] + fragment + without[closing.start() :]


def _graph_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
