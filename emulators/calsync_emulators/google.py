"""A local emulator of the Google Calendar API v3, over real HTTP.

Usage from tests::

    with GoogleEmulator(port=0) as emu:
        emu.add_calendar("maria@example.com")
        service = build("calendar", "v3", static_discovery=True,
                        client_options={"api_endpoint": emu.api_endpoint},
                        credentials=AnonymousCredentials())
        batch = BatchHttpRequest(batch_uri=emu.batch_uri)

and from a shell: ``python -m calsync_emulators.google --port 8085 --seed team.json``.

Served under ``/calendar/v3/``: ``users/me/calendarList`` (list),
``calendars/{cal}/events`` (list, insert), ``.../events/import``,
``.../events/watch``, ``.../events/{id}`` (get, patch, update, delete),
``.../events/{id}/instances``, ``freeBusy``, ``channels/stop``; and
``POST /batch/calendar/v3`` (multipart/mixed, at most 1000 calls). A separate
process flips faults with ``POST /_emulator/faults`` (JSON, same names as the
Python methods) and reads the request log with ``GET /_emulator/requests``.

Reproduced (see ``shared/provider-facts.md`` section 1):

- Sync tokens: ``nextSyncToken`` only on the last page; an incremental list
  returns everything changed since, deletions as ``status: "cancelled"``;
  parameters forbidden with ``syncToken`` and ``showDeleted=false`` give 400;
  an expired, foreign or garbled token gives 410 ``fullSyncRequired``. A full
  sync with ``timeMin``/``timeMax`` still issues a token (Google's sample does it).
- Paging: ``maxResults`` default 250, clamped to 2500; pages are server-side
  snapshots, so a retried page returns the same items. With the
  ``short_pages`` fault, pages are half-full and an empty page with a
  ``nextPageToken`` precedes the last one.
- Recurrence: RRULE/EXRULE/RDATE/EXDATE expanded in ``start.timeZone``;
  instance ids ``<masterId>_<YYYYMMDDTHHMMSSZ>`` (``_<YYYYMMDD>`` all-day),
  accepted in any case; PATCH/PUT/DELETE on an instance id stores an exception
  (DELETE = a cancelled exception); ``singleEvents`` and ``showDeleted`` follow
  the reference text; ``timeMin`` bounds the end and ``timeMax`` the start,
  both exclusive.
- Writes: etags change on every write; stale ``If-Match`` gives 412
  ``conditionNotMet``; ``If-None-Match`` on GET gives 304; client ids must be
  base32hex 5-1024 (400) and unique (409 ``duplicate``, also after deletion);
  deleting a deleted event gives 410 ``deleted``; ``sequence`` grows when
  start, end, recurrence, location or status change, and a lower client
  ``sequence`` is 400; ``updated`` stays when only ``reminders`` change.
- extendedProperties: keys over 44 characters dropped, values over 1024
  truncated; patch merges keys (``null`` deletes one), update replaces all.
  **Filters AND**: every ``privateExtendedProperty``/``sharedExtendedProperty``
  constraint must match (the reference text's "match all"; the guide's OR for
  repeated constraints is not what we do).
- freeBusy: per-calendar ``notFound``/``tooManyCalendarsRequested`` inside a
  200; transparent, cancelled and owner-declined events are free; series are
  expanded; busy periods are merged and clipped to the range; a range longer
  than ``FREEBUSY_MAX_RANGE`` (90 days) is 400 ``timeRangeTooLong``.
- Push: ``events.watch`` returns an ``api#channel`` (``expiration`` in epoch
  ms, default TTL 7 days); a ``sync`` message is POSTed at once, then
  ``exists`` after every change of the calendar, from a background thread.
  ``address`` must be https, except plain http on loopback.
- Batch: one HTTP request (logged once, with each inner call logged too);
  inner responses carry ``Content-ID: <response-...>``; faults apply to inner
  calls, so an envelope can be 200 while its parts are 429.

Chosen where Google is silent (documented so tests can rely on them): the 400
messages for forbidden ``syncToken`` combinations and bad page tokens; busy
periods clipped to the query range; a failed push delivery is recorded, not
retried; an exception keeps its own copy of the master's fields (a later
master edit does not reach modified instances); the API has no notion of the
caller, so ``primary`` is the emulator's primary calendar (``primary=`` or the
first calendar added) and every calendar is owned (``accessRole: owner``).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Queue
from typing import Any

from calsync_emulators.command_line import add_serving_arguments, serve_until_signalled
from calsync_emulators.google_channels import Notification
from calsync_emulators.google_errors import (
    ApiError,
    Json,
    backend_error,
    bad_request,
    parse_error,
    quota_exceeded,
    rate_limit_exceeded,
    user_rate_limit_exceeded,
)
from calsync_emulators.google_model import Params
from calsync_emulators.google_seed import SeedError, load_seed
from calsync_emulators.google_state import GoogleState
from calsync_emulators.latency import configured_latency
from calsync_emulators.request_log import RequestLog, RequestRecord
from calsync_emulators.serving import DeliveryLog, ServedEmulator

__all__ = [
    "FAULT_KINDS",
    "MAX_BATCH_CALLS",
    "ApiError",
    "Delivery",
    "GoogleEmulator",
    "GoogleState",
    "Params",
    "RequestLog",
    "RequestRecord",
    "SeedError",
    "main",
]

log = logging.getLogger(__name__)

API_PREFIX = "/calendar/v3/"
BATCH_PATHS = ("/batch/calendar/v3", "/batch")
CONTROL_PREFIX = "/_emulator/"
TOKEN_PATH = "/token"  # service accounts' token_uri (google_directory)
DIRECTORY_PREFIX = "/admin/directory/v1/"
#: The most calls one batch request may hold (Google's documented limit).
MAX_BATCH_CALLS = 1000
#: How long a push delivery may take before it is recorded as failed.
PUSH_TIMEOUT_SECONDS = 5.0

#: The errors ``rate_limit(n, kind)`` injects, by kind, with Google's bodies.
FAULT_KINDS: dict[str, Callable[[], ApiError]] = {
    "userRateLimitExceeded": user_rate_limit_exceeded,
    "rateLimitExceeded": lambda: rate_limit_exceeded(403),
    "429": lambda: rate_limit_exceeded(429),
    "quotaExceeded": quota_exceeded,
}
_RANDOM_FAULTS = ("userRateLimitExceeded", "rateLimitExceeded", "429", "backendError")


# ----------------------------------------------------------------- faults ----
@dataclass
class _Faults:
    rate_limit_left: int = 0
    rate_limit_kind: str = "rateLimitExceeded"
    fail_left: int = 0
    fail_status: int = 503
    fail_probability: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    latency: float = 0.0

    def next_error(self) -> ApiError | None:
        if self.rate_limit_left > 0:
            self.rate_limit_left -= 1
            return FAULT_KINDS[self.rate_limit_kind]()
        if self.fail_left > 0:
            self.fail_left -= 1
            return backend_error(self.fail_status)
        if self.fail_probability > 0 and self.rng.random() < self.fail_probability:
            kind = self.rng.choice(_RANDOM_FAULTS)
            return backend_error() if kind == "backendError" else FAULT_KINDS[kind]()
        return None


# ------------------------------------------------------------------- push ----
@dataclass(frozen=True, slots=True)
class Delivery:
    """One push message the emulator tried to deliver."""

    channel_id: str
    address: str
    state: str
    message_number: int
    status: int | None
    error: str | None = None


class _Pusher:
    """Delivers push messages in order from one background thread."""

    def __init__(self, emulator: GoogleEmulator) -> None:
        self._emulator = emulator
        self._queue: Queue[Notification | None] = Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="google-emulator-push", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=PUSH_TIMEOUT_SECONDS + 1)
            self._thread = None

    def enqueue(self, messages: list[Notification]) -> None:
        for message in messages:
            self._queue.put(message)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            status, error = self._post(message)
            if error:
                log.warning("push to %s failed: %s", message.address, error)
            self._emulator._delivered(
                Delivery(
                    channel_id=message.channel_id,
                    address=message.address,
                    state=message.headers["X-Goog-Resource-State"],
                    message_number=int(message.headers["X-Goog-Message-Number"]),
                    status=status,
                    error=error,
                )
            )

    @staticmethod
    def _post(message: Notification) -> tuple[int | None, str | None]:
        """POST an empty body with the X-Goog-* headers, their case kept as Google sends them."""
        parts = urllib.parse.urlsplit(message.address)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = connection_class(
            parts.hostname or "", parts.port, timeout=PUSH_TIMEOUT_SECONDS
        )
        try:
            connection.request("POST", target, body=b"", headers=dict(message.headers))
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            return None, str(exc) or type(exc).__name__
        finally:
            connection.close()
        if response.status >= 300:
            return response.status, f"HTTP {response.status} {response.reason}"
        return response.status, None


# ------------------------------------------------------------------- HTTP ----
@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Json, etag: str | None = None) -> _Response:
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if etag:
            headers["ETag"] = etag
        return cls(status, json.dumps(payload, indent=1).encode("utf-8") + b"\n", headers)

    @classmethod
    def error(cls, exc: ApiError) -> _Response:
        return cls.json(exc.status, exc.body())


_EVENT = re.compile(r"^calendars/([^/]+)/events/([^/]+)$")
_INSTANCES = re.compile(r"^calendars/([^/]+)/events/([^/]+)/instances$")
_EVENTS = re.compile(r"^calendars/([^/]+)/events$")
_EVENTS_ACTION = re.compile(r"^calendars/([^/]+)/events/(import|watch)$")


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise parse_error() from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK costs ~40 ms per request.
    disable_nagle_algorithm = True
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            emulator = self.server.emulator
            if self.path.startswith(CONTROL_PREFIX):
                response = emulator._handle_http(self.command, self.path, headers, body)
            else:
                with emulator.requests.in_flight():
                    response = emulator._handle_http(self.command, self.path, headers, body)
        except Exception:  # answer like a server, never drop the connection
            log.exception("Google emulator failed on %s %s", self.command, self.path)
            response = _Response.error(ApiError(500, "backendError", "Backend Error"))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and response.status != HTTPStatus.NOT_MODIFIED:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GoogleEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


# --------------------------------------------------------------- emulator ----
class GoogleEmulator(ServedEmulator):
    """The Google Calendar API v3 on ``127.0.0.1``: start, point a client at it, stop.

    State can be read and changed directly (``add_calendar``, ``insert_event``,
    ...; the Workspace directory with ``add_user``, ``set_manager``,
    ``remove_user``), faults switched on (``rate_limit``, ``fail_5xx``, ``fail_rate``,
    ``latency``, ``expire_sync_tokens``, ``short_pages``) and traffic observed
    (``requests``, ``deliveries``). One lock guards all of it.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        clock: Callable[[], datetime] | None = None,
        primary: str | None = None,
        seed: str | Path | Iterable[str | Path] | None = None,
        id_seed: int = 0,
        latency: str | float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = GoogleState(clock=clock, id_seed=id_seed, primary=primary)
        self.lock = self.state.lock
        self.requests = RequestLog(self.lock)
        # Every request waits this long (see calsync_emulators.latency); reset_faults
        # keeps it, as it is how the emulator was started, not an injected fault.
        self._base_latency = configured_latency(latency)
        self._sleep = sleep
        self._faults = _Faults(latency=self._base_latency)
        self._deliveries = DeliveryLog[Delivery](self.lock)
        self._serve_on(host, port)
        self._pusher = _Pusher(self)
        self.state.push.listener = self._pusher.enqueue
        if seed is not None:
            self.load_seed(seed)

    # ------------------------------------------------------------ life ----
    _thread_name = "google-emulator"

    def _new_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def _listening(self) -> None:
        self.state.push.base_url = self.url
        self._pusher.start()

    def _stopped(self) -> None:
        self._pusher.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/`` (the root; the API lives under ``calendar/v3/``)."""
        return f"http://{self._host}:{self._port}/"

    @property
    def api_endpoint(self) -> str:
        """What googleapiclient's ``client_options={"api_endpoint": ...}`` needs."""
        return self.url + "calendar/v3/"

    @property
    def batch_uri(self) -> str:
        """What ``BatchHttpRequest(batch_uri=...)`` needs (batch ignores api_endpoint)."""
        return self.url + "batch/calendar/v3"

    # ----------------------------------------------------------- state ----
    def add_calendar(
        self,
        calendar_id: str,
        owner: str | None = None,
        *,
        summary: str | None = None,
        time_zone: str = "UTC",
    ) -> None:
        self.state.add_calendar(calendar_id, owner, summary=summary, time_zone=time_zone)

    def add_user(self, email: str, name: str | None = None, *, manager: str | None = None,
                 org_unit: str = "/", suspended: bool = False, admin: bool = False,
                 timezone: str = "UTC") -> str:
        """A Workspace user (Admin SDK) with their calendar's time zone; returns its id."""
        with self.lock:
            return self.state.directory.add_user(
                email, name, manager=manager, org_unit=org_unit, suspended=suspended,
                admin=admin, timezone=timezone).user_id

    def remove_user(self, email: str) -> None:
        """The user is deleted from the domain: gone from users.list."""
        with self.lock:
            self.state.directory.users.pop(email.lower(), None)

    def set_manager(self, email: str, manager: str | None) -> None:
        with self.lock:
            self.state.directory.users[email.lower()].manager = (manager or "").lower() or None

    def calendars(self) -> list[str]:
        return self.state.calendar_ids()

    def insert_event(self, calendar_id: str, body: Json, *, seed: bool = False) -> Json:
        """events.insert; ``seed=True`` also takes organizer, timestamps and exceptions."""
        return self.state.insert_event(calendar_id, body, mode="seed" if seed else "insert")

    def import_event(self, calendar_id: str, body: Json) -> Json:
        return self.state.import_event(calendar_id, body)

    def get_event(self, calendar_id: str, event_id: str) -> Json:
        return self.state.get_event(calendar_id, event_id)

    def patch_event(self, calendar_id: str, event_id: str, patch: Json) -> Json:
        return self.state.patch_event(calendar_id, event_id, patch)

    def update_event(self, calendar_id: str, event_id: str, body: Json) -> Json:
        return self.state.update_event(calendar_id, event_id, body)

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        self.state.delete_event(calendar_id, event_id)

    def events(self, calendar_id: str) -> list[Json]:
        """Every stored event of a calendar: masters, exceptions, singles, tombstones."""
        return self.state.stored_events(calendar_id)

    def list_events(self, calendar_id: str, **params: Any) -> Json:
        """events.list without HTTP (one page), e.g. ``list_events(cal, singleEvents=True)``."""
        return self.state.list_events(calendar_id, Params(params))

    def load_seed(self, paths: str | Path | Iterable[str | Path]) -> list[str]:
        """Load JSON/ICS seed files (see :mod:`calsync_emulators.google_seed`)."""
        return load_seed(self.state, paths)

    def channels(self) -> list[Json]:
        """The live push channels (with their ``address``)."""
        return self.state.channels()

    # ---------------------------------------------------------- faults ----
    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Every outstanding sync token (or one calendar's) gets 410 on its next use."""
        self.state.expire_sync_tokens(calendar_id)

    def rate_limit(self, n: int, kind: str = "rateLimitExceeded") -> None:
        """The next ``n`` API calls fail: kind is one of :data:`FAULT_KINDS`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"rate_limit kind must be one of {sorted(FAULT_KINDS)}, not {kind!r}")
        with self.lock:
            self._faults.rate_limit_left = n
            self._faults.rate_limit_kind = kind

    def fail_5xx(self, n: int, status: int = 503) -> None:
        """The next ``n`` API calls fail with ``backendError`` (503 unless told)."""
        with self.lock:
            self._faults.fail_left = n
            self._faults.fail_status = status

    def fail_rate(self, p: float, seed: int = 0) -> None:
        """A fraction ``p`` of API calls fail with a random rate-limit or 503 error.

        Deterministic for a given ``seed`` and sequence of calls; ``p=0`` turns it off.
        """
        if not 0 <= p <= 1:
            raise ValueError(f"fail_rate p must be between 0 and 1, not {p}")
        with self.lock:
            self._faults.fail_probability = p
            self._faults.rng = random.Random(seed)

    def latency(self, seconds: float) -> None:
        """Every HTTP request (a batch envelope once) waits this long before it is handled."""
        with self.lock:
            self._faults.latency = max(0.0, seconds)

    def short_pages(self, enabled: bool = True) -> None:
        """Half-full pages and an empty page with a nextPageToken before the last one."""
        with self.lock:
            self.state.pages.short_pages = enabled

    def sync_token_ttl(self, seconds: float | None) -> None:
        """Sync tokens older than ``seconds`` (emulator clock) get 410; None: no limit."""
        with self.lock:
            self.state.pages.sync_token_ttl = seconds

    def reset_faults(self) -> None:
        with self.lock:
            self._faults = _Faults(latency=self._base_latency)
            self.state.pages.short_pages = False
            self.state.pages.sync_token_ttl = None

    def faults(self, **settings: Any) -> Json:
        """Set several faults at once (the JSON of ``POST /_emulator/faults``); returns them all.

        Keys: ``reset`` (true), ``expire_sync_tokens`` (true or a calendar id),
        ``rate_limit`` ({"n", "kind"}), ``fail_5xx`` (n or {"n", "status"}),
        ``fail_rate`` (p or {"p", "seed"}), ``latency`` (seconds),
        ``short_pages`` (bool), ``sync_token_ttl`` (seconds or null).
        """
        known = {
            "reset",
            "expire_sync_tokens",
            "rate_limit",
            "fail_5xx",
            "fail_rate",
            "latency",
            "short_pages",
            "sync_token_ttl",
        }
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {sorted(known)}")
        if settings.get("reset"):
            self.reset_faults()
        expire = settings.get("expire_sync_tokens")
        if expire:
            self.expire_sync_tokens(expire if isinstance(expire, str) else None)
        if "rate_limit" in settings:
            spec = settings["rate_limit"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            self.rate_limit(int(spec.get("n", 1)), str(spec.get("kind", "rateLimitExceeded")))
        if "fail_5xx" in settings:
            spec = settings["fail_5xx"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            self.fail_5xx(int(spec.get("n", 1)), int(spec.get("status", 503)))
        if "fail_rate" in settings:
            spec = settings["fail_rate"]
            spec = spec if isinstance(spec, dict) else {"p": spec}
            self.fail_rate(float(spec.get("p", 0)), int(spec.get("seed", 0)))
        if "latency" in settings:
            self.latency(float(settings["latency"]))
        if "short_pages" in settings:
            self.short_pages(bool(settings["short_pages"]))
        if "sync_token_ttl" in settings:
            ttl = settings["sync_token_ttl"]
            self.sync_token_ttl(None if ttl is None else float(ttl))
        with self.lock:
            f = self._faults
            return {
                "rate_limit": {"n": f.rate_limit_left, "kind": f.rate_limit_kind},
                "fail_5xx": {"n": f.fail_left, "status": f.fail_status},
                "fail_rate": {"p": f.fail_probability},
                "latency": f.latency,
                "short_pages": self.state.pages.short_pages,
                "sync_token_ttl": self.state.pages.sync_token_ttl,
            }

    # ------------------------------------------------------------ push ----
    @property
    def deliveries(self) -> list[Delivery]:
        """Push messages attempted so far, in order."""
        return self._deliveries.all()

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least ``count`` push messages were attempted (or timeout)."""
        return self._deliveries.wait_for(count, timeout)

    def _delivered(self, delivery: Delivery) -> None:
        self._deliveries.add(delivery)

    # ----------------------------------------------------------- HTTP -----
    def _handle_http(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        split = urllib.parse.urlsplit(target)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path[len(CONTROL_PREFIX) :], body)
        if path == TOKEN_PATH or path.startswith(DIRECTORY_PREFIX):
            response = self._directory_call(method, path, query, headers, body)
            self.requests._add(RequestRecord(method, urllib.parse.unquote(path), query,
                                             response.status), http=True, call=True)
            return response
        with self.lock:
            delay = self._faults.latency
        if delay:
            self._sleep(delay)  # in this request's thread, outside the lock: requests overlap
        if path in BATCH_PATHS and method == "POST":
            number = self.requests._next_batch()
            response, parts = self._batch(headers, body, number)
            self.requests._add(
                RequestRecord(method, path, query, response.status, None, parts),
                http=True,
                call=False,
            )
            return response
        response = self._call(method, path, query, headers, body)
        self.requests._add(
            RequestRecord(method, urllib.parse.unquote(path), query, response.status),
            http=True,
            call=True,
        )
        return response

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        """One API call: faults first, then the route."""
        if not path.startswith(API_PREFIX):
            return _Response.error(ApiError(404, "notFound", "Not Found"))
        with self.lock:
            fault = self._faults.next_error()
        if fault is not None:
            return _Response.error(fault)
        try:
            return self._route(method, path[len(API_PREFIX) :], Params(query), headers, body)
        except ApiError as exc:
            return _Response.error(exc)
        except Exception:  # a bug in the emulator must still answer like a server
            log.exception("Google emulator failed on %s %s", method, path)
            return _Response.error(ApiError(500, "backendError", "Backend Error"))

    def _directory_call(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        """The token endpoint and the Admin SDK's users.list (``google_directory``)."""
        directory = self.state.directory
        if path == TOKEN_PATH:
            if method != "POST":
                return _Response.json(405, {"error": "invalid_request"})
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            with self.lock:
                status, payload = directory.token(form)
            return _Response.json(status, payload)
        with self.lock:
            fault = self._faults.next_error()
        if fault is not None:
            return _Response.error(fault)
        try:
            if path.rstrip("/") == DIRECTORY_PREFIX + "users" and method == "GET":
                with self.lock:
                    return _Response.json(
                        200, directory.list_users(query, directory.grant_of(headers))
                    )
            raise ApiError(404, "notFound", f"Not Found (the emulator does not serve "
                           f"{method} {path})")
        except ApiError as exc:
            return _Response.error(exc)

    def _route(
        self, method: str, path: str, params: Params, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        state = self.state
        parts = [urllib.parse.unquote(p) for p in path.split("/")]
        path = "/".join(urllib.parse.quote(p, safe="") for p in parts)
        if_match = headers.get("if-match")
        if path == "users/me/settings/timezone" and method == "GET":
            with self.lock:
                grant = state.directory.grant_of(headers)
                return _Response.json(200, state.directory.timezone(grant))
        if path == "users/me/calendarList" and method == "GET":
            return _Response.json(200, state.calendar_list(params))
        if path == "freeBusy" and method == "POST":
            return _Response.json(200, state.free_busy(_json_body(body)))
        if path == "channels/stop" and method == "POST":
            state.stop_channel(_json_body(body))
            return _Response(204)
        if (match := _EVENTS_ACTION.match(path)) and method == "POST":
            calendar_id = urllib.parse.unquote(match[1])
            if match[2] == "import":
                event = state.import_event(calendar_id, _json_body(body))
                return _Response.json(200, event, event["etag"])
            return _Response.json(200, state.watch(calendar_id, _json_body(body)))
        if match := _EVENTS.match(path):
            calendar_id = urllib.parse.unquote(match[1])
            if method == "GET":
                return _Response.json(200, state.list_events(calendar_id, params))
            if method == "POST":
                event = state.insert_event(calendar_id, _json_body(body))
                return _Response.json(200, event, event["etag"])
        if (match := _INSTANCES.match(path)) and method == "GET":
            calendar_id, event_id = (urllib.parse.unquote(g) for g in match.groups())
            return _Response.json(200, state.instances(calendar_id, event_id, params))
        if match := _EVENT.match(path):
            calendar_id, event_id = (urllib.parse.unquote(g) for g in match.groups())
            if method == "GET":
                event = state.get_event(calendar_id, event_id, params)
                wanted = headers.get("if-none-match")
                if wanted and event["etag"] in [t.strip() for t in wanted.split(",")]:
                    return _Response(304, headers={"ETag": event["etag"]})
                return _Response.json(200, event, event["etag"])
            if method == "PATCH":
                event = state.patch_event(calendar_id, event_id, _json_body(body), if_match)
                return _Response.json(200, event, event["etag"])
            if method == "PUT":
                event = state.update_event(calendar_id, event_id, _json_body(body), if_match)
                return _Response.json(200, event, event["etag"])
            if method == "DELETE":
                state.delete_event(calendar_id, event_id, if_match)
                return _Response(204)
        raise ApiError(
            404, "notFound", f"Not Found (the emulator does not serve {method} /calendar/v3/{path})"
        )

    # ---------------------------------------------------------- batch -----
    def _batch(self, headers: Mapping[str, str], body: bytes, number: int) -> tuple[_Response, int]:
        content_type = headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/mixed") or "boundary" not in content_type:
            return _Response.error(bad_request("Batch requests must be multipart/mixed.")), 0
        message = email.message_from_bytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
            policy=email.policy.compat32,
        )
        parts = message.get_payload() if message.is_multipart() else None
        if not isinstance(parts, list) or not parts:
            return _Response.error(bad_request("The batch request holds no calls.")), 0
        if len(parts) > MAX_BATCH_CALLS:
            error = ApiError(
                400,
                "invalid",
                f"A batch request may contain at most {MAX_BATCH_CALLS} calls; "
                f"this one has {len(parts)}.",
            )
            return _Response.error(error), len(parts)
        boundary = f"batch_{uuid.uuid4().hex}"
        chunks: list[bytes] = []
        for part in parts:
            payload = part.get_payload(decode=False)
            text = payload if isinstance(payload, str) else ""
            response, method, path, query = self._batch_part(text)
            self.requests._add(
                RequestRecord(method, urllib.parse.unquote(path), query, response.status, number),
                http=False,
                call=True,
            )
            # A long header comes back folded ("uuid +\r\n id"): unfold it, or the
            # client cannot match "<response-uuid + id>" to its request.
            content_id = re.sub(r"\r?\n[ \t]+", " ", str(part.get("Content-ID") or "")).strip()
            chunks.append(self._batch_response_part(boundary, content_id, response))
        chunks.append(f"--{boundary}--\r\n".encode())
        envelope = _Response(
            200,
            b"".join(chunks),
            {"Content-Type": f"multipart/mixed; boundary={boundary}"},
        )
        return envelope, len(parts)

    def _batch_part(self, text: str) -> tuple[_Response, str, str, dict[str, list[str]]]:
        text = text.lstrip("\r\n")
        blank = re.search(r"\r?\n\r?\n", text)
        head, rest = (text[: blank.start()], text[blank.end() :]) if blank else (text, "")
        lines = head.splitlines()
        request_line = lines[0].split() if lines else []
        if len(request_line) < 2:
            return _Response.error(bad_request()), "?", "?", {}
        method, target = request_line[0].upper(), request_line[1]
        inner_headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            inner_headers[name.strip().lower()] = value.strip()
        data = rest.encode("utf-8")
        length = inner_headers.get("content-length")
        if length and length.isdigit():
            data = data[: int(length)]
        split = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        return self._call(method, split.path, query, inner_headers, data), method, split.path, query

    @staticmethod
    def _batch_response_part(boundary: str, content_id: str, response: _Response) -> bytes:
        reason = HTTPStatus(response.status).phrase
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        lines.append(f"Content-Length: {len(response.body)}")
        inner = ("\r\n".join(lines) + "\r\n\r\n").encode() + response.body
        header = f"--{boundary}\r\nContent-Type: application/http\r\n"
        if content_id:
            header += f"Content-ID: <response-{content_id.strip('<>')}>\r\n"
        return header.encode() + b"\r\n" + inner + b"\r\n"

    # -------------------------------------------------------- control -----
    def _control(self, method: str, path: str, body: bytes) -> _Response:
        try:
            if path == "faults" and method == "POST":
                settings = _json_body(body)
                if not isinstance(settings, dict):
                    raise bad_request("Send a JSON object of faults.")
                try:
                    return _Response.json(200, self.faults(**settings))
                except (ValueError, TypeError) as exc:
                    raise bad_request(str(exc)) from None
            if path == "faults" and method == "GET":
                return _Response.json(200, self.faults())
            if path == "requests" and method == "GET":
                return _Response.json(200, self.requests.summary())
            if path == "requests" and method == "DELETE":
                self.requests.clear()
                return _Response(204)
        except ApiError as exc:
            return _Response.error(exc)
        return _Response.error(ApiError(404, "notFound", "Not Found"))


# -------------------------------------------------------------------- CLI ----
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m calsync_emulators.google",
        description="Serve a local emulator of the Google Calendar API v3.",
    )
    add_serving_arguments(parser, "write the emulator's URL here once listening")
    parser.add_argument("--primary", help="the calendar id 'primary' refers to")
    args = parser.parse_args(argv)

    def banner(emulator: GoogleEmulator, loaded: list[str]) -> str:
        return (
            f"Google Calendar API v3 emulator on {emulator.url}\n"
            f"  api_endpoint: {emulator.api_endpoint}\n"
            f"  batch_uri:    {emulator.batch_uri}\n"
            f"  calendars:    {', '.join(loaded) or '(none)'}"
        )

    return serve_until_signalled(
        args,
        lambda: GoogleEmulator(args.port, args.host, primary=args.primary, latency=args.latency),
        banner,
    )

if __name__ == "__main__":
    raise SystemExit(main())
