"""The ICS provider: read-only calendars from files, folders and http(s) feeds.

``IcsReader`` finds the bytes (a file, every ``.ics`` file of a folder, or an
http(s)/webcal URL) and hands them to the pure mapping in ``ics_parse``.

Location: ``settings.path`` (relative to the config file's folder unless
absolute, or an http(s) base URL) joined with the person's ``calendar``; a
``calendar`` that is itself an http(s)/webcal URL replaces the path.

Cursor: a small JSON object with the content's sha256, the feed's ETag and
Last-Modified, and the UTC day of the fetch. On the same day, a 304 or the
same content hash gives ``ChangeSet(unchanged=True)``. On a new day the
calendar is read in full even when it did not change, because the window moves
with ``now`` and recurring series must be expanded over the new days.

Errors name the location; an http(s) URL is shown as scheme and host only,
because secret iCal addresses (Google's "secret address") carry the secret in
the path or query.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx

from calsync.config import IcsProvider
from calsync.model import ChangeSet, Window
from calsync.providers.base import ApiCallCounter, ProviderError, uncounted
from calsync.providers.expand import parse_calendars

# A feed bigger than this is refused rather than read into memory.
MAX_FEED_BYTES = 64 * 1024 * 1024
_USER_AGENT = "calsync/0.1 (+ics reader)"
_URL_SCHEMES = ("http://", "https://", "webcal://", "webcals://")


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(_URL_SCHEMES)


def redact_url(url: str) -> str:
    """Scheme and host only: the path and query of a feed URL may be a secret."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not host:
        return "<invalid URL>"
    scheme = {"webcal": "https", "webcals": "https"}.get(parts.scheme.lower(), parts.scheme)
    return f"{scheme.lower()}://{host}{port}/…"


@dataclass(frozen=True, slots=True)
class _Cursor:
    sha256: str
    day: str
    etag: str | None = None
    modified: str | None = None

    def encode(self) -> str:
        data = {"v": 1, "sha256": self.sha256, "day": self.day}
        if self.etag:
            data["etag"] = self.etag
        if self.modified:
            data["modified"] = self.modified
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        """The cursor, or None when absent or unreadable (a full read is always safe)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                return None
            etag, modified = data.get("etag"), data.get("modified")
            return cls(
                sha256=str(data["sha256"]),
                day=str(data["day"]),
                etag=str(etag) if etag else None,
                modified=str(modified) if modified else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class _Fetched:
    """What one read produced: named files, or nothing new (HTTP 304)."""

    files: list[tuple[str, bytes]]
    sha256: str
    etag: str | None = None
    modified: str | None = None
    not_modified: bool = False


class IcsReader:
    """``CalendarReader`` for iCalendar files, folders of them, and http(s) feeds."""

    def __init__(
        self,
        name: str,
        settings: IcsProvider,
        base_dir: Path,
        zone_of: Callable[[str], ZoneInfo],
        *,
        count_api_call: ApiCallCounter = uncounted,
    ) -> None:
        self.name = name
        self.count_api_call = count_api_call
        self.settings = settings
        self.base_dir = Path(base_dir)
        self.zone_of = zone_of
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def close(self) -> None:
        """Close the pooled http connections (the reader still works afterwards)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.settings.timeout,
                    follow_redirects=True,
                    headers={"User-Agent": _USER_AGENT},
                )
            return self._client

    # -- where -------------------------------------------------------------

    def location(self, calendar: str) -> str | Path:
        """The URL (webcal:// read as https://) or the path for ``calendar``."""
        calendar = (calendar or "").strip()
        if is_url(calendar):
            return _http_url(calendar)
        base = self.settings.path.strip()
        if is_url(base):
            url = _http_url(base)
            if not calendar:
                return url
            return url.rstrip("/") + "/" + quote(calendar.lstrip("/"), safe="/@:+~")
        path = Path(base).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        return path / calendar if calendar else path

    def describe(self, calendar: str) -> str:
        """The location as shown in messages (an http URL without path or query)."""
        where = self.location(calendar)
        return redact_url(where) if isinstance(where, str) else str(where)

    # -- CalendarReader ------------------------------------------------------

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        where = self.location(calendar)
        shown = redact_url(where) if isinstance(where, str) else str(where)
        previous = _Cursor.decode(cursor)
        today = now.astimezone(UTC).date().isoformat()
        same_day = previous is not None and previous.day == today
        if isinstance(where, str):
            fetched = self._fetch_http(where, shown, previous if same_day else None)
        else:
            fetched = _read_path(where, shown)
        if fetched.not_modified:
            assert cursor is not None
            return ChangeSet(unchanged=True, cursor=cursor)
        new_cursor = _Cursor(fetched.sha256, today, fetched.etag, fetched.modified).encode()
        if same_day and previous is not None and previous.sha256 == fetched.sha256:
            return ChangeSet(unchanged=True, cursor=new_cursor)
        window = Window(
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )
        events, warnings = parse_calendars(fetched.files, window, self.zone_of(calendar))
        if not fetched.files:
            warnings.insert(0, f"{shown}: the folder has no .ics files")
        return ChangeSet(
            events=tuple(events),
            full=True,
            window=window,
            cursor=new_cursor,
            warnings=tuple(warnings),
        )

    def probe(self, calendar: str) -> str | None:
        """None when the calendar can be read and looks like iCalendar, else the problem."""
        try:
            where = self.location(calendar)
            shown = redact_url(where) if isinstance(where, str) else str(where)
            if isinstance(where, str):
                fetched = self._fetch_http(where, shown, None)
            else:
                fetched = _read_path(where, shown)
        except ProviderError as exc:
            return str(exc)
        if not fetched.files and not isinstance(where, str):
            return f"{shown}: the folder has no .ics files"
        for source, data in fetched.files:
            if not _looks_like_icalendar(data):
                return f"{source}: not an iCalendar file (no BEGIN:VCALENDAR at the start)"
        return None

    # -- http ----------------------------------------------------------------

    def _fetch_http(self, url: str, shown: str, previous: _Cursor | None) -> _Fetched:
        """One GET of a feed (no retries: the next cycle is the retry), counted."""
        try:
            fetched = self._get(url, shown, previous)
        except ProviderError:
            self.count_api_call(self.name, "error")
            raise
        self.count_api_call(self.name, "ok")
        return fetched

    def _get(self, url: str, shown: str, previous: _Cursor | None) -> _Fetched:
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.modified:
            headers["If-Modified-Since"] = previous.modified
        try:
            with self._http().stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 304 and previous is not None:
                    return _Fetched([], previous.sha256, previous.etag, previous.modified, True)
                if status != 200:
                    raise ProviderError(shown, _status_message(status))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_FEED_BYTES:
                        raise ProviderError(
                            shown, f"the feed is larger than {MAX_FEED_BYTES // 2**20} MiB"
                        )
                    chunks.append(chunk)
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
        except httpx.TimeoutException:
            raise ProviderError(shown, f"timed out after {self.settings.timeout:g} s") from None
        except httpx.TooManyRedirects:
            raise ProviderError(shown, "too many redirects") from None
        except httpx.ConnectError as exc:
            raise ProviderError(shown, f"cannot connect ({_safe_detail(exc, url)})") from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                shown, f"cannot fetch the feed ({_safe_detail(exc, url)})"
            ) from None
        except (httpx.InvalidURL, ValueError):
            raise ProviderError(shown, "not a valid http(s) URL") from None
        data = b"".join(chunks)
        return _Fetched([(shown, data)], _sha256(data), etag, modified)


