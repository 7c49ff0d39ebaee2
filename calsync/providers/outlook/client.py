"""The HTTP client for Microsoft Graph v1.0: tokens, retries, ``$batch``, errors.

``GraphClient`` sends every request over one httpx client with a bearer token
from the provider's ``TokenSource`` (fetched once more after a 401), under the
provider's retry policy (429 and 5xx wait for ``Retry-After``, otherwise
backoff with jitter; network errors are retried only for idempotent
requests), runs JSON ``$batch`` requests of up to 20 with their inner 429/5xx
retried, counts every request through the ``count_api_call`` hook, and turns
Graph's error bodies into the domain errors of ``calsync.providers.base``.
Every request holds a slot of the provider's ``limits.Throttle`` while it runs:
``max_concurrency`` in flight for the provider and ``mailbox_concurrency`` (at
most Graph's four) for one mailbox; httpx's client is shared by the threads. It
knows nothing about events: what to ask for is the reader's, writer's and
push module's business.
"""

from __future__ import annotations

import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from calsync.config import OutlookProvider, is_loopback_url
from calsync.providers.base import (
    ApiCallCounter,
    CursorExpired,
    ProviderError,
    ReauthorizationNeeded,
    uncounted,
)
from calsync.providers.limits import Throttle
from calsync.providers.outlook.auth import TokenSource
from calsync.providers.outlook.mapping import Json
from calsync.providers.retry import backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)

BATCH_SIZE = 20  # Graph's JSON batch limit
CURSOR_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
_USER_PATH = re.compile(r"^/?users/([^/?]+)")
_NO_MAILBOX = frozenset({"ErrorInvalidUser", "ResourceNotFound", "MailboxNotEnabledForRESTAPI"})


class HttpProblem(ProviderError):
    """A Graph error response that callers may inspect (status, code)."""

    def __init__(self, calendar: str, message: str, status: int, code: str) -> None:
        super().__init__(calendar, message)
        self.status = status
        self.code = code


def user_path(calendar: str) -> str:
    """The Graph path of the mailbox ``calendar`` (an address or a user id)."""
    return "users/" + urllib.parse.quote(calendar, safe="@")


def _mailbox_of(request: Json) -> str | None:
    """The mailbox a batch item addresses (``/users/{id}/...``), or None."""
    match = _USER_PATH.match(str(request.get("url") or ""))
    return urllib.parse.unquote(match[1]) if match else None


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status not in (501, 505))


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    seconds = retry_after_seconds(value)
    return max(0.0, seconds) if seconds is not None else None


def _error_of(status: int, body: Any) -> tuple[int, str, str]:
    """(status, code, message) of a Graph error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return status, str(error.get("code") or ""), str(error.get("message") or "")
    return status, "", ""


def json_of(response: httpx.Response) -> Any:
    """The response's JSON body; {} when it is empty or not JSON."""
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}


class GraphClient:
    """One provider's connection to Microsoft Graph, and the retry policy around it."""

    def __init__(
        self,
        name: str,
        settings: OutlookProvider,
        tokens: TokenSource,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.count_api_call = count_api_call
        self.settings = settings
        self.tokens = tokens
        self.sleep = sleep
        self.rand = rand
        self.base = settings.graph_endpoint.rstrip("/")
        self.throttle = Throttle(
            settings.max_concurrency, per_key=settings.mailbox_concurrency, sleep=sleep
        )
        self._client = httpx.Client(
            timeout=settings.timeout,
            transport=transport,
            # A connection per request in flight, so the pool never queues them.
            limits=httpx.Limits(max_connections=settings.max_concurrency + 4),
            # A loopback emulator must not go through a proxy from the environment.
            trust_env=not is_loopback_url(self.base),
        )
        self._token: str | None = None

    def close(self) -> None:
        """Persist msal's token cache and drop connections."""
        self.tokens.save()
        self._client.close()

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def relative(self, link: str) -> str | None:
        """A link on our Graph endpoint as a batch-relative URL; None when elsewhere."""
        if link.startswith(self.base + "/"):
            return link[len(self.base) :]
        return None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(attempt, retry_after, self.rand)

    def _auth(self, calendar: str, *, refresh: bool = False) -> dict[str, str]:
        """The Authorization header; msal's cache answers until the token nears expiry."""
        self._token = self.tokens.token(calendar, refresh=refresh)
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def send(
        self,
        method: str,
        url: str,
        calendar: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        mailboxes: Sequence[str] = (),
    ) -> httpx.Response:
        """One request with the retry policy: 429/5xx honour Retry-After, else backoff.

        ``mailboxes``: the mailboxes a ``$batch`` touches (each holds a slot).
        """
        attempts = self.settings.max_retries + 1
        refreshed = False
        for attempt in range(attempts):
            last = attempt == attempts - 1
            send = {**(headers or {}), **self._auth(calendar)}
            try:
                # Keyed by the mailbox named (a $batch by its label): Graph counts
                # concurrent requests per app and mailbox.
                with self.throttle.slot("" if mailboxes else calendar, keys=mailboxes):
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

    def request(
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
        mailboxes: Sequence[str] = (),
    ) -> Json:
        """:meth:`send`, then the JSON object of a 2xx answer, or the domain error raised."""
        response = self.send(
            method, url, calendar, params=params, body=body, headers=headers,
            idempotent=idempotent, mailboxes=mailboxes,
        )
        payload = json_of(response)
        if 200 <= response.status_code < 300:
            return payload if isinstance(payload, dict) else {}
        raise self.problem(calendar, response.status_code, payload, delta=delta)

    def problem(self, calendar: str, status: int, body: Any, *, delta: bool) -> ProviderError:
        """The domain error for an error answer; with ``delta``, 410 is CursorExpired."""
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
            return HttpProblem(
                calendar,
                f"no access to this mailbox (403 {code}): the app needs the Calendars "
                "permission, and an application access policy may exclude the mailbox",
                status,
                code,
            )
        if status == 404 and code in _NO_MAILBOX:
            return HttpProblem(calendar, f"no such mailbox ({status} {code})", status, code)
        detail = f"{code}: {message}" if code else message or "no details"
        return HttpProblem(calendar, f"Microsoft Graph error {status} ({detail})", status, code)

    def batch(self, label: str, requests: Sequence[Json]) -> dict[str, Json]:
        """Run up to 20 requests in one ``$batch``; retry inner 429/5xx; id -> response item.

        Raises a ProviderError only when the batch itself fails.
        """
        pending = {str(r["id"]): dict(r) for r in requests}
        out: dict[str, Json] = {}
        attempts = self.settings.max_retries + 1
        refreshed = False
        for attempt in range(attempts):
            last = attempt == attempts - 1
            envelope = self.request(
                "POST", self.url("$batch"), label, body={"requests": list(pending.values())},
                mailboxes=sorted({m for r in pending.values() if (m := _mailbox_of(r))}),
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
