"""The daemon's HTTP surface: ``/healthz``, ``/metrics`` and the push webhooks.

``calsync run`` starts one :class:`DaemonServer` (a stdlib
``ThreadingHTTPServer`` on ``[daemon] listen``). In production it listens on
loopback behind a TLS reverse proxy that publishes ``[daemon] public_url``.

Endpoints:

- ``GET /healthz``: ``health()`` as JSON; 200 when healthy, else 503.
- ``GET /metrics``: :func:`calsync.service.metrics.render` (Prometheus text format).
- ``POST /push/google``: Calendar API watch notifications
  (shared/provider-facts.md 1.7). Only the headers matter (the body is empty
  and never read as data). ``X-Goog-Channel-Token`` must be a token calsync
  minted (:func:`mint_token`), else 403. ``sync`` (sent once when a channel
  opens) is acknowledged; ``exists``/``not_exists`` call
  ``on_change("google", calendar)``.
- ``POST /push/graph``: Microsoft Graph change notifications (section 2.6).
  ``?validationToken=...`` is echoed back URL-decoded as ``text/plain``; a
  notification's items must carry a ``clientState`` calsync minted (items
  without one are rejected; when none verifies, 403); each calendar named by
  a verified item gets one ``on_change("outlook", calendar)``; the answer is
  202. Lifecycle notifications (``lifecycleEvent``, e.g. ``missed``) carry the
  same clientState and also just trigger a sync.

Everything else is 404 (405 for a known path with the wrong method); bodies
over ``max_body`` are 413. ``on_change`` runs in the request thread, so it must
be quick: wake the daemon thread and let it sync. A notification only ever
means "fetch now": what changed is read from the provider, never from the
request. Tokens are described in :mod:`calsync.service.push_tokens`; neither
tokens nor the secret are ever logged, and query strings are cut from every
log line.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

from calsync.service import metrics
from calsync.service.push_tokens import GOOGLE, OUTLOOK, verify_token
from calsync.service.serving import serve_in_background, shut_down

__all__ = ["MAX_BODY", "DaemonServer"]

log = logging.getLogger(__name__)

#: The largest request body read; anything longer is 413.
MAX_BODY = 1024 * 1024
#: How much of a refused (413) body is read and dropped before closing.
DRAIN_MAX = 16 * MAX_BODY
#: The longest Graph validation token echoed back.
VALIDATION_TOKEN_MAX = 1024
#: Seconds a client may take to send its request before the thread gives up.
REQUEST_TIMEOUT = 15.0

OnChange = Callable[[str, str], None]
Health = Callable[[], tuple[bool, dict[str, Any]]]


# ------------------------------------------------------------------ server ----
_QUERY = re.compile(r"\?[^\s'\"]*")


def _redact(text: str) -> str:
    """Drop query strings (Graph's validationToken travels in one) from a log line."""
    return _QUERY.sub("?…", text)


def _short(value: str | None, limit: int = 80) -> str:
    return repr((value or "")[:limit])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "calsync"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    # -- plumbing ---------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s", _redact(format % args))

    def log_error(self, format: str, *args: Any) -> None:
        log.warning("http %s: %s", self.client_address[0], _redact(format % args))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path
        log.debug("%s %s %s", getattr(self, "command", "-"), path, code)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, default=str, sort_keys=True).encode("utf-8")
        self._send(status, data, "application/json", headers)

    def _error(self, status: HTTPStatus, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": status.phrase}, headers)

    def _body(self) -> bytes | None:
        """The request body, or None after answering 400/411/413."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED)
            return None
        raw = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST)
            return None
        if length > self.server.app.max_body:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            self._discard(length)
            return None
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        """Read and drop a refused body (bounded), so the client gets to read the 413.

        Closing with unread data makes the kernel reset the connection, and a
        client still writing its body would see that reset instead of the answer.
        """
        self.wfile.flush()
        left = min(length, DRAIN_MAX)
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    # -- dispatch ---------------------------------------------------------------
    _ROUTES: ClassVar[dict[str, tuple[str, ...]]] = {
        "/healthz": ("GET", "HEAD"),
        "/metrics": ("GET", "HEAD"),
        "/push/google": ("POST",),
        "/push/graph": ("POST",),
    }

    def _dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        allowed = self._ROUTES.get(path)
        if allowed is None:
            self._error(HTTPStatus.NOT_FOUND)
            return
        if self.command not in allowed:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": ", ".join(allowed)})
            return
        if path == "/healthz":
            self._healthz()
        elif path == "/metrics":
            self._send(HTTPStatus.OK, metrics.render(), metrics.CONTENT_TYPE)
        else:
            body = self._body()
            if body is None:
                return
            if path == "/push/google":
                self._google()
            else:
                self._graph(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # -- endpoints --------------------------------------------------------------
    def _healthz(self) -> None:
        try:
            ok, info = self.server.app.health()
        except Exception:
            log.exception("health check failed")
            ok, info = False, {"error": "the health check raised an exception"}
        payload = {**info, "ok": bool(ok)}
        self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, payload)

    def _changed(self, provider: str, calendars: list[str]) -> bool:
        ok = True
        for calendar in calendars:
            try:
                self.server.app.on_change(provider, calendar)
            except Exception:
                log.exception("%s push: on_change failed for %s", provider, calendar)
                ok = False
        return ok

    def _google(self) -> None:
        app = self.server.app
        token = self.headers.get("X-Goog-Channel-Token")
        channel = self.headers.get("X-Goog-Channel-ID")
        calendar = verify_token(app.secret, GOOGLE, token)
        if calendar is None:
            metrics.record_push(GOOGLE, "rejected")
            log.warning(
                "google push rejected: %s channel token (channel %s, from %s)",
                "no" if not token else "an invalid",
                _short(channel),
                self.client_address[0],
            )
            self._error(HTTPStatus.FORBIDDEN)
            return
        state = (self.headers.get("X-Goog-Resource-State") or "").strip()
        number = self.headers.get("X-Goog-Message-Number")
        if state == "sync":
            metrics.record_push(GOOGLE, "accepted")
            log.info("google push: channel %s for %s is open", _short(channel), calendar)
            self._json(HTTPStatus.OK, {})
            return
        if state not in ("exists", "not_exists"):
            metrics.record_push(GOOGLE, "rejected")
            log.warning("google push for %s: unknown resource state %s", calendar, _short(state))
            self._error(HTTPStatus.BAD_REQUEST)
            return
        metrics.record_push(GOOGLE, "accepted")
        log.info("google push: %s changed (%s, message %s)", calendar, state, _short(number))
        if self._changed(GOOGLE, [calendar]):
            self._json(HTTPStatus.OK, {})
        else:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR)

    def _graph(self, body: bytes) -> None:
        query = urllib.parse.parse_qs(
            urllib.parse.urlsplit(self.path).query, keep_blank_values=True
        )
        if "validationToken" in query:
            token = query["validationToken"][0]
            if len(token) > VALIDATION_TOKEN_MAX:
                self._error(HTTPStatus.BAD_REQUEST)
                return
            log.info("graph push: answered a subscription validation request")
            self._send(HTTPStatus.OK, token.encode("utf-8"), "text/plain; charset=utf-8")
            return
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        items = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            metrics.record_push(OUTLOOK, "rejected")
            log.warning('graph push rejected: the body is not {"value": [...]}')
            self._error(HTTPStatus.BAD_REQUEST)
            return
        calendars: dict[str, None] = {}
        rejected = 0
        for item in items:
            state = item.get("clientState") if isinstance(item, dict) else None
            calendar = verify_token(self.server.app.secret, OUTLOOK, state)
            if calendar is None:
                rejected += 1
                metrics.record_push(OUTLOOK, "rejected")
                continue
            metrics.record_push(OUTLOOK, "accepted")
            calendars[calendar] = None
        if rejected:
            log.warning(
                "graph push: %d of %d notifications rejected (missing or invalid clientState, "
                "from %s)",
                rejected,
                len(items),
                self.client_address[0],
            )
        if not calendars:
            self._error(HTTPStatus.FORBIDDEN)
            return
        log.info("graph push: %s changed", ", ".join(calendars))
        if self._changed(OUTLOOK, list(calendars)):
            self._send(HTTPStatus.ACCEPTED)
        else:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: int, app: DaemonServer) -> None:
        self.address_family = family
        self.app = app
        super().__init__(address, _Handler)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, colon, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen {listen!r} is not host:port (e.g. 127.0.0.1:8787)")
    return host, int(port)


class DaemonServer:
    """``/healthz``, ``/metrics``, ``/push/google`` and ``/push/graph`` on ``listen``.

    ``listen`` is ``host:port`` (``[::1]:8787`` for IPv6; port 0 picks a free
    one, see :attr:`port`). ``secret`` verifies push tokens (see
    :func:`push_secret`). ``on_change(provider, calendar)`` is called from
    request threads and must only queue work. ``health()`` returns
    ``(healthy, info)``; ``info`` is served as JSON.
    """

    def __init__(
        self,
        listen: str,
        secret: bytes,
        on_change: OnChange,
        health: Health,
        *,
        max_body: int = MAX_BODY,
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        self.host, self._port = _parse_listen(listen)
        self.secret = secret
        self.on_change = on_change
        self.health = health
        self.max_body = max_body
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DaemonServer:
        if self._server is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            self._server = _Server((self.host, self._port), family, self)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {self.host}:{self._port}: {exc.strerror}"
            ) from None
        self._port = self._server.server_address[1]
        self._thread = serve_in_background(self._server, "calsync-http")
        log.debug("listening on %s", self.url)
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server, self._thread = None, None

    def __enter__(self) -> DaemonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the real one after :meth:`start` when ``listen`` said 0)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, as bound (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"
