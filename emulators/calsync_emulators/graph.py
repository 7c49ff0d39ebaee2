"""A local emulator of Microsoft Graph v1.0 (calendar subset), over real HTTP.

Usage from tests::

    with GraphEmulator(port=0) as emu:
        emu.add_mailbox("maria@example.com", time_zone="W. Europe Standard Time")
        token = emu.issue_token()                    # or get one from msal, below
        httpx.get(f"{emu.url}/users/maria@example.com/events",
                  headers={"Authorization": f"Bearer {token}"})

        app = msal.ConfidentialClientApplication(
            "client-id", client_credential="secret",
            authority="https://login.microsoftonline.com/contoso.onmicrosoft.com",
            http_client=EmulatorHttpClient(emu.url_root))

and from a shell: ``python -m calsync_emulators.graph --port 8086 --seed team.json``.

Served under ``/v1.0`` (``/users/{upn or id}/...`` or ``/me/...``):
``calendarView/delta``, ``calendarView``, ``events`` (list, create),
``events/{id}`` (get, patch, delete), ``events/{id}/instances``,
``events/{id}/cancel|decline|accept|tentativelyAccept``, ``calendar/getSchedule``,
``calendar``, ``calendars``, ``mailboxSettings`` (get, patch: automatic replies;
:mod:`calsync_emulators.graph_mailbox`), the user itself, ``$batch`` and ``subscriptions``;
the identity endpoints msal needs under ``/{tenant}/...`` (see
:mod:`calsync_emulators.graph_auth`). A separate process flips faults with
``POST /_emulator/faults`` (JSON, same names as the Python methods), reads the
request log with ``GET /_emulator/requests`` and approves device codes with
``POST /_emulator/device-codes`` ``{"user_code", "upn"}``.

Reproduced (shared/provider-facts.md sections 2 and 4):

- Delta: ``@odata.nextLink`` (``$skiptoken``) pages, ``@odata.deltaLink``
  (``$deltatoken``) on the last page only; both absolute URLs on the emulator
  that carry the window; ``Prefer: odata.maxpagesize=N`` (default 10) and
  ``Preference-Applied``; series masters with full fields and plain
  occurrences stripped to ``@odata.type``, ``@odata.etag``, ``id``,
  ``seriesMasterId``, ``type``, ``start``, ``end``; exceptions in full;
  deletions (and cancelled or declined instances) as
  ``{"@odata.type", "id", "@removed": {"reason": "deleted"}}``; events added,
  changed or deleted *outside* the window also come as ``@removed``; a page
  re-read returns the same entries; ``$select``/``$filter``/``$orderby``/
  ``$expand``/``$search`` give 400 ``ErrorInvalidUrlQuery``. Expired tokens:
  ``expire_delta_tokens("410")`` gives 410 ``resyncRequired`` with a
  ``Location`` header (the initial request URL), ``"syncStateNotFound"`` gives
  400 ``syncStateNotFound``; unknown tokens always give the latter.
- Times: ``start``/``end`` in UTC with 7 fractional digits unless
  ``Prefer: outlook.timezone="..."`` (Windows or IANA name, echoed back);
  Windows zone names accepted everywhere (CLDR's table, kept in
  :mod:`calsync_emulators.windows_zones`); series expand in
  the recurrence zone's wall time across DST; all-day events are floating
  midnights.
- Events: opaque ``AAMkA...`` ids that differ per mailbox copy and do not
  change when an occurrence becomes an exception; ``iCalUId`` is Exchange's
  GlobalObjectId, shared by all copies, with the date filled in per
  occurrence; ``@odata.etag``/``changeKey`` change on every write and all
  instances carry their master's etag (as in the docs' instances example);
  ``If-Match`` stale -> 412 ``ErrorIrresolvableConflict``; ``transactionId``
  returned only when set, and a second POST with the same one within
  ``TRANSACTION_ID_WINDOW`` (24 h) returns the first event (201) while it
  exists; ``singleValueExtendedProperties`` only via
  ``$expand=singleValueExtendedProperties($filter=id eq '...')`` and filterable
  with ``$filter=singleValueExtendedProperties/Any(ep: ...)``; text bodies
  come back as HTML unless ``Prefer: outlook.body-content-type="text"``.
- Meetings: a meeting appears in every attendee mailbox the emulator knows
  (``responseStatus.response`` ``notResponded``, ``showAs`` tentative); cancel
  is organizer-only (400 otherwise) and 202; the organizer's item goes (delta
  ``@removed``), attendee copies get ``isCancelled: true`` and a "Canceled: "
  subject until removed (``emu.remove_cancelled(upn)`` or a DELETE);
  accept/tentativelyAccept/decline update the organizer's attendee status; a
  decline moves the attendee's copy (or instance) to Deleted Items.
- getSchedule: at most 20 schedules and a range under 62 days (400
  ``ErrorTimeIntervalTooBig`` with Graph's message), an unknown address is an
  error item inside the 200, ``availabilityView`` digits 0-3, ``scheduleItems``
  and ``workingHours``.
- ``$batch``: at most 20 requests, ``dependsOn`` (424 when a dependency
  failed), one HTTP request in the log with each inner call logged too; faults
  apply to inner calls, so the envelope is 200 while items are 429. Faults
  (except latency) never touch the identity endpoints.
- Subscriptions: the validation handshake and change notifications of
  :mod:`calsync_emulators.graph_push`; at most 10080 minutes.
- Auth: bearer tokens issued by the emulator's token endpoint (or
  :meth:`GraphEmulator.issue_token`); anything else is 401
  ``InvalidAuthenticationToken``. ``auth=False`` turns the check off.
- Errors: ``{"error": {"code", "message", "innerError": {"date", "request-id",
  "client-request-id"}}}`` with the ``request-id``/``client-request-id``
  headers.

Deliberate differences (documented so tests can rely on them):
``cancelledOccurrences`` is a beta property; the emulator returns it in v1.0
too, but like beta only when ``$select`` asks for it on a GET of a series master,
as beta ``occurrenceId`` strings ``OID.{seriesMasterId}.{YYYY-MM-DD}``. An
organizer's occurrence cancel shows up in delta as ``@removed`` (a community
report says real Graph sometimes sends no marker; rely on the master's etag
too). Graph documents no default delta page size, no ``transactionId`` window
and no error text for more than 20 schedules or batch requests: the constants
and messages here are the emulator's. Exceptions of a series are dropped when
its time or pattern changes (Exchange's behaviour); attendee responses reset
when the organizer reschedules. A decline removes the attendee's copy (Outlook's
default; set ``emu.state.keep_declined = True`` to keep it with ``declined``).
``instances`` of a non-recurring event is an empty list. Extended properties
and ``transactionId`` stay on the mailbox copy they were written to. An id from
another mailbox gives 400 ``ErrorInvalidMailboxItemId``. The unknown-address
item of getSchedule uses the text and ``responseCode`` "5009" reported in
microsoft-graph-docs#11225.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import random
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from calsync_emulators.command_line import add_serving_arguments, serve_until_signalled
from calsync_emulators.graph_auth import AuthState, EmulatorHttpClient, Principal
from calsync_emulators.graph_errors import GraphError, bad_request, unknown_select
from calsync_emulators.graph_items import EVENT_PROPERTIES
from calsync_emulators.graph_model import View, parse_prefer
from calsync_emulators.graph_push import (
    Delivery,
    Subscription,
    Subscriptions,
    parse_subscription,
    validate_endpoint,
)
from calsync_emulators.graph_seed import SeedError, load_seed
from calsync_emulators.graph_state import GraphState
from calsync_emulators.graph_times import Json, format_error_date
from calsync_emulators.latency import configured_latency
from calsync_emulators.request_log import RequestLog, RequestRecord
from calsync_emulators.serving import DeliveryLog, ServedEmulator

__all__ = [
    "MAX_BATCH_REQUESTS",
    "Delivery",
    "EmulatorHttpClient",
    "GraphEmulator",
    "GraphError",
    "GraphState",
    "RequestLog",
    "RequestRecord",
    "SeedError",
    "main",
]

log = logging.getLogger(__name__)

API_PREFIX = "/v1.0/"
CONTROL_PREFIX = "/_emulator/"
#: The most requests one JSON batch may hold (Graph's documented limit).
MAX_BATCH_REQUESTS = 20
#: Default tenant (the authority path segment) msal is pointed at.
DEFAULT_TENANT = "contoso.onmicrosoft.com"
_JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
_AUTH_PATH = re.compile(
    r"^/([^/]+)/(?:v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/(token|devicecode)"
    r"|discovery/instance)$"
)


# ------------------------------------------------------------ request log ----
# ----------------------------------------------------------------- faults ----
def throttled(retry_after: int) -> GraphError:
    return GraphError(
        429,
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
        {"Retry-After": str(retry_after)},
    )


def unavailable(status: int = 503, retry_after: int | None = None) -> GraphError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 504:
        return GraphError(504, "GatewayTimeout", "The gateway did not receive a response.", headers)
    return GraphError(
        status,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Try again later.",
        headers,
    )


@dataclass
class _Faults:
    throttle_left: int = 0
    throttle_retry_after: int = 1
    fail_left: int = 0
    fail_status: int = 503
    fail_retry_after: int | None = None
    fail_probability: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    latency: float = 0.0
    mailbox_concurrency: int | None = None

    def next_error(self) -> GraphError | None:
        if self.throttle_left > 0:
            self.throttle_left -= 1
            return throttled(self.throttle_retry_after)
        if self.fail_left > 0:
            self.fail_left -= 1
            return unavailable(self.fail_status, self.fail_retry_after)
        if self.fail_probability > 0 and self.rng.random() < self.fail_probability:
            kind = self.rng.choice(("429", "503", "503-retry", "504"))
            if kind == "429":
                return throttled(self.rng.randint(1, 3))
            if kind == "503-retry":
                return unavailable(503, self.rng.randint(1, 3))
            return unavailable(int(kind))
        return None


# ------------------------------------------------------------------- HTTP ----
@dataclass(slots=True)
class _Response:
    status: int
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Response:
        out = {"Content-Type": _JSON_TYPE, **(headers or {})}
        return cls(status, b"", out, payload)

    @property
    def body(self) -> bytes:
        """The bytes sent, JSON encoded when first asked for.

        A ``$batch``'s inner answers go into the batch's own body as objects and
        are never encoded on their own. Compact, as Graph sends it: an indent
        made ``json`` fall back to its pure-Python encoder, most of the
        emulator's CPU at team scale.
        """
        if not self.raw and self.payload is not None:
            self.raw = json.dumps(self.payload, separators=(",", ":")).encode("utf-8")
        return self.raw

    @classmethod
    def text(cls, status: int, text: str) -> _Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})


@dataclass(slots=True)
class _Context:
    """Per-request data the routes need."""

    method: str
    headers: Mapping[str, str]
    prefer: Mapping[str, str]
    principal: Principal | None
    request_id: str
    client_request_id: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK costs ~40 ms per request.
    disable_nagle_algorithm = True
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            emulator = self.server.emulator
            if self.path.startswith(CONTROL_PREFIX):
                response = emulator._handle_http(self.command, self.path, headers, body)
            else:
                with emulator.requests.in_flight(_mailboxes(self.path, body)):
                    response = emulator._handle_http(self.command, self.path, headers, body)
        except Exception:  # never leave a client hanging
            log.exception("Graph emulator failed on %s %s", self.command, self.path)
            response = _Response.text(500, "emulator error")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


def _mailboxes(target: str, body: bytes) -> set[str]:
    """The mailboxes a request addresses: its own path's, or each ``$batch`` item's."""
    path = urllib.parse.urlsplit(target).path
    if path.endswith("/$batch"):
        try:
            items = json.loads(body.decode("utf-8")).get("requests") or []
        except (UnicodeDecodeError, ValueError, AttributeError):
            return set()
        urls = [str(item.get("url") or "") for item in items if isinstance(item, dict)]
    else:
        urls = [path[len(API_PREFIX) - 1 :] if path.startswith(API_PREFIX) else path]
    found = (_USER_SEGMENT.match(url.split("?", 1)[0]) for url in urls)
    return {urllib.parse.unquote(m[1]).lower() for m in found if m}


_USER_SEGMENT = re.compile(r"^/?users/([^/]+)")


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format."
        ) from None


def _param(query: Mapping[str, list[str]], name: str) -> str | None:
    for key, values in query.items():
        if key.lower() == name.lower() and values:
            return values[-1]
    return None


_EXPAND = re.compile(r"^singleValueExtendedProperties\(\s*\$filter=(.+)\)$", re.IGNORECASE)
_EXPAND_ID = re.compile(r"^id\s+eq\s+'((?:[^']|'')*)'$", re.IGNORECASE)


def _query_view(view: View, query: Mapping[str, list[str]], *, single: bool) -> View:
    """Apply ``$select`` and ``$expand=singleValueExtendedProperties(...)`` to a view."""
    select = None
    text = _param(query, "$select")
    if text:
        names = frozenset(n.strip() for n in text.split(",") if n.strip())
        allowed = EVENT_PROPERTIES | ({"cancelledOccurrences"} if single else set())
        for name in names:
            if name not in allowed:
                raise unknown_select(name)
        select = names
    svep: tuple[str, ...] | None = None
    expand = _param(query, "$expand")
    if expand:
        match = _EXPAND.match(expand.strip())
        if not match:
            raise GraphError(
                400,
                "BadRequest",
                f"Parsing OData Select and Expand failed: unsupported $expand '{expand}'.",
            )
        ids = []
        for clause in re.split(r"\s+or\s+", match[1].strip(), flags=re.IGNORECASE):
            found = _EXPAND_ID.match(clause.strip().strip("()"))
            if not found:
                raise GraphError(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                )
            ids.append(found[1].replace("''", "'"))
        svep = tuple(ids)
    if select is not None and svep is not None:
        select = select | {"singleValueExtendedProperties"}
    return view.with_query(select, svep)


# --------------------------------------------------------------- emulator ----
class GraphEmulator(ServedEmulator):
    """Microsoft Graph v1.0 (calendar) on ``127.0.0.1``: start, point a client at it, stop.

    State can be read and changed directly (``add_mailbox``, ``create_event``,
    ``cancel_occurrence``, ``decline``, ...; the directory with ``add_user``,
    ``set_manager``, ``remove_user``, ``add_group``, ``deny_mailbox_settings``),
    faults switched on (``throttle``,
    ``fail_5xx``, ``fail_rate``, ``latency``, ``expire_delta_tokens``,
    ``delta_empty_pages``, ``delta_replays``, ``delta_token_cache``,
    ``mailbox_concurrency``) and traffic observed (``requests``,
    ``deliveries``). One lock guards all of it.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        auth: bool = True,
        clock: Callable[[], datetime] | None = None,
        seed: str | Path | Iterable[str | Path] | None = None,
        id_seed: int = 0,
        tenant: str = DEFAULT_TENANT,
        device_code_interval: int = 5,
        default_user: str | None = None,
        latency: str | float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = GraphState(clock=clock, id_seed=id_seed)
        self.lock = self.state.lock
        self.auth_enabled = auth
        self.tenant = tenant
        self.default_user = default_user
        self.auth = AuthState(
            tenant_id=self.state.tenant_id,
            clock=self.state.now,
            lock=self.lock,
            device_code_interval=device_code_interval,
            user_id=self._user_id,
            user_name=self._user_name,
        )
        self.requests = RequestLog(self.lock)
        # Every request waits this long (see calsync_emulators.latency); reset_faults
        # keeps it, as it is how the emulator was started, not an injected fault.
        self._base_latency = configured_latency(latency)
        self._sleep = sleep
        self._faults = _Faults(latency=self._base_latency)
        self._deliveries = DeliveryLog[Delivery](self.lock)
        self._subscriptions = Subscriptions(
            self.lock, self.state.now, self.state.tenant_id, self._delivered
        )
        self.state.store.listener = self._subscriptions.notify
        self._serve_on(host, port)
        self._ids = random.Random(id_seed + 1)
        if seed is not None:
            self.load_seed(seed)

    # ------------------------------------------------------------ life ----
    _thread_name = "graph-emulator"

    def _new_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def _listening(self) -> None:
        self.state.store.base_url = self.url_root
        self._subscriptions.start()

    def _stopped(self) -> None:
        self._subscriptions.stop()

    @property
    def url_root(self) -> str:
        """``http://127.0.0.1:PORT``: what :class:`EmulatorHttpClient` needs."""
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1.0``: Graph's base URL on the emulator."""
        return self.url_root + "/v1.0"

    @property
    def authority(self) -> str:
        """The authority to give msal (the real host; EmulatorHttpClient redirects it)."""
        return f"https://login.microsoftonline.com/{self.tenant}"

    def http_client(self) -> EmulatorHttpClient:
        """An msal ``http_client`` that sends identity and Graph requests here."""
        return EmulatorHttpClient(self.url_root)

    # ----------------------------------------------------------- state ----
    def _user_id(self, upn: str) -> str:
        found = self.state.find_mailbox(upn)
        return found.user_id if found else str(uuid.uuid5(uuid.NAMESPACE_URL, upn.lower()))

    def _user_name(self, upn: str) -> str:
        found = self.state.find_mailbox(upn)
        return found.name if found else upn

    def add_mailbox(
        self,
        upn: str,
        name: str | None = None,
        *,
        time_zone: str = "UTC",
        working_days: Iterable[str] | None = None,
        working_start: str = "08:00",
        working_end: str = "17:00",
    ) -> str:
        """A mailbox (idempotent); ``time_zone`` is a Windows or IANA name. Returns its user id."""
        return self.state.add_mailbox(
            upn,
            name,
            time_zone=time_zone,
            working_days=working_days,
            working_start=working_start,
            working_end=working_end,
        ).user_id

    def mailboxes(self) -> list[str]:
        return self.state.mailbox_ids()

    def set_automatic_replies(self, upn: str, setting: Json) -> Json:
        """PATCH /users/{upn}/mailboxSettings ``automaticRepliesSetting`` without HTTP."""
        return self.state.patch_mailbox_settings(upn, {"automaticRepliesSetting": setting})

    # -------------------------------------------------------- directory ----
    def add_user(self, upn: str, name: str | None = None, *, manager: str | None = None,
                 enabled: bool = True, **mailbox: Any) -> str:
        """A directory user with a mailbox (see ``add_mailbox`` for its keywords); its id."""
        with self.lock:
            return self.state.directory.add_user(upn, name, manager=manager, enabled=enabled,
                                                 **mailbox).user_id

    def remove_user(self, upn: str) -> None:
        """The person leaves the tenant: gone from /users, managers' reports and groups."""
        with self.lock:
            self.state.directory.remove_user(upn)

    def set_manager(self, upn: str, manager: str | None) -> None:
        with self.lock:
            self.state.directory.set_manager(upn, manager)

    def add_group(self, name: str, members: Iterable[str] = ()) -> str:
        """A security group of users (UPNs) and other groups (ids); returns its id."""
        with self.lock:
            return self.state.directory.add_group(name, members)

    def deny_mailbox_settings(self, upn: str) -> None:
        """``/users/{upn}/mailboxSettings`` answers 403 (no ``MailboxSettings.Read``)."""
        with self.lock:
            self.state.directory.denied_settings.add(upn.lower())

    def create_event(self, upn: str, body: Json, *, seed: bool = False) -> Json:
        """POST /users/{upn}/events without HTTP (``seed=True`` also takes read-only fields)."""
        return self.state.create_event(upn, body, seed=seed)[0]

    def get_event(self, upn: str, event_id: str) -> Json:
        return self.state.get_event(upn, event_id)

    def patch_event(self, upn: str, event_id: str, patch: Json) -> Json:
        return self.state.patch_event(upn, event_id, patch)

    def delete_event(self, upn: str, event_id: str) -> None:
        self.state.delete_event(upn, event_id)

    def cancel_event(self, upn: str, event_id: str, comment: str | None = None) -> None:
        """The organizer cancels a meeting, a series or (with an occurrence id) one instance."""
        self.state.cancel_event(upn, event_id, comment)

    def cancel_occurrence(self, upn: str, occurrence_id: str, comment: str | None = None) -> None:
        self.state.cancel_event(upn, occurrence_id, comment)

    def decline(
        self, upn: str, event_id: str, comment: str | None = None, *, send_response: bool = True
    ) -> None:
        """The attendee ``upn`` declines (an occurrence id declines one instance)."""
        self.state.respond(upn, event_id, "declined", comment=comment, send_response=send_response)

    def accept(self, upn: str, event_id: str, *, tentative: bool = False) -> None:
        response = "tentativelyAccepted" if tentative else "accepted"
        self.state.respond(upn, event_id, response)

    def remove_cancelled(self, upn: str) -> int:
        """The attendee removes cancelled meetings from the calendar; returns how many."""
        return self.state.remove_cancelled(upn)

    def events(self, upn: str) -> list[Json]:
        """Every single event and series master of a mailbox, rendered in UTC."""
        return self.state.stored_events(upn)

    def instances(self, upn: str, master_id: str, start: str, end: str) -> list[Json]:
        """The instances of a series in a window (ISO times), without HTTP."""
        params = {"startDateTime": [start], "endDateTime": [end], "$top": ["1000"]}
        page = self.state.instances(upn, master_id, params, View(), "")
        return list(page["value"])

    def load_seed(self, paths: str | Path | Iterable[str | Path]) -> list[str]:
        """Load JSON/ICS seed files (see :mod:`calsync_emulators.graph_seed`)."""
        return load_seed(self.state, paths)

    # ------------------------------------------------------------ auth ----
    def issue_token(self, upn: str | None = None, *, client_id: str | None = None) -> str:
        """An access token for the app (``upn`` None) or for a user, as the token endpoint gives."""
        if client_id is None:
            return self.auth.issue_token(upn)
        return self.auth.issue_token(upn, client_id=client_id)

    def register_app(self, client_id: str, client_secret: str | None = None) -> None:
        """From the first registration on, only registered apps (with the secret) get tokens."""
        self.auth.register_app(client_id, client_secret)

    def approve_device_code(self, user_code: str, upn: str) -> None:
        """The user ``upn`` enters ``user_code`` at the verification page and consents."""
        self.auth.approve_device_code(user_code, upn)

    def deny_device_code(self, user_code: str) -> None:
        self.auth.deny_device_code(user_code)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired (401); refresh tokens keep working."""
        self.auth.expire_tokens()

    # ---------------------------------------------------------- faults ----
    def expire_delta_tokens(self, mode: str = "syncStateNotFound") -> None:
        """Every outstanding delta/skip token fails on next use: ``"410"`` (Gone + Location)
        or ``"syncStateNotFound"`` (400)."""
        self.state.expire_delta_tokens(mode)

    def throttle(self, n: int, retry_after: int = 1) -> None:
        """The next ``n`` Graph calls get 429 ``ApplicationThrottled`` with ``Retry-After``."""
        with self.lock:
            self._faults.throttle_left = n
            self._faults.throttle_retry_after = retry_after

    def fail_5xx(self, n: int, status: int = 503, retry_after: int | None = None) -> None:
        """The next ``n`` Graph calls fail with ``status`` (503 or 504); Retry-After if given."""
        with self.lock:
            self._faults.fail_left = n
            self._faults.fail_status = status
            self._faults.fail_retry_after = retry_after

    def fail_rate(self, p: float, seed: int = 0) -> None:
        """A fraction ``p`` of Graph calls fail with 429, 503 (with or without Retry-After) or 504.

        Deterministic for a given ``seed`` and sequence of calls; ``p=0`` turns it off.
        """
        if not 0 <= p <= 1:
            raise ValueError(f"fail_rate p must be between 0 and 1, not {p}")
        with self.lock:
            self._faults.fail_probability = p
            self._faults.rng = random.Random(seed)

    def latency(self, seconds: float) -> None:
        """Every HTTP request (a ``$batch`` envelope once) waits this long before it is handled."""
        with self.lock:
            self._faults.latency = max(0.0, seconds)

    def delta_empty_pages(self, enabled: bool = True) -> None:
        """The last page of each delta round with items has a nextLink to an empty last page."""
        with self.lock:
            self.state.deltas.empty_pages = enabled

    def delta_replays(self, enabled: bool = True) -> None:
        """Every delta page after the first repeats the previous page's last entry."""
        with self.lock:
            self.state.deltas.replays = enabled

    def delta_token_cache(self, size: int | None) -> None:
        """Keep only the newest ``size`` delta tokens per mailbox (older: syncStateNotFound)."""
        with self.lock:
            self.state.deltas.token_cache = size

    def mailbox_concurrency(self, limit: int | None = 4) -> None:
        """In a ``$batch`` without dependsOn, requests beyond ``limit`` per mailbox get 429."""
        with self.lock:
            self._faults.mailbox_concurrency = limit

    def reset_faults(self) -> None:
        with self.lock:
            self._faults = _Faults(latency=self._base_latency)
            self.state.deltas.empty_pages = False
            self.state.deltas.replays = False
            self.state.deltas.token_cache = None

    _FAULT_NAMES = frozenset(
        {
            "reset",
            "expire_delta_tokens",
            "throttle",
            "fail_5xx",
            "fail_rate",
            "latency",
            "delta_empty_pages",
            "delta_replays",
            "delta_token_cache",
            "mailbox_concurrency",
        }
    )

    def faults(self, **settings: Any) -> Json:
        """Set several faults at once (the JSON of ``POST /_emulator/faults``); returns them all.

        Keys: ``reset`` (true), ``expire_delta_tokens`` (true, "410" or
        "syncStateNotFound"), ``throttle`` (n or {"n", "retry_after"}),
        ``fail_5xx`` (n or {"n", "status", "retry_after"}), ``fail_rate``
        (p or {"p", "seed"}), ``latency`` (seconds), ``delta_empty_pages`` and
        ``delta_replays`` (bool), ``delta_token_cache`` and
        ``mailbox_concurrency`` (int or null).
        """
        unknown = sorted(set(settings) - self._FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {sorted(self._FAULT_NAMES)}")
        if settings.get("reset"):
            self.reset_faults()
        expire = settings.get("expire_delta_tokens")
        if expire:
            self.expire_delta_tokens(expire if isinstance(expire, str) else "syncStateNotFound")
        if "throttle" in settings:
            spec = settings["throttle"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            self.throttle(int(spec.get("n", 1)), int(spec.get("retry_after", 1)))
        if "fail_5xx" in settings:
            spec = settings["fail_5xx"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            retry = spec.get("retry_after")
            self.fail_5xx(
                int(spec.get("n", 1)),
                int(spec.get("status", 503)),
                None if retry is None else int(retry),
            )
        if "fail_rate" in settings:
            spec = settings["fail_rate"]
            spec = spec if isinstance(spec, dict) else {"p": spec}
            self.fail_rate(float(spec.get("p", 0)), int(spec.get("seed", 0)))
        if "latency" in settings:
            self.latency(float(settings["latency"]))
        if "delta_empty_pages" in settings:
            self.delta_empty_pages(bool(settings["delta_empty_pages"]))
        if "delta_replays" in settings:
            self.delta_replays(bool(settings["delta_replays"]))
        if "delta_token_cache" in settings:
            size = settings["delta_token_cache"]
            self.delta_token_cache(None if size is None else int(size))
        if "mailbox_concurrency" in settings:
            limit = settings["mailbox_concurrency"]
            self.mailbox_concurrency(None if limit is None else int(limit))
        with self.lock:
            f = self._faults
            return {
                "throttle": {"n": f.throttle_left, "retry_after": f.throttle_retry_after},
                "fail_5xx": {
                    "n": f.fail_left,
                    "status": f.fail_status,
                    "retry_after": f.fail_retry_after,
                },
                "fail_rate": {"p": f.fail_probability},
                "latency": f.latency,
                "delta_empty_pages": self.state.deltas.empty_pages,
                "delta_replays": self.state.deltas.replays,
                "delta_token_cache": self.state.deltas.token_cache,
                "mailbox_concurrency": f.mailbox_concurrency,
            }

    def _groups_route(self, parts: list[str], query: Mapping[str, list[str]]) -> _Response:
        directory = self.state.directory
        base = self.url + "/groups"
        if not parts or parts == [""]:
            return _Response.json(200, directory.list_groups(query, base))
        if len(parts) == 2 and parts[1].lower() in ("members", "transitivemembers"):
            link = f"{base}/{urllib.parse.quote(parts[0])}/{parts[1]}"
            transitive = parts[1].lower() == "transitivemembers"
            return _Response.json(
                200, directory.members(parts[0], query, link, transitive=transitive)
            )
        raise bad_request(f"Resource not found for the segment '{parts[-1]}'.")

    # --------------------------------------------------- subscriptions ----
    def subscriptions(self) -> list[Json]:
        """The live subscriptions, as Graph returns them."""
        return [s.body(self.url_root) for s in self._subscriptions.all()]

    @property
    def deliveries(self) -> list[Delivery]:
        """Change notifications attempted so far, in order."""
        return self._deliveries.all()

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least ``count`` notifications were attempted (or timeout)."""
        return self._deliveries.wait_for(count, timeout)

    def _delivered(self, delivery: Delivery) -> None:
        self._deliveries.add(delivery)

    # ----------------------------------------------------------- HTTP -----
    def _new_request_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _handle_http(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        split = urllib.parse.urlsplit(target)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if path.startswith(CONTROL_PREFIX):
            return self._control(method, path[len(CONTROL_PREFIX) :], body)
        with self.lock:
            delay = self._faults.latency
        if delay:
            self._sleep(delay)  # in this request's thread, outside the lock: requests overlap
        if _AUTH_PATH.match(path):
            response = self._identity(method, path, query, body)
            self.requests._add(
                RequestRecord(method, urllib.parse.unquote(path), query, response.status),
                http=True,
                call=False,
            )
            return response
        request_id = self._new_request_id()
        client_request_id = headers.get("client-request-id") or request_id
        context = _Context(
            method,
            headers,
            parse_prefer([headers.get("prefer", "")]),
            None,
            request_id,
            client_request_id,
        )
        if path == API_PREFIX + "$batch" and method == "POST":
            number = self.requests._next_batch()
            response, parts = self._batch(context, body, number)
            record = RequestRecord(method, path, query, response.status, None, parts)
            self.requests._add(record, http=True, call=False)
            return self._finish(response, context)
        response = self._call(method, path, query, context, body)
        self.requests._add(
            RequestRecord(method, urllib.parse.unquote(path), query, response.status),
            http=True,
            call=True,
        )
        return self._finish(response, context)

    def _finish(self, response: _Response, context: _Context) -> _Response:
        response.headers.setdefault("request-id", context.request_id)
        response.headers.setdefault("client-request-id", context.client_request_id)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response

    def _error(self, exc: GraphError, context: _Context) -> _Response:
        stamp = format_error_date(self.state.now())
        body = exc.body(context.request_id, context.client_request_id, stamp)
        return _Response.json(exc.status, body, exc.headers)

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        context: _Context,
        body: bytes,
        *,
        concurrency_error: GraphError | None = None,
    ) -> _Response:
        """One Graph call: auth, then faults, then the route."""
        try:
            if not path.startswith(API_PREFIX):
                raise bad_request(f"Invalid version: {path.strip('/').split('/')[0]}")
            if self.auth_enabled:
                principal, message = self.auth.validate(context.headers.get("authorization"))
                if principal is None:
                    raise GraphError(
                        401,
                        "InvalidAuthenticationToken",
                        message,
                        {
                            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://'
                            'login.microsoftonline.com/common/oauth2/authorize", '
                            'client_id="00000003-0000-0000-c000-000000000000"'
                        },
                    )
                context.principal = principal
            if concurrency_error is not None:
                raise concurrency_error
            with self.lock:
                fault = self._faults.next_error()
            if fault is not None:
                raise fault
            return self._route(method, path[len(API_PREFIX) :], query, context, body)
        except GraphError as exc:
            return self._error(exc, context)
        except Exception:  # a bug in the emulator must still answer like a server
            log.exception("Graph emulator failed on %s %s", method, path)
            return self._error(
                GraphError(500, "InternalServerError", "An internal server error occurred."),
                context,
            )

    def _me(self, context: _Context) -> str:
        principal = context.principal
        if principal is not None:
            if principal.upn is None:
                raise bad_request("/me request is only valid with delegated authentication flow.")
            return principal.upn
        if self.default_user:
            return self.default_user
        users = self.state.mailbox_ids()
        if not users:
            raise bad_request("/me request is only valid with delegated authentication flow.")
        return users[0]

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        context: _Context,
        body: bytes,
    ) -> _Response:
        raw = path.split("/")
        parts = [urllib.parse.unquote(p) for p in raw]
        if parts == ["$batch"]:
            raise GraphError(405, "BadRequest", "Specified HTTP method is not allowed.")
        if parts and parts[0].lower() == "subscriptions":
            return self._subscriptions_route(method, parts[1:], context, body)
        directory = self.state.directory
        if parts and parts[0].lower() == "groups" and method == "GET":
            with self.lock:
                return self._groups_route(parts[1:], query)
        if [p.lower() for p in parts] == ["users"] and method == "GET":
            with self.lock:
                return _Response.json(200, directory.list_users(query, self.url + "/users"))
        if parts and parts[0].lower() == "me":
            user, prefix, rest = self._me(context), "me", parts[1:]
        elif len(parts) >= 2 and parts[0].lower() == "users" and parts[1]:
            user, prefix, rest = parts[1], f"users/{raw[1]}", parts[2:]
        else:
            segment = parts[0] if parts else ""
            raise bad_request(f"Resource not found for the segment '{segment}'.")
        state = self.state
        view = View.from_prefer(context.prefer)
        applied = []
        if "outlook.timezone" in context.prefer and view.tz_name != "UTC":
            applied.append(f'outlook.timezone="{view.tz_name}"')
        names = [p.lower() for p in rest]
        if names[:1] == ["calendar"] and len(names) > 1 and names[1] in ("events", "calendarview"):
            rest, names = rest[1:], names[1:]
        link = f"{self.url_root}/v1.0/{prefix}/" + "/".join(
            urllib.parse.quote(p, safe="@") for p in rest
        )
        headers: dict[str, str] = {}

        def ok(status: int, payload: Any) -> _Response:
            if applied:
                headers["Preference-Applied"] = ", ".join(applied)
            return _Response.json(status, payload, headers)

        if not names and method == "GET":
            return ok(200, state.user(user))
        if names in (["manager"], ["directreports"]) and method == "GET":
            with self.lock:
                if names == ["manager"]:
                    return ok(200, directory.manager(user))
                return ok(200, directory.direct_reports(user, query, link.rstrip("/")))
        if names == ["calendar"] and method == "GET":
            return ok(200, state.calendar(user))
        if names == ["calendars"] and method == "GET":
            return ok(200, {"value": [state.calendar(user)]})
        if names == ["mailboxsettings"] and method == "GET":
            return ok(200, state.mailbox_settings(user))
        if names == ["mailboxsettings"] and method == "PATCH":
            return ok(200, state.patch_mailbox_settings(user, _json_body(body)))
        if names == ["calendarview", "delta"] and method == "GET":
            size = None
            if "odata.maxpagesize" in context.prefer:
                try:
                    size = max(1, int(context.prefer["odata.maxpagesize"]))
                except ValueError:
                    size = None
                if size is not None:
                    applied.append(f"odata.maxpagesize={size}")
            return ok(200, state.delta(user, prefix, query, view, size))
        if names == ["calendarview"] and method == "GET":
            view = _query_view(view, query, single=False)
            return ok(200, state.calendar_view(user, query, view, link))
        if names == ["calendar", "getschedule"] and method == "POST":
            return ok(200, state.get_schedule(user, _json_body(body), view))
        if names == ["events"]:
            if method == "GET":
                view = _query_view(view, query, single=False)
                return ok(200, state.list_events(user, query, view, link))
            if method == "POST":
                event, _ = state.create_event(user, _json_body(body), view=view)
                return ok(201, event)
        if len(names) == 2 and names[0] == "events":
            event_id = rest[1]
            if method == "GET":
                view = _query_view(view, query, single=True)
                return ok(200, state.get_event(user, event_id, view))
            if method == "PATCH":
                if_match = context.headers.get("if-match")
                return ok(200, state.patch_event(user, event_id, _json_body(body), if_match, view))
            if method == "DELETE":
                state.delete_event(user, event_id, context.headers.get("if-match"))
                return _Response(204)
        if len(names) == 3 and names[0] == "events":
            event_id, action = rest[1], names[2]
            if action == "instances" and method == "GET":
                view = _query_view(view, query, single=False)
                return ok(200, state.instances(user, event_id, query, view, link))
            if method == "POST" and action in ("cancel", "decline", "accept", "tentativelyaccept"):
                data = _json_body(body)
                data = data if isinstance(data, dict) else {}
                comment = data.get("comment") or data.get("Comment")
                if action == "cancel":
                    state.cancel_event(user, event_id, comment)
                else:
                    response = {
                        "decline": "declined",
                        "accept": "accepted",
                        "tentativelyaccept": "tentativelyAccepted",
                    }[action]
                    send = data.get("sendResponse", True)
                    state.respond(
                        user, event_id, response, comment=comment, send_response=send is not False
                    )
                return _Response(202)
        if names and names[0] in ("events", "calendarview", "calendar", "calendars"):
            raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
        raise bad_request(f"Resource not found for the segment '{rest[0] if rest else user}'.")

    # --------------------------------------------------- subscriptions ----
    def _subscriptions_route(
        self, method: str, parts: list[str], context: _Context, body: bytes
    ) -> _Response:
        subs = self._subscriptions
        if not parts or parts == [""]:
            if method == "GET":
                return _Response.json(200, {"value": self.subscriptions()})
            if method == "POST":
                return self._create_subscription(context, _json_body(body))
        elif len(parts) == 1:
            if method == "GET":
                return _Response.json(200, subs.get(parts[0]).body(self.url_root))
            if method == "PATCH":
                renewed = subs.renew(parts[0], _json_body(body))
                return _Response.json(200, renewed.body(self.url_root))
            if method == "DELETE":
                subs.delete(parts[0])
                return _Response(204)
        raise GraphError(405, "BadRequest", "Specified HTTP method is not allowed.")

    def _create_subscription(self, context: _Context, body: Any) -> _Response:
        def resolve(user: str | None) -> str:
            return self.state.mailbox(user if user is not None else self._me(context)).upn

        fields, mailbox = parse_subscription(body, self.state.now(), resolve)
        # The handshake runs without the lock: the receiver may call back into Graph.
        validate_endpoint(fields["notification_url"], context.request_id)
        if fields["lifecycle_url"]:
            validate_endpoint(fields["lifecycle_url"], context.request_id)
        principal = context.principal
        app_id = principal.client_id if principal else "00000000-0000-0000-0000-000000000000"
        creator = (
            self.state.mailbox(principal.upn).user_id if principal and principal.upn else app_id
        )
        subscription = Subscription(
            id=self._subscriptions.new_id(),
            mailbox=mailbox,
            application_id=app_id,
            creator_id=creator,
            **fields,
        )
        self._subscriptions.add(subscription)
        return _Response.json(201, subscription.body(self.url_root))

    # ---------------------------------------------------------- batch -----
    def _batch(self, context: _Context, body: bytes, number: int) -> tuple[_Response, int]:
        try:
            payload = _json_body(body)
            requests = payload.get("requests") if isinstance(payload, dict) else None
            if not isinstance(requests, list) or not requests:
                raise bad_request("Invalid batch payload format.")
            if len(requests) > MAX_BATCH_REQUESTS:
                raise bad_request(
                    f"Invalid batch payload: a batch may contain at most {MAX_BATCH_REQUESTS} "
                    f"requests; this one has {len(requests)}."
                )
            ids: dict[str, Json] = {}
            for entry in requests:
                if not isinstance(entry, dict) or not entry.get("id") or not entry.get("url"):
                    raise bad_request("Each batch request needs an id, a method and a url.")
                key = str(entry["id"]).lower()
                if key in ids:
                    raise bad_request(
                        f"Batch request contains a duplicate request id: {entry['id']}."
                    )
                ids[key] = entry
            for entry in requests:
                for dep in entry.get("dependsOn") or []:
                    if str(dep).lower() not in ids:
                        raise bad_request(
                            f"Batch request {entry['id']} depends on unknown id {dep}."
                        )
        except GraphError as exc:
            return self._error(exc, context), 0
        sequential = any(entry.get("dependsOn") for entry in requests)
        per_mailbox: dict[str, int] = {}
        results: dict[str, _Response] = {}
        pending = list(requests)
        while pending:
            # Run, in list order, every request whose dependencies have all run; a cycle
            # (nothing can run) fails what is left with 424.
            ready = [
                e
                for e in pending
                if all(str(d).lower() in results for d in e.get("dependsOn") or [])
            ] or pending
            for entry in ready:
                response = self._batch_request(
                    entry, context, results, sequential, per_mailbox, number
                )
                results[str(entry["id"]).lower()] = response
            pending = [e for e in pending if str(e["id"]).lower() not in results]
        out: list[Json] = []
        for entry in requests:
            response = results[str(entry["id"]).lower()]
            item: Json = {"id": str(entry["id"]), "status": response.status}
            item["headers"] = {
                k: v
                for k, v in response.headers.items()
                if k.lower() not in ("request-id", "client-request-id")
            }
            if response.payload is not None:
                item["body"] = response.payload
            elif response.body:
                item["body"] = base64.b64encode(response.body).decode()
            out.append(item)
        return _Response.json(200, {"responses": out}), len(requests)

    def _batch_request(
        self,
        entry: Json,
        context: _Context,
        results: Mapping[str, _Response],
        sequential: bool,
        per_mailbox: dict[str, int],
        number: int,
    ) -> _Response:
        method = str(entry.get("method") or "GET").upper()
        url = str(entry["url"])
        inner_headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
        inner_headers.setdefault("authorization", context.headers.get("authorization", ""))
        prefer = context.headers.get("prefer", "")
        if "prefer" in inner_headers:
            prefer = inner_headers["prefer"]
        inner = _Context(
            method,
            inner_headers,
            parse_prefer([prefer]),
            None,
            self._new_request_id(),
            context.client_request_id,
        )
        split = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        path = split.path if split.scheme or split.netloc else API_PREFIX + split.path.lstrip("/")
        failed = [
            d
            for d in entry.get("dependsOn") or []
            if results.get(str(d).lower(), _Response(424)).status >= 400
        ]
        if split.scheme or split.netloc:
            response = self._error(bad_request("Invalid request URL: it must be relative."), inner)
        elif failed:
            response = self._error(
                GraphError(
                    424, "FailedDependency", f"Request depends on failed request {failed[0]}."
                ),
                inner,
            )
        else:
            data = entry.get("body")
            raw = b""
            if isinstance(data, dict | list):
                raw = json.dumps(data).encode("utf-8")
            elif isinstance(data, str):
                try:
                    raw = base64.b64decode(data)
                except ValueError:
                    raw = data.encode("utf-8")
            concurrency = None
            with self.lock:
                limit = self._faults.mailbox_concurrency
            if limit is not None and not sequential:
                match = re.match(r"^/v1\.0/(?:users/([^/?]+)|me)", path, re.IGNORECASE)
                mailbox = urllib.parse.unquote(match[1] or "me").lower() if match else ""
                per_mailbox[mailbox] = per_mailbox.get(mailbox, 0) + 1
                if per_mailbox[mailbox] > limit:
                    concurrency = throttled(1)
            response = self._call(method, path, query, inner, raw, concurrency_error=concurrency)
        self.requests._add(
            RequestRecord(method, urllib.parse.unquote(path), query, response.status, number),
            http=False,
            call=True,
        )
        return response

    # ------------------------------------------------------- identity -----
    def _identity(
        self, method: str, path: str, query: Mapping[str, list[str]], body: bytes
    ) -> _Response:
        match = _AUTH_PATH.match(path)
        assert match is not None
        tenant, endpoint = match[1], match[2]
        if path.endswith("/discovery/instance") and method == "GET":
            return _Response.json(200, self.auth.instance_discovery(query))
        if endpoint is None and method == "GET":
            return _Response.json(200, self.auth.openid_configuration(tenant))
        if endpoint and method == "POST":
            form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8")).items()}
            status, payload = (
                self.auth.token(form) if endpoint == "token" else self.auth.devicecode(form)
            )
            return _Response.json(
                status, payload, {"Content-Type": "application/json; charset=utf-8"}
            )
        return _Response.json(405, {"error": "invalid_request", "error_description": "Not allowed"})

    # -------------------------------------------------------- control -----
    def _control(self, method: str, path: str, body: bytes) -> _Response:
        try:
            settings = _json_body(body) if method == "POST" else {}
            if path == "faults" and method == "POST":
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
            if path == "mailboxes" and method == "GET":
                return _Response.json(200, {"mailboxes": self.mailboxes()})
            if path == "device-codes" and method == "POST":
                try:
                    if settings.get("deny"):
                        self.deny_device_code(str(settings["user_code"]))
                    else:
                        self.approve_device_code(str(settings["user_code"]), str(settings["upn"]))
                except KeyError as exc:
                    raise bad_request(str(exc)) from None
                return _Response(204)
        except GraphError as exc:
            return _Response.json(exc.status, {"error": {"code": exc.code, "message": exc.message}})
        return _Response.json(404, {"error": {"code": "NotFound", "message": "Not Found"}})


# -------------------------------------------------------------------- CLI ----
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m calsync_emulators.graph",
        description="Serve a local emulator of Microsoft Graph v1.0 (calendar subset).",
    )
    add_serving_arguments(parser, "write the emulator's Graph URL here once listening")
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="tenant for the authority URL")
    parser.add_argument(
        "--no-auth", action="store_true", help="accept Graph calls without a bearer token"
    )
    args = parser.parse_args(argv)

    def banner(emulator: GraphEmulator, loaded: list[str]) -> str:
        return (
            f"Microsoft Graph v1.0 emulator on {emulator.url}\n"
            f"  authority:  {emulator.authority} (via EmulatorHttpClient({emulator.url_root!r}))\n"
            f"  token URL:  {emulator.url_root}/{args.tenant}/oauth2/v2.0/token\n"
            f"  auth:       {'off' if args.no_auth else 'bearer tokens from the token URL'}\n"
            f"  mailboxes:  {', '.join(loaded) or '(none)'}"
        )

    return serve_until_signalled(
        args,
        lambda: GraphEmulator(args.port, args.host, auth=not args.no_auth, tenant=args.tenant,
                              latency=args.latency),
        banner,
    )

if __name__ == "__main__":
    raise SystemExit(main())
