"""Getting the bytes of an ICS calendar: a file, a folder of ``.ics`` files, or a feed.

``read_path`` reads a file or every ``.ics`` file of a folder (hidden files
skipped, names sorted). ``FeedFetcher`` GETs an http(s) feed over one pooled
httpx client: conditionally (``If-None-Match`` / ``If-Modified-Since`` from the
last fetch), refusing anything over ``MAX_FEED_BYTES``, once per call (the next
cycle is the retry), each GET counted through ``count_api_call``. Either way
the result is a ``Fetched``: named contents and one sha256 over all of them.

Errors name the location as shown to people; an http(s) URL is shown as
scheme and host only (``redact_url``), because secret iCal addresses
(Google's "secret address") carry the secret in the path or query.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from calsync.providers.base import ApiCallCounter, ProviderError, uncounted

# A feed bigger than this is refused rather than read into memory.
MAX_FEED_BYTES = 64 * 1024 * 1024
_USER_AGENT = "calsync/0.1 (+ics reader)"


def http_url(url: str) -> str:
    """``url`` with webcal(s):// read as https://."""
    url = url.strip()
    lower = url.lower()
    if lower.startswith("webcals://"):
        return "https://" + url[len("webcals://") :]
    if lower.startswith("webcal://"):
        return "https://" + url[len("webcal://") :]
    return url


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last fetch of a feed left for a conditional GET."""

    sha256: str
    etag: str | None = None
    modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one read produced: named files, or nothing new (HTTP 304)."""

    files: list[tuple[str, bytes]]
    sha256: str
    etag: str | None = None
    modified: str | None = None
    not_modified: bool = False


class FeedFetcher:
    """Conditional GETs of http(s) feeds over one pooled, lazily opened httpx client."""

    def __init__(
        self, name: str, timeout: float, *, count_api_call: ApiCallCounter = uncounted
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.count_api_call = count_api_call
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def close(self) -> None:
        """Close the pooled http connections (the fetcher still works afterwards)."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.timeout,
                    follow_redirects=True,
                    headers={"User-Agent": _USER_AGENT},
                )
            return self._client

    def fetch(self, url: str, shown: str, previous: Validators | None) -> Fetched:
        """One GET of a feed (no retries: the next cycle is the retry), counted."""
        try:
            fetched = self._get(url, shown, previous)
        except ProviderError:
            self.count_api_call(self.name, "error")
            raise
        self.count_api_call(self.name, "ok")
        return fetched

    def _get(self, url: str, shown: str, previous: Validators | None) -> Fetched:
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.modified:
            headers["If-Modified-Since"] = previous.modified
        # httpx's timeout bounds each read; a feed that drips a byte at a time
        # passes every read, so the whole download has a deadline of its own.
        deadline = time.monotonic() + self.timeout
        try:
            with self._http().stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 304 and previous is not None:
                    return Fetched([], previous.sha256, previous.etag, previous.modified, True)
                if status != 200:
                    raise ProviderError(shown, _status_message(status))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        raise ProviderError(
                            shown, f"the feed took longer than {self.timeout:g} s to download"
                        )
                    size += len(chunk)
                    if size > MAX_FEED_BYTES:
                        raise ProviderError(
                            shown, f"the feed is larger than {MAX_FEED_BYTES // 2**20} MiB"
                        )
                    chunks.append(chunk)
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
        except httpx.TimeoutException:
            raise ProviderError(shown, f"timed out after {self.timeout:g} s") from None
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
        return Fetched([(shown, data)], _sha256(data), etag, modified)


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


def read_path(path: Path, shown: str) -> Fetched:
    """A file, or every ``.ics`` file of a folder, with one hash over names and contents."""
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
            return Fetched(files, digest.hexdigest())
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProviderError(shown, "no such file or folder") from None
    except PermissionError:
        raise ProviderError(shown, "permission denied") from None
    except IsADirectoryError:
        raise ProviderError(shown, "is a folder") from None
    except OSError as exc:
        raise ProviderError(shown, f"cannot read: {exc.strerror or type(exc).__name__}") from None
    return Fetched([(shown, data)], _sha256(data))
