"""The machine endpoints: ``/healthz``, ``/metrics`` and the push webhooks.

- ``GET /healthz``: ``health()`` as JSON; 200 when healthy, else 503.
- ``GET /metrics``: :func:`calsync.service.metrics.render` (Prometheus text format).
- ``POST /push/google``: Calendar API watch notifications
  (shared/provider-facts.md 1.7). Only the headers matter (the body is empty
  and never read as data). ``X-Goog-Channel-Token`` must be a token calsync
  minted (:func:`calsync.service.push_tokens.mint_token`), else 403. ``sync``
  (sent once when a channel opens) is acknowledged; ``exists``/``not_exists``
  call ``on_change("google", calendar)``.
- ``POST /push/graph``: Microsoft Graph change notifications (section 2.6).
  ``?validationToken=...`` is echoed back URL-decoded as ``text/plain``; a
  notification's items must carry a ``clientState`` calsync minted (items
  without one are rejected; when none verifies, 403); each calendar named by
  a verified item gets one ``on_change("outlook", calendar)``; the answer is
  202. Lifecycle notifications carry the same clientState and also just
  trigger a sync.

Bodies over ``max_body`` are 413 (read and dropped up to ``DRAIN_MAX`` first,
so a client still writing gets to read the answer instead of a reset).
``on_change`` runs in a worker thread, so it must be quick: wake the daemon
thread and let it sync. A notification only ever means "fetch now": what
changed is read from the provider, never from the request. Neither tokens nor
the secret are ever logged, and query strings are cut from every log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from calsync.service import metrics
from calsync.service.push_tokens import GOOGLE, OUTLOOK, verify_token

__all__ = ["DRAIN_MAX", "MAX_BODY", "Hooks", "error", "hook_routes"]

log = logging.getLogger(__name__)

#: The largest request body read; anything longer is 413.
MAX_BODY = 1024 * 1024
#: How much of a refused (413) body is read and dropped before answering.
DRAIN_MAX = 16 * MAX_BODY
#: The longest Graph validation token echoed back.
VALIDATION_TOKEN_MAX = 1024

OnChange = Callable[[str, str], None]
Health = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the machine endpoints need: the push secret and two callbacks.

    ``on_change`` is None in ``calsync serve`` (no daemon in the process): the
    push routes are then not served at all, so a load balancer sending them
    there gets a clear 404 instead of a notification silently dropped.
    """

    secret: bytes
    health: Health
    on_change: OnChange | None = None
    max_body: int = MAX_BODY
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def error(status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": HTTPStatus(status).phrase}, status, headers=headers)


def _short(value: str | None, limit: int = 80) -> str:
    return repr((value or "")[:limit])


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; ``TooLarge`` after draining (bounded) a longer one."""
    announced = request.headers.get("content-length")
    if announced is not None:
        try:
            length = int(announced)
        except ValueError:
            length = -1
        if length > limit:
            if length <= DRAIN_MAX:
                await _drain(request)
            raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, size)
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request, already: int = 0) -> None:
    left = DRAIN_MAX - already
    receive = request.receive
    while left > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        left -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def hook_routes(hooks: Hooks) -> list[Route]:
    async def healthz(request: Request) -> Response:
        try:
            ok, info = await run_in_threadpool(hooks.health)
        except Exception:
            log.exception("health check failed")
            ok, info = False, {"error": "the health check raised an exception"}
        payload = {**info, "ok": bool(ok)}
        body = json.dumps(payload, default=str, sort_keys=True).encode("utf-8")
        return Response(body, 200 if ok else 503, media_type="application/json")

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), 200, headers={"Content-Type": metrics.CONTENT_TYPE})

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_page, methods=["GET", "HEAD"]),
    ]
    on_change = hooks.on_change
    if on_change is None:
        return routes

    async def changed(provider: str, calendars: list[str]) -> bool:
        ok = True
        for calendar in calendars:
            try:
                await run_in_threadpool(on_change, provider, calendar)
            except Exception:
                log.exception("%s push: on_change failed for %s", provider, calendar)
                ok = False
        return ok

    async def google(request: Request) -> Response:
        try:
            await read_body(request, hooks.max_body)  # never used: only the headers count
        except TooLarge:
            return error(413)
        token = request.headers.get("x-goog-channel-token")
        channel = request.headers.get("x-goog-channel-id")
        calendar = verify_token(hooks.secret, GOOGLE, token, now=hooks.clock())
        if calendar is None:
            metrics.record_push(GOOGLE, "rejected")
            log.warning(
                "google push rejected: %s channel token (channel %s, from %s)",
                "no" if not token else "an invalid", _short(channel), _client(request),
            )
            return error(403)
        state = (request.headers.get("x-goog-resource-state") or "").strip()
        number = request.headers.get("x-goog-message-number")
        if state == "sync":
            metrics.record_push(GOOGLE, "accepted")
            log.info("google push: channel %s for %s is open", _short(channel), calendar)
            return JSONResponse({})
        if state not in ("exists", "not_exists"):
            metrics.record_push(GOOGLE, "rejected")
            log.warning("google push for %s: unknown resource state %s", calendar, _short(state))
            return error(400)
        metrics.record_push(GOOGLE, "accepted")
        log.info("google push: %s changed (%s, message %s)", calendar, state, _short(number))
        return JSONResponse({}) if await changed(GOOGLE, [calendar]) else error(500)

    async def graph(request: Request) -> Response:
        try:
            body = await read_body(request, hooks.max_body)
        except TooLarge:
            return error(413)
        if "validationToken" in request.query_params:
            token = request.query_params["validationToken"]
            if len(token) > VALIDATION_TOKEN_MAX:
                return error(400)
            log.info("graph push: answered a subscription validation request")
            return Response(token.encode("utf-8"), 200, media_type="text/plain; charset=utf-8")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            payload = None  # deep nesting is an attack, not a notification
        items = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            metrics.record_push(OUTLOOK, "rejected")
            log.warning('graph push rejected: the body is not {"value": [...]}')
            return error(400)
        calendars: dict[str, None] = {}
        rejected = 0
        for item in items:
            state = item.get("clientState") if isinstance(item, dict) else None
            calendar = verify_token(hooks.secret, OUTLOOK, state, now=hooks.clock())
            if calendar is None:
                rejected += 1
                metrics.record_push(OUTLOOK, "rejected")
                continue
            metrics.record_push(OUTLOOK, "accepted")
            calendars[calendar] = None
        if rejected:
            log.warning(
                "graph push: %d of %d notifications rejected (missing or invalid clientState, "
                "from %s)", rejected, len(items), _client(request),
            )
        if not calendars:
            return error(403)
        log.info("graph push: %s changed", ", ".join(calendars))
        if await changed(OUTLOOK, list(calendars)):
            return Response(b"", 202)
        return error(500)

    return [
        *routes,
        Route("/push/google", google, methods=["POST"]),
        Route("/push/graph", graph, methods=["POST"]),
    ]
