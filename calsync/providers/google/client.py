"""The HTTP client for Google Calendar API v3: credentials, retries, batches, errors.

``GoogleClient`` builds one google-api-python-client service per credential
subject and thread (calendars with the same subject share it, and share a
batch; httplib2 connections must not be shared between threads), runs
each request under the provider's retry policy (``Retry-After`` honoured,
otherwise backoff with jitter; network errors retried only for idempotent
requests), sends JSON batches, counts every request through the
``count_api_call`` hook, and turns Google's error responses into the domain
errors of ``calsync.providers.base``. Every request holds a slot of the
provider's ``limits.Throttle`` while it runs: ``max_concurrency`` in flight, and
the per-project and per-user quotas per minute when they are configured. It
knows nothing about events: what to ask for is the reader's, writer's and push
module's business.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from calsync.config import GoogleProvider
from calsync.providers.base import (
    ApiCallCounter,
    CursorExpired,
    ProviderError,
    ReauthorizationNeeded,
    uncounted,
)
from calsync.providers.google.auth import CredentialSource
from calsync.providers.google.mapping import Json
from calsync.providers.limits import Throttle
from calsync.providers.retry import backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
CURSOR_REASONS = frozenset({"fullSyncRequired", "updatedMinTooLongAgo"})


class Resources(NamedTuple):
    """The API resources of one credential, and the HTTP object they send through."""

    events: Any
    freebusy: Any
    channels: Any
    http: httplib2.Http


class _NoSharedHttp:
    """The HTTP object the shared resources are built with: never to be sent through."""

    def request(self, *_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a Google request went out without its thread's HTTP object "
                           "(send it through GoogleClient.execute)")


class HttpProblem(ProviderError):
    """A Google error response that callers may inspect (status, reason)."""

    def __init__(self, calendar: str, message: str, status: int, reason: str) -> None:
        super().__init__(calendar, message)
        self.status = status
        self.reason = reason


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
    return retry_after_seconds(exc.resp.get("retry-after") if exc.resp is not None else None)


class GoogleClient:
    """Authorized API resources per credential subject, and the retry policy around them."""

    def __init__(
        self,
        name: str,
        settings: GoogleProvider,
        credentials: CredentialSource,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.credentials = credentials
        self.count_api_call = count_api_call
        self.sleep = sleep
        self.rand = rand
        self.throttle = Throttle(
            settings.max_concurrency,
            per_minute=settings.quota_per_minute,
            per_key_per_minute=settings.user_quota_per_minute,
            sleep=sleep,
        )
        self._local = threading.local()
        # Every live thread's resources, to close them all (see ``resources``).
        self._every: list[tuple[threading.Thread, Resources]] = []
        self._lock = threading.Lock()
        self._api: tuple[Any, Any, Any] | None = None  # see _build

    @property
    def batch_uri(self) -> str:
        return self.settings.api_endpoint + "batch/calendar/v3"

    def subject_for(self, calendar: str) -> str | None:
        """Calendars with the same subject share one credential, one service and one batch."""
        return self.credentials.subject_for(calendar)

    @property
    def services(self) -> dict[str | None, Resources]:
        """This thread's API resources by credential subject."""
        services: dict[str | None, Resources] | None = getattr(self._local, "services", None)
        if services is None:
            services = self._local.services = {}
        return services

    def resources(self, calendar: str) -> Resources:
        """The API resources for the credential that reads ``calendar``, with this
        thread's own HTTP object (httplib2 is not thread-safe); ``execute`` sends
        every request through it."""
        subject = self.credentials.subject_for(calendar)
        if subject not in self.services:
            raw = httplib2.Http(timeout=self.settings.timeout)
            with self._lock:  # the source loads its key or token once, not once per thread
                creds = self.credentials.credentials(subject, calendar)
                api = self._api
                if api is None:
                    api = self._api = self._build()
            http = raw if creds is None else AuthorizedHttp(creds, http=raw)
            built = Resources(*api, http)
            self.services[subject] = built
            with self._lock:
                # Thread pools come and go every cycle: a finished thread's
                # connections are closed here, or a daemon would keep every
                # thread's service and sockets it ever had.
                kept = []
                for thread, resources in self._every:
                    if thread.is_alive():
                        kept.append((thread, resources))
                    else:
                        resources.http.close()
                kept.append((threading.current_thread(), built))
                self._every = kept
        return self.services[subject]

    def _build(self) -> tuple[Any, Any, Any]:
        """The API's resources, built once for every thread and credential.

        Building parses the discovery document: about 1 MiB and 10-20 ms each
        time. Built per thread, the read-back after a cold cycle's writes (a
        pool of threads per calendar's series reads) kept hundreds of copies.
        The resources only make requests; each is sent through the calling
        thread's own HTTP object (``execute``), never the one given here.
        """
        service = build(
            "calendar",
            "v3",
            http=_NoSharedHttp(),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.settings.api_endpoint + "calendar/v3/"},
        )
        return service.events(), service.freebusy(), service.channels()

    def _http_for(self, request: HttpRequest, calendar: str) -> Any:
        """This thread's HTTP object for a request made from the shared resources;
        a request built with an HTTP object of its own (the directory's) keeps it."""
        if isinstance(request.http, _NoSharedHttp):
            return self.resources(calendar).http
        return request.http

    def close(self) -> None:
        """Persist refreshed OAuth tokens and close connections."""
        self.credentials.save()
        with self._lock:
            every, self._every = self._every, []
        for _thread, resources in every:
            resources.http.close()  # AuthorizedHttp closes the httplib2.Http it wraps
        self._local = threading.local()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(attempt, retry_after, self.rand)

    def execute(self, request: HttpRequest, calendar: str, *, idempotent: bool = True) -> Json:
        """Run one request with the provider's retry policy; map errors to domain errors."""
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                with self.throttle.slot(str(self.subject_for(calendar))):
                    response = request.execute(http=self._http_for(request, calendar),
                                               num_retries=0)
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
                    self.count_api_call(self.name, "error")
                    raise ProviderError(calendar, f"cannot reach Google: {exc}") from None
                self.count_api_call(self.name, "retry")
                delay = self._delay(attempt, None)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def batch(
        self, calendars: Iterable[str], request_for: Callable[[Resources, str], HttpRequest]
    ) -> dict[str, Json | ProviderError]:
        """One batch HTTP request with ``request_for(resources, calendar)`` per calendar.

        The calendars share one credential. Inner answers that are worth
        retrying are sent again (in a smaller batch); each calendar ends with
        its response or its domain error (an expired sync token is
        CursorExpired).
        """
        pending = list(dict.fromkeys(calendars))
        outcomes: dict[str, Json | ProviderError] = {}
        attempts = self.settings.max_retries + 1
        responses: dict[str, Json | HttpError] = {}

        def collect(request_id: str, response: Json, exception: Exception | None) -> None:
            responses[request_id] = exception if exception is not None else response

        for attempt in range(attempts):
            client = self.resources(pending[0])
            responses.clear()
            batch = BatchHttpRequest(callback=collect, batch_uri=self.batch_uri)
            for calendar in pending:
                batch.add(request_for(client, calendar), request_id=calendar)
            try:
                with self.throttle.slot(str(self.subject_for(pending[0])), calls=len(pending)):
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
            retry: list[str] = []
            wait = 0.0
            for calendar in pending:
                response = responses.get(calendar)
                if isinstance(response, HttpError):
                    status, reason, _ = _error(response)
                    if _retryable(status, reason) and attempt < attempts - 1:
                        retry.append(calendar)
                        wait = max(wait, self._delay(attempt, _retry_after(response)))
                        continue
                    outcomes[calendar] = self._answer_error(calendar, response)
                else:
                    outcomes[calendar] = (
                        response if response is not None
                        else ProviderError(calendar, "no response")
                    )
            if not retry:
                return outcomes
            pending = retry
            self.sleep(wait)
        return outcomes

    def _answer_error(self, calendar: str, exc: HttpError) -> ProviderError:
        """The domain error for one calendar's error answer inside a batch."""
        status, reason, message = _error(exc)
        if status == 410 and reason in CURSOR_REASONS:
            return CursorExpired(calendar, "sync token no longer valid")
        return self._domain_error(calendar, status, reason, message)

    def _domain_error(self, calendar: str, status: int, reason: str, message: str) -> ProviderError:
        if status == 401:
            return ReauthorizationNeeded(
                calendar,
                f"Google refused the credentials ({reason or message}); "
                f"run `calsync auth {self.name}` again",
            )
        if status == 404:
            return ProviderError(calendar, "no such Google calendar, or no access to it (404)")
        detail = f"{reason}: {message}" if reason else message
        return HttpProblem(calendar, f"Google API error {status} ({detail})", status, reason)

    def _reauth(self, calendar: str, exc: RefreshError) -> ReauthorizationNeeded:
        # The exception text can echo parts of the token response: keep it out.
        kind = "revoked or expired" if "invalid_grant" in str(exc) else "could not be refreshed"
        return ReauthorizationNeeded(
            calendar,
            f"the Google grant was {kind}; run `calsync -c <config> auth {self.name}` again",
        )
