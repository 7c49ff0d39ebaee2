"""Google Calendar API v3 through google-api-python-client.

One ``GoogleCalendar`` per configured provider. It reads with incremental sync
(``syncToken``), in batches of at most 50 calendars per HTTP request when one
credential reads them all; maps resources to neutral events with
``google_mapping``; answers free/busy; and writes only events calsync owns,
tagged with ``extendedProperties.private.calsyncKey``.

Everything Google-specific stays here: nothing outside knows what a
``recurringEventId`` or a ``syncToken`` is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from calsync.config import GoogleProvider
from calsync.model import AgendaBlock, ChangeSet, Window
from calsync.providers.base import (
    ApiCallCounter,
    CursorExpired,
    NewEvent,
    ProviderError,
    ReauthorizationNeeded,
    uncounted,
)
from calsync.providers.google.auth import CredentialSource
from calsync.providers.google.mapping import Json, is_tombstone, tag_key, tags_of, to_events

log = logging.getLogger(__name__)

PAGE_SIZE = 2500  # the API's maximum maxResults
BATCH_SIZE = 50  # calendars per batch request on an idle cycle
MAX_PAGES = 1000  # 2.5 million events: beyond that something is wrong
FREEBUSY_ITEMS = 50  # calendarExpansionMax
FREEBUSY_SPAN = timedelta(days=90)  # Google refuses long ranges; cal.com uses 90 days
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
CURSOR_REASONS = frozenset({"fullSyncRequired", "updatedMinTooLongAgo"})


def event_id_for(key: str) -> str:
    """A Google event id derived from a calsync key: base32hex, lowercase, 52 characters.

    The same key always gives the same id, so a second insert of the same
    make-up is refused by Google (409) instead of creating a duplicate.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(exc: HttpError) -> tuple[int, str, str]:
    """(status, reason, message) of a Google error response."""
    status = int(exc.resp.status)
    try:
        body = json.loads(exc.content.decode("utf-8", "replace"))
        error = body.get("error") or {}
        errors = error.get("errors") or [{}]
        return status, str(errors[0].get("reason", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return status, "", exc.content[:200].decode("utf-8", "replace") if exc.content else ""


def _retryable(status: int, reason: str) -> bool:
    if status == 403:
        # quotaExceeded is a daily/account limit: waiting seconds does not help.
        return reason in RATE_LIMIT_REASONS
    return status == 429 or status >= 500


def _retry_after(exc: HttpError) -> float | None:
    value = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


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


class GoogleCalendar:
    """Reader, batch reader, free/busy and owned writes for one Google provider."""

    def __init__(
        self,
        name: str,
        settings: GoogleProvider,
        credentials: CredentialSource,
        zone_of: Callable[[str], ZoneInfo],
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.credentials = credentials
        self.count_api_call = count_api_call
        self.zone_of = zone_of
        self.sleep = sleep
        self.rand = rand
        self._services: dict[str | None, _Client] = {}

    # -- plumbing -------------------------------------------------------------

    @property
    def batch_uri(self) -> str:
        return self.settings.api_endpoint + "batch/calendar/v3"

    def _service(self, calendar: str) -> _Client:
        """The API client for the credential that reads ``calendar`` (one per subject)."""
        subject = self.credentials.subject_for(calendar)
        if subject not in self._services:
            raw = httplib2.Http(timeout=self.settings.timeout)
            creds = self.credentials.credentials(subject, calendar)
            http = raw if creds is None else AuthorizedHttp(creds, http=raw)
            service = build(
                "calendar",
                "v3",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.settings.api_endpoint + "calendar/v3/"},
            )
            # Building a resource re-reads the discovery document: do it once.
            self._services[subject] = _Client(
                service.events(), service.freebusy(), service.channels(), http
            )
        return self._services[subject]

    def close(self) -> None:
        """Persist refreshed OAuth tokens and close connections."""
        self.credentials.save()
        for client in self._services.values():
            http = getattr(client.http, "http", client.http)  # AuthorizedHttp wraps one
            for connection in list(getattr(http, "connections", {}).values()):
                connection.close()
        self._services.clear()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 120.0)
        # Exponential backoff with full jitter, capped: 0.5 s, 1 s, 2 s ... 32 s.
        return min(32.0, 0.5 * 2**attempt) * (0.5 + self.rand() / 2)

    def _execute(self, request: HttpRequest, calendar: str, *, idempotent: bool = True) -> Json:
        """Run one request with the provider's retry policy; map errors to domain errors."""
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = request.execute(num_retries=0)
                self.count_api_call(self.name, "ok")
                return response
            except HttpError as exc:
                status, reason, message = _error(exc)
                if status == 410 and reason in CURSOR_REASONS:
                    self.count_api_call(self.name, "ok")  # an answer, not a failure
                    raise CursorExpired(calendar, "sync token no longer valid") from None
                if not _retryable(status, reason) or last:
                    self.count_api_call(self.name, "error")
                    raise self._domain_error(calendar, status, reason, message) from None
                self.count_api_call(self.name, "retry")
                delay = self._delay(attempt, _retry_after(exc))
                log.info("google %s: %s %s, retrying in %.1fs", calendar, status, reason, delay)
            except RefreshError as exc:
                raise self._reauth(calendar, exc) from None
            except GoogleAuthError as exc:
                raise ProviderError(calendar, f"Google credentials: {exc}") from None
            except (OSError, httplib2.HttpLib2Error) as exc:
                if not idempotent or last:
                    raise ProviderError(calendar, f"cannot reach Google: {exc}") from None
                delay = self._delay(attempt, None)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _domain_error(self, calendar: str, status: int, reason: str, message: str) -> Exception:
        if status == 401:
            return ReauthorizationNeeded(
                calendar,
                f"Google refused the credentials ({reason or message}); "
                f"run `calsync auth {self.name}` again",
            )
        if status == 404:
            return ProviderError(calendar, "no such Google calendar, or no access to it (404)")
        detail = f"{reason}: {message}" if reason else message
        return _HttpProblem(calendar, f"Google API error {status} ({detail})", status, reason)

    def _reauth(self, calendar: str, exc: RefreshError) -> ReauthorizationNeeded:
        # The exception text can echo parts of the token response: keep it out.
        kind = "revoked or expired" if "invalid_grant" in str(exc) else "could not be refreshed"
        return ReauthorizationNeeded(
            calendar,
            f"the Google grant was {kind}; run `calsync -c <config> auth {self.name}` again",
        )

    def _window(self, now: datetime) -> Window:
        return Window(
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )

    # -- reading ----------------------------------------------------------------

    def probe(self, calendar: str) -> str | None:
        try:
            client = self._service(calendar)
            self._execute(
                client.events.list(calendarId=calendar, maxResults=1, singleEvents=False),
                calendar,
            )
        except ProviderError as exc:
            return exc.message
        return None

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        client = self._service(calendar)
        state = _Cursor.decode(cursor)
        if state is None:
            return self._full(client, calendar, now)
        items, token = self._list_all(client, calendar, {"syncToken": state.token})
        return self._incremental(client, calendar, items, token, now)

    def fetch_many(
        self, requests: Sequence[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet | ProviderError]:
        """Fetch many calendars; incremental first pages go in batches of 50 per credential."""
        results: dict[str, ChangeSet | ProviderError] = {}
        groups: dict[str | None, list[tuple[str, _Cursor]]] = {}
        for calendar, cursor in requests:
            state = _Cursor.decode(cursor)
            if state is None:
                results[calendar] = self._guarded(calendar, now, None)
            else:
                subject = self.credentials.subject_for(calendar)
                groups.setdefault(subject, []).append((calendar, state))
        for members in groups.values():
            for start in range(0, len(members), BATCH_SIZE):
                chunk = members[start : start + BATCH_SIZE]
                states = dict(chunk)
                for calendar, outcome in self._batch_first_pages(chunk).items():
                    results[calendar] = self._guarded(
                        calendar, now, (states[calendar], outcome)
                    )
        return results

    def _guarded(
        self, calendar: str, now: datetime, first: tuple[_Cursor, Json | Exception] | None
    ) -> ChangeSet | ProviderError:
        """One calendar's change set from its batched first page (or in full), or its error."""
        try:
            if first is None:
                return self._full(self._service(calendar), calendar, now)
            try:
                return self._after_first_page(calendar, *first, now)
            except CursorExpired:
                log.info("google %s: sync token expired; full resync", calendar)
                return self._full(self._service(calendar), calendar, now)
        except ProviderError as exc:
            return exc

    def _batch_first_pages(
        self, chunk: Sequence[tuple[str, _Cursor]]
    ) -> dict[str, Json | Exception]:
        """One HTTP request for the first incremental page of every calendar in ``chunk``."""
        pending = dict(chunk)
        outcomes: dict[str, Json | Exception] = {}
        attempts = self.settings.max_retries + 1
        responses: dict[str, Json | HttpError] = {}

        def collect(request_id: str, response: Json, exception: Exception | None) -> None:
            responses[request_id] = exception if exception is not None else response

        for attempt in range(attempts):
            client = self._service(next(iter(pending)))
            responses.clear()
            batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
            for calendar, state in pending.items():
                batch.add(
                    client.events.list(
                        calendarId=calendar,
                        syncToken=state.token,
                        maxResults=PAGE_SIZE,
                        singleEvents=False,
                    ),
                    request_id=calendar,
                )
            try:
                batch.execute(http=client.http)
            except HttpError as exc:
                status, reason, message = _error(exc)
                if not _retryable(status, reason) or attempt == attempts - 1:
                    error = self._domain_error("batch", status, reason, message)
                    return {**outcomes, **{c: error for c in pending}}
                self.sleep(self._delay(attempt, _retry_after(exc)))
                continue
            except RefreshError as exc:
                return {**outcomes, **{c: self._reauth(c, exc) for c in pending}}
            except (OSError, httplib2.HttpLib2Error) as exc:
                if attempt == attempts - 1:
                    err = ProviderError("batch", f"cannot reach Google: {exc}")
                    return {**outcomes, **{c: err for c in pending}}
                self.sleep(self._delay(attempt, None))
                continue
            retry: dict[str, _Cursor] = {}
            wait = 0.0
            for calendar, state in pending.items():
                response = responses.get(calendar)
                if isinstance(response, HttpError):
                    status, reason, _ = _error(response)
                    if _retryable(status, reason) and attempt < attempts - 1:
                        retry[calendar] = state
                        wait = max(wait, self._delay(attempt, _retry_after(response)))
                        continue
                outcomes[calendar] = (
                    response if response is not None else ProviderError(calendar, "no response")
                )
            if not retry:
                return outcomes
            pending = retry
            self.sleep(wait)
        return outcomes

    def _after_first_page(
        self, calendar: str, state: _Cursor, outcome: Json | Exception, now: datetime
    ) -> ChangeSet:
        if isinstance(outcome, HttpError):
            status, reason, message = _error(outcome)
            if status == 410 and reason in CURSOR_REASONS:
                raise CursorExpired(calendar, "sync token no longer valid")
            raise self._domain_error(calendar, status, reason, message)
        if isinstance(outcome, Exception):
            raise outcome
        items = list(outcome.get("items") or [])
        token = outcome.get("nextSyncToken")
        client = self._service(calendar)
        if outcome.get("nextPageToken"):
            more, token = self._list_all(
                client, calendar, {"syncToken": state.token}, page=outcome["nextPageToken"]
            )
            items += more
        return self._incremental(client, calendar, items, token, now)

    def _pages(
        self, client: _Client, calendar: str, params: Mapping[str, Any], page: str | None = None
    ) -> Iterator[Json]:
        for _ in range(MAX_PAGES):
            request = client.events.list(
                calendarId=calendar,
                maxResults=PAGE_SIZE,
                singleEvents=False,
                **({"pageToken": page} if page else {}),
                **params,
            )
            response = self._execute(request, calendar)
            yield response
            page = response.get("nextPageToken")
            if not page:
                return
        raise ProviderError(calendar, f"more than {MAX_PAGES} pages; giving up")

    def _list_all(
        self, client: _Client, calendar: str, params: Mapping[str, Any], page: str | None = None
    ) -> tuple[list[Json], str | None]:
        """Every item of a listing (from ``page`` on) and the sync token of its last page."""
        items: list[Json] = []
        token = None
        for response in self._pages(client, calendar, params, page):
            items.extend(response.get("items") or [])
            token = response.get("nextSyncToken") or token
        return items, token

    def _full(self, client: _Client, calendar: str, now: datetime) -> ChangeSet:
        window = self._window(now)
        items, token = self._list_all(client, calendar, {"timeMin": _rfc3339(window.start)})
        if token is None:
            raise ProviderError(calendar, "Google sent no sync token on the last page")
        live = [item for item in items if not is_tombstone(item)]
        masters = self._missing_masters(client, calendar, live)
        events, warnings = to_events(live, calendar, window, self.zone_of(calendar), masters)
        return ChangeSet(
            events=tuple(events),
            full=True,
            window=window,
            cursor=_Cursor(token).encode(),
            warnings=tuple(warnings),
        )

    def _missing_masters(
        self, client: _Client, calendar: str, items: Sequence[Json]
    ) -> dict[str, Json]:
        """Masters of listed instances that the listing itself did not include."""
        have = {item["id"] for item in items if item.get("recurrence")}
        wanted = {item["recurringEventId"] for item in items if "recurringEventId" in item}
        masters = {}
        for master_id in sorted(wanted - have):
            try:
                master = self._execute(
                    client.events.get(calendarId=calendar, eventId=master_id), calendar
                )
            except _HttpProblem as exc:
                if exc.status in (404, 410):
                    continue
                raise
            except ProviderError:
                continue
            masters[master_id] = master
        return masters

    def _series(self, client: _Client, calendar: str, master_id: str) -> list[Json] | None:
        """A series' master and every exception, or None when the series is gone."""
        try:
            master = self._execute(
                client.events.get(calendarId=calendar, eventId=master_id), calendar
            )
        except _HttpProblem as exc:
            if exc.status in (404, 410):
                return None
            raise
        if master.get("status") == "cancelled" or not master.get("recurrence"):
            return None if master.get("status") == "cancelled" else [master]
        items, _ = self._list_all(
            client,
            calendar,
            {"iCalUID": master.get("iCalUID") or master["id"], "showDeleted": True},
        )
        series = [item for item in items if item.get("id") == master_id
                  or item.get("recurringEventId") == master_id]
        if not any(item.get("id") == master_id for item in series):
            series.append(master)
        return series

    def _incremental(
        self,
        client: _Client,
        calendar: str,
        items: Sequence[Json],
        token: str | None,
        now: datetime,
    ) -> ChangeSet:
        if token is None:
            raise ProviderError(calendar, "Google sent no sync token on the last page")
        if not items:
            return ChangeSet(unchanged=True, cursor=_Cursor(token).encode())
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
        for master_id in sorted(touched):
            fetched = self._series(client, calendar, master_id)
            if fetched is None:
                deleted.append(master_id)
                continue
            series_items.extend(fetched)
            master = next(item for item in fetched if item["id"] == master_id)
            scope.append(master.get("iCalUID") or master_id)
        events, warnings = to_events(
            singles + series_items, calendar, window, self.zone_of(calendar)
        )
        return ChangeSet(
            events=tuple(events),
            deleted_remote_ids=tuple(deleted),
            series_scope=tuple(scope),
            window=window,
            cursor=_Cursor(token).encode(),
            warnings=tuple(warnings),
        )

    # -- free/busy ----------------------------------------------------------------

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
            client = self._service(chunk[0])
            for lo, hi in spans:
                body = {
                    "timeMin": _rfc3339(lo),
                    "timeMax": _rfc3339(hi),
                    "timeZone": "UTC",
                    "items": [{"id": c} for c in chunk],
                }
                response = self._execute(client.freebusy.query(body=body), chunk[0])
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

    # -- writes (only what calsync owns) -------------------------------------------

    def find_owned(self, calendar: str, key: str) -> Json | None:
        """The live event tagged with ``key``, if calsync already created it."""
        client = self._service(calendar)
        items, _ = self._list_all(
            client, calendar, {"privateExtendedProperty": f"{tag_key('key')}={key}"}
        )
        live = [item for item in items if item.get("status") != "cancelled"]
        return live[0] if live else None

    def create_event(self, calendar: str, body: Json, key: str) -> Json:
        """Create an owned event exactly once: look for the key, then insert with a derived id."""
        existing = self.find_owned(calendar, key)
        if existing is not None:
            return existing
        client = self._service(calendar)
        private = dict(((body.get("extendedProperties") or {}).get("private")) or {})
        private[tag_key("key")] = key
        payload = {
            **body,
            "id": event_id_for(key),
            "extendedProperties": {"private": private},
        }
        request = client.events.insert(
            calendarId=calendar, body=payload, sendUpdates=self.settings.send_updates
        )
        try:
            return self._execute(request, calendar)
        except _HttpProblem as exc:
            if exc.status != 409:
                raise
            # Our own earlier attempt got through (a retry, a crash, another worker).
            return self._execute(
                client.events.get(calendarId=calendar, eventId=event_id_for(key)), calendar
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
        client = self._service(calendar)
        for _ in range(attempts):
            current = self._execute(
                client.events.get(calendarId=calendar, eventId=event_id), calendar
            )
            if owned_key is not None and tags_of(current).get("key") != owned_key:
                raise ProviderError(calendar, f"event {event_id} is not calsync's to change")
            fields = change(current)
            if not fields:
                return current
            request = client.events.patch(
                calendarId=calendar,
                eventId=event_id,
                body=fields,
                sendUpdates=self.settings.send_updates,
            )
            request.headers["If-Match"] = current["etag"]
            try:
                return self._execute(request, calendar)
            except _HttpProblem as exc:
                if exc.status != 412:
                    raise
                log.info("google %s: %s changed underneath; re-reading", calendar, event_id)
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def delete_event(self, calendar: str, event_id: str, key: str) -> None:
        """Delete an event calsync created (tagged with ``key``); already gone is fine."""
        client = self._service(calendar)
        try:
            current = self._execute(
                client.events.get(calendarId=calendar, eventId=event_id), calendar
            )
        except _HttpProblem as exc:
            if exc.status in (404, 410):
                return
            raise
        if tags_of(current).get("key") != key:
            raise ProviderError(calendar, f"event {event_id} is not calsync's to delete")
        if current.get("status") == "cancelled":
            return
        request = client.events.delete(
            calendarId=calendar, eventId=event_id, sendUpdates=self.settings.send_updates
        )
        request.headers["If-Match"] = current["etag"]
        try:
            self._execute(request, calendar)
        except _HttpProblem as exc:
            if exc.status not in (404, 410):
                raise


    # -- the neutral writer port ------------------------------------------------------

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """CalendarWriter: a make-up on the organizer's calendar, both people invited."""
        private = {tag_key(name): value for name, value in event.tags.items()}
        body: Json = {
            "summary": event.title,
            "description": event.description,
            "start": {"dateTime": _local(event.start, event.timezone), "timeZone": event.timezone},
            "end": {"dateTime": _local(event.end, event.timezone), "timeZone": event.timezone},
            "organizer": {"email": event.organizer},
            "attendees": [
                {"email": email, **({"organizer": True, "responseStatus": "accepted"}
                                    if email == event.organizer else {})}
                for email in event.attendees
            ],
            "extendedProperties": {"private": private},
            "reminders": {"useDefault": True},
        }
        return str(self.create_event(calendar, body, key)["id"])

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        """CalendarWriter: the agenda block, with If-Match and a re-read on 412."""

        def fields(current: Json) -> Json | None:
            updated = block.applied_to(current.get("description") or "")
            return None if updated is None else {"description": updated}

        self.patch_event(calendar, remote_id, fields)

    # -- push channels ------------------------------------------------------------------

    def watch(self, calendar: str, address: str, token: str, ttl: timedelta) -> Json:
        """Open a push channel on ``calendar``; Google POSTs to ``address`` on changes."""
        client = self._service(calendar)
        channel = hashlib.sha256(f"{calendar}|{time.time_ns()}".encode()).hexdigest()[:40]
        body = {
            "id": f"calsync-{channel}",
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(int(ttl.total_seconds()))},
        }
        return self._execute(client.events.watch(calendarId=calendar, body=body), calendar)

    def stop_channel(self, calendar: str, channel_id: str, resource_id: str) -> None:
        client = self._service(calendar)
        request = client.channels.stop(body={"id": channel_id, "resourceId": resource_id})
        try:
            self._execute(request, calendar)
        except _HttpProblem as exc:
            if exc.status not in (404, 410):
                raise


class _Client(NamedTuple):
    events: Any
    freebusy: Any
    channels: Any
    http: httplib2.Http


class _HttpProblem(ProviderError):
    """A Google error response that callers may inspect (status, reason)."""

    def __init__(self, calendar: str, message: str, status: int, reason: str) -> None:
        super().__init__(calendar, message)
        self.status = status
        self.reason = reason


def _local(instant: datetime, zone: str) -> str:
    """Wall time in ``zone`` without offset, as Google wants it beside a timeZone."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