def _http_url(url: str) -> str:
    url = url.strip()
    lower = url.lower()
    if lower.startswith("webcals://"):
        return "https://" + url[len("webcals://") :]
    if lower.startswith("webcal://"):
        return "https://" + url[len("webcal://") :]
    return url


def _safe_detail(exc: Exception, url: str) -> str:
    """The exception's text, unless it quotes any part of the (maybe secret) URL."""
    text = " ".join(str(exc).split())
    try:
        parts = urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.netloc]
    except ValueError:
        secrets = [url]
    if not text or any(len(s) > 1 and s in text for s in secrets):
        return type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


def _status_message(status: int) -> str:
    if status in (401, 403):
        return f"access denied (HTTP {status}); is the feed address still valid?"
    if status in (404, 410):
        return f"not found (HTTP {status})"
    if status == 429:
        return "rate limited (HTTP 429); try again later"
    if status >= 500:
        return f"the server failed (HTTP {status})"
    return f"unexpected HTTP status {status}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_path(path: Path, shown: str) -> _Fetched:
    try:
        if path.is_dir():
            names = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() == ".ics" and not p.name.startswith(".") and p.is_file()
            )
            files = [(str(p), p.read_bytes()) for p in names]
            digest = hashlib.sha256()
            for name, data in files:
                digest.update(f"{Path(name).name}\0{_sha256(data)}\0".encode())
            return _Fetched(files, digest.hexdigest())
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProviderError(shown, "no such file or folder") from None
    except PermissionError:
        raise ProviderError(shown, "permission denied") from None
    except IsADirectoryError:
        raise ProviderError(shown, "is a folder") from None
    except OSError as exc:
        raise ProviderError(shown, f"cannot read: {exc.strerror or type(exc).__name__}") from None
    return _Fetched([(shown, data)], _sha256(data))


def _looks_like_icalendar(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return head.startswith(b"BEGIN:VCALENDAR")


__all__ = ["MAX_FEED_BYTES", "IcsReader", "is_url", "redact_url"]
