"""Serving the web app with uvicorn: in a background thread (``calsync run``) or alone.

:class:`WebServer` binds its own socket first (so ``listen`` may say port 0
and :attr:`WebServer.port` is the real one), then runs uvicorn on it in a
daemon thread. ``calsync serve`` runs uvicorn in the foreground instead
(:func:`serve_forever`); several such processes may share one database.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from calsync.service.web.app import create_app
from calsync.service.web.hooks import MAX_BODY, Hooks

__all__ = ["DaemonServer", "WebServer", "parse_listen", "serve_forever"]

log = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    host, colon, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen {listen!r} is not host:port (e.g. 127.0.0.1:8787)")
    return host, int(port)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _config(app: ASGIApp) -> uvicorn.Config:
    # No access log: a query string may carry a secret (Graph's validationToken,
    # a sign-in link); the app logs each request itself without its query.
    return uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", http="h11",
        timeout_keep_alive=5, timeout_graceful_shutdown=3, server_header=False,
    )


class WebServer:
    """An ASGI app served by uvicorn on ``listen`` (``host:port``) from a daemon thread."""

    def __init__(self, listen: str, app: ASGIApp) -> None:
        self.host, self._port = parse_listen(listen)
        self.app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WebServer:
        if self._server is not None:
            return self
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        server = uvicorn.Server(_config(self.app))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="calsync-web", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the web server on {self.url} did not start")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock
        log.debug("listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._server is not None:
            self._sock.close()
        self._server, self._thread = None, None

    def __enter__(self) -> WebServer:
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


class DaemonServer(WebServer):
    """Only the machine endpoints (``/healthz``, ``/metrics``, push), as tests and tools need.

    ``secret`` verifies push tokens; ``on_change(provider, calendar)`` must only
    queue work; ``health()`` returns ``(healthy, info)``.
    """

    def __init__(
        self,
        listen: str,
        secret: bytes,
        on_change: Callable[[str, str], None],
        health: Callable[[], tuple[bool, dict[str, Any]]],
        *,
        max_body: int = MAX_BODY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        hooks = Hooks(secret, health, on_change, max_body, clock)
        super().__init__(listen, create_app(hooks))


class _Foreground(uvicorn.Server):
    """Ends cleanly (exit 0, like ``calsync run``) on SIGTERM/SIGINT, after open requests."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing open requests, then stopping", sig)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def serve_forever(listen: str, app: ASGIApp) -> None:
    """Serve ``app`` in the foreground until SIGINT/SIGTERM (``calsync serve``)."""
    host, port = parse_listen(listen)
    sock = _bind(host, port)
    try:
        _Foreground(_config(app)).run(sockets=[sock])
    finally:
        sock.close()
