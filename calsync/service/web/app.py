"""The ASGI app: machine endpoints always, the 1:1 pages when a site is given.

``create_app(hooks)`` serves ``/healthz``, ``/metrics`` and (with
``hooks.on_change``) the push webhooks; ``create_app(hooks, site)`` adds the
people-facing part (:mod:`calsync.service.web.site`): sign-in, the pair pages,
the JSON API and the static assets.

Every response carries ``Cache-Control: no-store`` (pages show private notes)
and ``X-Content-Type-Options: nosniff``; HTML adds a strict Content Security
Policy (every asset comes from calsync itself) and refuses framing. Each
request is logged at debug level as method, path and status: never a query
string, which may carry a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.service.web.hooks import Hooks, error, hook_routes

__all__ = ["Site", "create_app"]

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class Site(Protocol):
    """The people-facing part of the app (pages, sign-in, API)."""

    def routes(self) -> list[BaseRoute]: ...

    def error_page(self, request: Request, status: int) -> Response | None: ...


class _Headers:
    """Security headers on every response, and one debug log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    extra += [
                        (b"content-security-policy", CSP.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"no-referrer"),
                    ]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.debug("%s %s %s (%.1f ms)", scope["method"], scope["path"], status or "-",
                      (time.monotonic() - started) * 1000)


def create_app(
    hooks: Hooks, site: Site | None = None, middleware: Sequence[Middleware] = ()
) -> ASGIApp:
    routes: list[BaseRoute] = list(hook_routes(hooks))
    if site is not None:
        routes += site.routes()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        page = site.error_page(request, exc.status_code) if site is not None else None
        if page is not None:
            if exc.headers:
                page.headers.update(exc.headers)
            return page
        return error(exc.status_code, dict(exc.headers or {}))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500)

    async def on_gone(request: Request, exc: Exception) -> Response:
        # The client hung up mid-request: nobody reads an answer, nothing failed.
        log.debug("%s %s: the client went away", request.method, request.url.path)
        return Response(status_code=400)

    handlers: MutableMapping[Any, Any] = {
        HTTPException: on_http_error, ClientDisconnect: on_gone, Exception: on_crash,
    }
    return _Headers(Starlette(routes=routes, exception_handlers=handlers,
                              middleware=list(middleware)))
