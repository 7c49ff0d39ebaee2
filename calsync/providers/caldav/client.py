"""The HTTP side of CalDAV: one ``caldav.DAVClient``, retries, counting, errors, discovery.

``CaldavClient`` sends every request through the ``caldav`` library's client
(its niquests session, Basic/Digest/Bearer negotiation and discovery of the
principal and its calendars), under the provider's retry policy: 429 and 503
wait for ``Retry-After``, other 5xx and network errors back off with jitter.
Every request calsync sends is idempotent by construction (PROPFIND, REPORT,
GET, and PUTs conditional on ``If-None-Match: *`` or ``If-Match``), so each
may be retried. Each is counted through ``count_api_call``.

Errors become the domain errors once, here: a 403 carrying
``DAV:valid-sync-token`` is :class:`CursorExpired`, a 401 an authentication
failure naming the password variable, anything else a :class:`DavProblem`
with its status. The library's own fallbacks (a fake sync token when the
server refuses one, SEQUENCE bumps on save) are never used: the reader and
writer speak the protocol themselves through :meth:`CaldavClient.request`.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import caldav
from caldav.lib import error as dav_error
from lxml import etree

from calsync.config import CaldavProvider
from calsync.providers.base import ApiCallCounter, CursorExpired, ProviderError, uncounted
from calsync.providers.caldav.mapping import CALDAV, CS, DAV, NS
from calsync.providers.retry import backoff_delay, retry_after_seconds

log = logging.getLogger(__name__)



class DavProblem(ProviderError):
    """A CalDAV error response callers may inspect (status, preconditions)."""

    def __init__(
        self, calendar: str, message: str, status: int, preconditions: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(calendar, message)
        self.status = status
        self.preconditions = preconditions


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP response: what the reader and writer need of it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def xml(self) -> etree._Element:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        return etree.fromstring(self.body, parser=parser)


def _preconditions(body: bytes) -> frozenset[str]:
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return frozenset()
    if root is None:
        return frozenset()
    return frozenset(child.tag for child in root if isinstance(child.tag, str))


def path_of(url: str) -> str:
    """The path of a URL or href: how calsync names a resource (its remote id)."""
    return urlsplit(url).path or "/"


class CaldavClient:
    """One CalDAV account: requests with retries and counting, and calendar discovery."""

    def __init__(
        self,
        name: str,
        settings: CaldavProvider,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.settings = settings
        self.sleep = sleep
        self.rand = rand
        self.count_api_call = count_api_call
        password = None
        #: Why no request can be sent: a password variable that is not set. Said for each
        #: calendar when it is read (doctor lists it; other providers carry on).
        self.unusable: str | None = None
        if settings.password_env:
            password = os.environ.get(settings.password_env)
            if not password:
                self.unusable = (
                    f"the environment variable {settings.password_env} (password_env) is not "
                    "set: put the CalDAV (app-specific) password there"
                )
        self.dav = caldav.DAVClient(
            url=settings.url,
            username=settings.username,
            password=password,
            timeout=int(settings.timeout),
            rate_limit_handle=False,
            enable_rfc6764=False,
        )
        self._calendars: dict[str, str] = {}
        self._principal: caldav.Principal | None = None

    def close(self) -> None:
        self.dav.close()

    # -- requests ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        calendar: str,
        body: str | bytes = "",
        headers: Mapping[str, str] | None = None,
        *,
        ok: tuple[int, ...] = (200, 201, 204, 207),
        expected: tuple[int, ...] = (),
    ) -> Reply:
        """Send one request, retried under the policy; a status in ``expected`` is returned."""
        if self.unusable:
            raise ProviderError(calendar, self.unusable)
        attempt = 0
        while True:
            retry_after: float | None = None
            failure: str
            try:
                response = self.dav.request(url, method, body, dict(headers or {}))
            except dav_error.RateLimitError as exc:
                status = exc.status or 429
                retry_after = exc.retry_after_seconds
                failure = f"HTTP {status} from the server (rate limited)"
            except dav_error.AuthorizationError as exc:
                status = exc.status or 401
                preconditions = frozenset(exc.preconditions or ())
                self.count_api_call(self.name, "ok" if 403 in expected else "error")
                if status == 403 and f"{{{DAV}}}valid-sync-token" in preconditions:
                    raise CursorExpired(
                        calendar, "the server no longer accepts the sync token"
                    ) from None
                if status == 401:
                    raise ProviderError(calendar, self._refused("HTTP 401")) from None
                if 403 in expected:
                    return Reply(403, {}, exc.body if isinstance(exc.body, bytes) else b"")
                raise DavProblem(
                    calendar, f"{method} {path_of(url)}: HTTP 403 forbidden", 403, preconditions
                ) from None
            except Exception as exc:
                if not _network_error(exc):
                    raise
                status = 0
                failure = f"network error: {exc}"
            else:
                status = response.status
                raw = response._raw
                data = raw if isinstance(raw, bytes) else str(raw or "").encode()
                reply = Reply(status, dict(response.headers), data)
                if status in ok or status in expected:
                    self.count_api_call(self.name, "ok")
                    return reply
                if status < 500:
                    self.count_api_call(self.name, "error")
                    raise DavProblem(
                        calendar,
                        f"{method} {path_of(url)}: HTTP {status}",
                        status,
                        _preconditions(data),
                    )
                retry_after = retry_after_seconds(reply.header("Retry-After"))
                failure = f"{method} {path_of(url)}: HTTP {status}"
            if attempt >= self.settings.max_retries:
                self.count_api_call(self.name, "error")
                raise DavProblem(calendar, f"{failure} (gave up after {attempt + 1} tries)",
                                 status)  # fmt: skip
            self.count_api_call(self.name, "retry")
            delay = backoff_delay(attempt, retry_after, self.rand)
            log.info("caldav %s: %s; retrying in %.1fs", self.name, failure, delay)
            self.sleep(delay)
            attempt += 1

    def report(self, url: str, calendar: str, body: str, depth: int = 1,
               expected: tuple[int, ...] = ()) -> Reply:  # fmt: skip
        return self.request(
            "REPORT", url, calendar, body,
            {"Depth": str(depth), "Content-Type": 'application/xml; charset="utf-8"'},
            expected=expected,
        )  # fmt: skip

    def propfind(self, url: str, calendar: str, props: str, depth: int) -> Reply:
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<d:propfind xmlns:d="{DAV}" xmlns:c="{CALDAV}" xmlns:cs="{CS}">'
            f"<d:prop>{props}</d:prop></d:propfind>"
        )
        return self.request(
            "PROPFIND", url, calendar, body,
            {"Depth": str(depth), "Content-Type": 'application/xml; charset="utf-8"'},
        )  # fmt: skip

    def _refused(self, when: str) -> str:
        if not self.settings.password_env:
            return (f"the server wants a login ({when}) and none was sent: set password_env "
                    "to the variable that holds the (app-specific) password")  # fmt: skip
        return (f"the server refused the login of {self.settings.username!r} ({when}): check "
                f"username and the password in {self.settings.password_env} (iCloud and "
                "Fastmail need an app-specific password)")  # fmt: skip

    # -- where a calendar lives ---------------------------------------------------------

    def calendar_url(self, calendar: str) -> str:
        """The collection URL of ``calendar``: a URL or path, a display name, or (an email:
        a person without ``calendar``) the principal's default calendar."""
        found = self._calendars.get(calendar)
        if found is not None:
            return found
        text = calendar.strip()
        if text.startswith(("http://", "https://", "/")):
            url = urljoin(self.settings.url, text)
            url = url if url.endswith("/") else url + "/"
        else:
            url = self._discover(calendar, text)
        self._calendars[calendar] = url
        return url

    def _discover(self, calendar: str, name: str) -> str:
        if self.unusable:
            raise ProviderError(calendar, self.unusable)
        try:
            principal = self.principal(calendar)
            self.count_api_call(self.name, "ok")
            calendars = principal.get_calendars()
            self.count_api_call(self.name, "ok")
            if "@" in name and not any(_display(c) == name for c in calendars):
                chosen = self._default_calendar(principal, calendars)
            else:
                chosen = next((c for c in calendars if _display(c) == name), None)
                if chosen is None:
                    names = ", ".join(repr(_display(c)) for c in calendars) or "none"
                    raise ProviderError(
                        calendar, f"no calendar named {name!r} under {principal.url} "
                        f"(calendars there: {names})"
                    )  # fmt: skip
        except dav_error.AuthorizationError:
            raise ProviderError(calendar, self._refused("finding the calendar")) from None
        except dav_error.DAVError as exc:
            raise ProviderError(calendar, f"calendar discovery failed: {exc}") from None
        return str(chosen.url)

    def principal(self, calendar: str) -> caldav.Principal:
        if self._principal is None:
            self._principal = self.dav.principal()
        return self._principal

    def _default_calendar(
        self, principal: caldav.Principal, calendars: list[caldav.Calendar]
    ) -> caldav.Calendar:
        """RFC 6638's schedule-default-calendar-URL when the server names one, else the first
        calendar that holds events."""
        events = [c for c in calendars if _holds_events(c)] or calendars
        if not events:
            raise ProviderError(self.name, f"no calendars under {principal.url}")
        try:
            reply = self.propfind(str(principal.url), self.name, "<c:schedule-inbox-URL/>", 0)
            inbox = reply.xml().findtext(".//c:schedule-inbox-URL/d:href", None, NS)
            if not inbox:
                return events[0]  # no scheduling (Radicale)
            reply = self.propfind(urljoin(str(principal.url), inbox.strip()), self.name,
                                  "<c:schedule-default-calendar-URL/>", 0)  # fmt: skip
            hrefs = reply.xml().findall(".//c:schedule-default-calendar-URL/d:href", NS)
            if hrefs and hrefs[0].text:
                wanted = path_of(hrefs[0].text.strip()).rstrip("/")
                for candidate in events:
                    if path_of(str(candidate.url)).rstrip("/") == wanted:
                        return candidate
        except (ProviderError, dav_error.DAVError, etree.XMLSyntaxError, AttributeError):
            pass  # no scheduling inbox (Radicale): the first calendar it is
        return events[0]

    def scheduling(self, calendar: str) -> bool:
        """Whether the server schedules itself (RFC 6638 ``calendar-auto-schedule``)."""
        reply = self.request("OPTIONS", self.calendar_url(calendar), calendar)
        dav = (reply.header("DAV") or "").lower()
        return "calendar-auto-schedule" in dav


def _display(calendar: caldav.Calendar) -> str | None:
    try:
        return calendar.get_display_name()
    except Exception:  # one unreadable name must not stop the lookup
        return None


def _holds_events(calendar: caldav.Calendar) -> bool:
    try:
        return "VEVENT" in calendar.get_supported_components()
    except Exception:  # unknown means "maybe"
        return True


def _network_error(exc: BaseException) -> bool:
    """Connection refused, reset, timed out: worth another try."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
                         "ConnectionResetError", "ConnectionRefusedError"})  # fmt: skip
