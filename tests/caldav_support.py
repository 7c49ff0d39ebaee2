"""A real Radicale on loopback, and a small proxy in front of it for what Radicale cannot do.

``RadicaleServer`` runs ``python -m radicale`` from the test environment
(``--config ""`` so nothing on the machine is read, ``--auth-type none`` so
any username picks its home collection) in a throwaway folder. ``calendar``
creates a user's calendar through the ``caldav`` client, as a person's
calendar app would; ``put``/``delete`` change it the same way.

``DavProxy`` forwards every request to a server unchanged, and can make it
look like another server: one that fails (429 with ``Retry-After``, 5xx),
that has no ``sync-collection`` or ``free-busy-query`` (403
``supported-report``, as RFC 3253 servers answer), or that schedules
(``calendar-auto-schedule`` in ``DAV:``). It records each request's method
and path, so tests can count them.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import caldav
from lxml import etree

from calsync.demo.run import DemoRadicale
from calsync.providers.caldav.mapping import split_calendar

_SUPPORTED_REPORT = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:error xmlns:D="DAV:"><D:supported-report/></D:error>'
)


class RadicaleServer(DemoRadicale):
    """Radicale 3 on 127.0.0.1 (the demo's starter) with its storage in a temporary folder."""

    def __init__(self, max_sync_token_age: int | None = None) -> None:
        extra = ([] if max_sync_token_age is None
                 else ["--storage-max-sync-token-age", str(max_sync_token_age)])
        super().__init__(Path(tempfile.mkdtemp(prefix="calsync-radicale-")), extra)
        self._homes: set[str] = set()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- calendars, through the caldav client -------------------------------------------

    def client(self, user: str, url: str | None = None) -> caldav.DAVClient:
        return caldav.DAVClient(url or self.url + "/", username=user, password="x")

    def calendar(self, user: str, cal_id: str = "work", name: str | None = None) -> str:
        """Create ``user``'s calendar; its URL.

        The first calendar of a user goes through the principal (Radicale makes
        the home collection then, which takes it about a second); the others
        straight into the known home.
        """
        with self.client(user) as client:
            if user not in self._homes:
                home: caldav.Principal | caldav.CalendarSet = client.principal()
                self._homes.add(user)
            else:
                home = caldav.CalendarSet(client=client, url=f"{self.url}/{user}/")
            made = home.make_calendar(name=name or cal_id, cal_id=cal_id)
            return str(made.url)

    def collection_folder(self, calendar_url: str) -> Path:
        return self.folder / "collections" / "collection-root" / urlsplit(
            calendar_url).path.strip("/")  # fmt: skip

    def forget_sync_tokens(self, calendar_url: str) -> None:
        """What Radicale does to tokens older than max_sync_token_age: they are gone."""
        tokens = self.collection_folder(calendar_url) / ".Radicale.cache" / "sync-token"
        for token in tokens.glob("*"):
            token.unlink()

    def age_sync_tokens(self, calendar_url: str, seconds: float) -> None:
        """Make every stored token of the calendar ``seconds`` older (as time passing would)."""
        tokens = self.collection_folder(calendar_url) / ".Radicale.cache" / "sync-token"
        for token in tokens.glob("*"):
            stat = token.stat()
            os.utime(token, (stat.st_atime - seconds, stat.st_mtime - seconds))


def put(url: str, ics: str | bytes, etag: str | None = None) -> str:
    """PUT one object as a calendar app does; its new ETag."""
    body = ics.encode() if isinstance(ics, str) else ics
    connection = _connection(url)
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if etag:
        headers["If-Match"] = etag
    connection.request("PUT", urlsplit(url).path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status in (201, 204), (response.status, url)
    return response.getheader("ETag") or ""


def get(url: str) -> tuple[str, bytes]:
    connection = _connection(url)
    connection.request("GET", urlsplit(url).path)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, (response.status, url)
    return response.getheader("ETag") or "", body


def delete(url: str) -> None:
    connection = _connection(url)
    connection.request("DELETE", urlsplit(url).path)
    response = connection.getresponse()
    response.read()
    assert response.status in (200, 204), (response.status, url)


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def split_objects(ics: str) -> dict[str, bytes]:
    """One CalDAV object per UID (a series with its overrides), with VTIMEZONEs added."""
    return split_calendar(ics)


class DavProxy:
    """Forwards to ``upstream``; can fail, hide reports, or claim scheduling."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.failures: list[tuple[int, str | None]] = []
        self.no_sync_collection = False
        self.no_free_busy = False
        self.schedules = False
        #: path -> what a multiget answers as that object's calendar-data (a broken server).
        self.serve_instead: dict[str, str] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._handle(self, body)

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = _any
            do_OPTIONS = do_PROPPATCH = do_MKCALENDAR = do_MKCOL = do_POST = _any
            do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> DavProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, status: int, times: int, retry_after: str | None = None) -> None:
        with self._lock:
            self.failures = [(status, retry_after)] * times

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _, _ in self.requests if method is None or m == method)

    def _substitute(self, data: bytes) -> bytes:
        return _substitute_in(self, data)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        method = handler.command
        with self._lock:
            self.requests.append((method, handler.path, body))
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _answer(handler, status, b"", headers)
        if method == "REPORT" and self.no_sync_collection and b"sync-collection" in body:
            return _answer(handler, 403, _SUPPORTED_REPORT,
                           {"Content-Type": "application/xml"})  # fmt: skip
        if method == "REPORT" and self.no_free_busy and b"free-busy-query" in body:
            return _answer(handler, 403, _SUPPORTED_REPORT,
                           {"Content-Type": "application/xml"})  # fmt: skip
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
        )
        dropped = ("host", "content-length", "connection", "accept-encoding")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in dropped}
        connection.request(method, handler.path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        out = {k: v for k, v in response.getheaders()
               if k.lower() not in ("content-length", "connection", "transfer-encoding")}
        if method == "REPORT" and self.serve_instead and b"calendar-multiget" in body:
            data = self._substitute(data)
        if method == "OPTIONS" and self.schedules:
            out["DAV"] = (out.get("DAV") or "1") + ", calendar-auto-schedule"
        return _answer(handler, response.status, data, out)


def _substitute_in(proxy: DavProxy, data: bytes) -> bytes:
    root = etree.fromstring(data)
    for response in root.iter("{DAV:}response"):
        href = unquote(response.findtext("{DAV:}href") or "")
        if href in proxy.serve_instead:
            for node in response.iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
                node.text = proxy.serve_instead[href]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


_SHARED: RadicaleServer | None = None
_SHARED_LOCK = threading.Lock()


def shared_radicale() -> RadicaleServer:
    """One Radicale for the whole test process (each test uses its own user), stopped at exit."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or (_SHARED.process is not None and _SHARED.process.poll() is not None):
            import atexit

            _SHARED = RadicaleServer().start()
            atexit.register(_SHARED.stop)
        return _SHARED
