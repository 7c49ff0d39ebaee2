"""The ICS provider: read-only calendars from files, folders and http(s) feeds.

``IcsReader`` finds where a calendar lives, has ``fetch`` get the bytes (a
file, every ``.ics`` file of a folder, or an http(s)/webcal URL) and hands
them to the one recurrence expansion in ``providers.expand``.

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

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from calsync.config import IcsProvider
from calsync.model import ChangeSet, Window
from calsync.providers.base import ApiCallCounter, ProviderError, uncounted
from calsync.providers.expand import parse_calendars
from calsync.providers.ics.fetch import (
    MAX_FEED_BYTES,
    FeedFetcher,
    Validators,
    http_url,
    read_path,
)
from calsync.secrets import is_url, redact_url


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

    def validators(self) -> Validators:
        return Validators(self.sha256, self.etag, self.modified)


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
        self.settings = settings
        self.base_dir = Path(base_dir)
        self.zone_of = zone_of
        self.fetcher = FeedFetcher(name, settings.timeout, count_api_call=count_api_call)

    def close(self) -> None:
        """Close the pooled http connections (the reader still works afterwards)."""
        self.fetcher.close()

    # -- where -------------------------------------------------------------

    def location(self, calendar: str) -> str | Path:
        """The URL (webcal:// read as https://) or the path for ``calendar``."""
        calendar = (calendar or "").strip()
        if is_url(calendar):
            return http_url(calendar)
        base = self.settings.path.strip()
        if is_url(base):
            url = http_url(base)
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
            validators = previous.validators() if same_day and previous is not None else None
            fetched = self.fetcher.fetch(where, shown, validators)
        else:
            fetched = read_path(where, shown)
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
            unread_uids=tuple(sorted(warnings.skipped_uids)),
        )

    def probe(self, calendar: str) -> str | None:
        """None when the calendar can be read and looks like iCalendar, else the problem."""
        try:
            where = self.location(calendar)
            shown = redact_url(where) if isinstance(where, str) else str(where)
            if isinstance(where, str):
                fetched = self.fetcher.fetch(where, shown, None)
            else:
                fetched = read_path(where, shown)
        except ProviderError as exc:
            return str(exc)
        if not fetched.files and not isinstance(where, str):
            return f"{shown}: the folder has no .ics files"
        for source, data in fetched.files:
            if not _looks_like_icalendar(data):
                return f"{source}: not an iCalendar file (no BEGIN:VCALENDAR at the start)"
        return None


def _looks_like_icalendar(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return head.startswith(b"BEGIN:VCALENDAR")


__all__ = ["MAX_FEED_BYTES", "IcsReader", "is_url", "redact_url"]
