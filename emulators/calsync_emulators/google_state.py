"""The in-memory model behind the Google Calendar API v3 emulator.

Pure state and rules, no HTTP: :mod:`calsync_emulators.google` parses requests
and calls :class:`GoogleState`, which answers with API-shaped dicts or raises
:class:`ApiError` carrying Google's error body. Every public method takes the
one lock, so the threaded HTTP server and a test poking the state directly see
the same consistent calendars.

The behaviour reproduced, and the choices made where Google's documentation is
silent or contradicts itself, are listed in the docstring of
:mod:`calsync_emulators.google`; the limits are the constants below.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.utils
import functools
import hashlib
import json
import random
import re
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from calsync_emulators.google_recurrence import (
    Occurrence,
    Series,
    When,
    format_datetime,
    format_timestamp,
    parse_rfc3339,
    parse_suffix,
    parse_when,
)
from calsync_emulators.zones import TimeFormatError, zone

Json = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")

# ---------------------------------------------------------------- limits ----
#: events.list page size when ``maxResults`` is absent, and the most it may be
#: (larger values are clamped, as the reference says "can never be larger").
DEFAULT_MAX_RESULTS = 250
MAX_MAX_RESULTS = 2500
#: calendarList.list page size: default and maximum.
CALENDAR_LIST_DEFAULT_MAX_RESULTS = 100
CALENDAR_LIST_MAX_MAX_RESULTS = 250
#: freeBusy.query: Google documents no limit but answers 400 "The requested
#: time range is too long." for long ranges; cal.com splits into 90-day chunks,
#: which work. A range longer than this is rejected.
FREEBUSY_MAX_RANGE = timedelta(days=90)
#: freeBusy.query: ``calendarExpansionMax`` may be at most 50; calendars past
#: that many get ``tooManyCalendarsRequested`` inside the 200.
FREEBUSY_MAX_CALENDARS = 50
FREEBUSY_MAX_GROUP_EXPANSION = 100
#: extendedProperties: longer keys are dropped, longer values truncated, silently.
EXTENDED_KEY_MAX = 44
EXTENDED_VALUE_MAX = 1024
#: extendedProperties: at most this many properties and bytes per event (400 beyond).
EXTENDED_MAX_COUNT = 300
EXTENDED_MAX_BYTES = 32 * 1024
#: How far past "now" a recurring series without an end is expanded when the
#: request gives no ``timeMax`` (singleEvents=true lists, instances, incremental sync).
EXPANSION_HORIZON = timedelta(days=730)
#: events.watch: channel lifetime when ``params.ttl`` is absent (7 days).
CHANNEL_DEFAULT_TTL_SECONDS = 604800
CHANNEL_ID_MAX = 64
#: Client-supplied event ids: base32hex (lowercase a-v, digits), 5-1024 characters.
CLIENT_ID = re.compile(r"[a-v0-9]{5,1024}")
#: events.list parameters that may not be combined with ``syncToken``.
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
#: Multi-page results kept server-side for ``pageToken`` (oldest evicted first;
#: an evicted page token gets 400).
MAX_CURSORS = 256

_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ---------------------------------------------------------------- errors ----
class ApiError(Exception):
    """An HTTP error in Google's shape: ``{"error": {"errors": [...], "code", "message"}}``."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location_type: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location_type = location_type
        self.location = location

    def body(self) -> Json:
        item: Json = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location_type is not None:
            item["locationType"] = self.location_type
            item["location"] = self.location
        return {"error": {"errors": [item], "code": self.status, "message": self.message}}


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def deleted() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def duplicate() -> ApiError:
    return ApiError(409, "duplicate", "The requested identifier already exists.")


def full_sync_required() -> ApiError:
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location_type="parameter",
        location="syncToken",
    )


def condition_not_met() -> ApiError:
    return ApiError(
        412,
        "conditionNotMet",
        "Precondition Failed",
        location_type="header",
        location="If-Match",
    )


def time_range_empty(location: str = "timeMax") -> ApiError:
    return ApiError(
        400,
        "timeRangeEmpty",
        "The specified time range is empty.",
        domain="calendar",
        location_type="parameter",
        location=location,
    )


def time_range_too_long() -> ApiError:
    return ApiError(
        400, "timeRangeTooLong", "The requested time range is too long.", domain="calendar"
    )


def invalid(message: str, location: str | None = None) -> ApiError:
    if location is None:
        return ApiError(400, "invalid", message)
    return ApiError(400, "invalid", message, location_type="parameter", location=location)


def required(message: str) -> ApiError:
    return ApiError(400, "required", message)


def bad_request(message: str = "Bad Request") -> ApiError:
    return ApiError(400, "badRequest", message)


def parse_error() -> ApiError:
    return ApiError(400, "parseError", "Parse Error")


def user_rate_limit_exceeded() -> ApiError:
    return ApiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits")


def rate_limit_exceeded(status: int = 403) -> ApiError:
    return ApiError(status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")


def quota_exceeded() -> ApiError:
    return ApiError(403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits")


def backend_error(status: int = 503) -> ApiError:
    return ApiError(status, "backendError", "Backend Error")


def _time_error(exc: TimeFormatError) -> ApiError:
    message = str(exc)
    return required(message) if message.startswith("Missing") else invalid(message)


# ---------------------------------------------------------------- params ----
class Params:
    """Query parameters as Google reads them: repeated names keep every value."""

    def __init__(self, raw: Mapping[str, Iterable[str] | str | int | bool] | None = None) -> None:
        self._raw: dict[str, list[str]] = {}
        for name, value in (raw or {}).items():
            if isinstance(value, bool):
                self._raw[name] = ["true" if value else "false"]
            elif isinstance(value, str | int):
                self._raw[name] = [str(value)]
            else:
                self._raw[name] = [str(v) for v in value]

    def has(self, name: str) -> bool:
        return name in self._raw

    def get(self, name: str) -> str | None:
        values = self._raw.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._raw.get(name, []))

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise invalid(f"Invalid boolean value for {name}: '{value}'", name)

    def number(self, name: str, default: int | None, minimum: int = 1) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise invalid(f"Invalid value '{value}' for {name}.", name) from None
        if number < minimum:
            raise invalid(
                f"Invalid value '{value}'. Values must be greater than or equal to {minimum}.",
                name,
            )
        return number

    def instant(self, name: str) -> datetime | None:
        value = self.get(name)
        if value is None:
            return None
        parsed = parse_rfc3339(value)
        if parsed is None:
            raise bad_request()
        return parsed.astimezone(UTC)

    def zone(self, name: str = "timeZone") -> ZoneInfo | None:
        value = self.get(name)
        if not value:
            return None
        try:
            return zone(value)
        except TimeFormatError:
            raise invalid(f"Invalid time zone: {value}", name) from None


# ----------------------------------------------------------------- model ----
@dataclass(slots=True)
class StoredEvent:
    """One stored event: a single event, a series master, or an instance exception."""

    body: Json
    start: When
    end: When
    series: Series | None
    seq: int
    order: int

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def cancelled(self) -> bool:
        return self.body.get("status") == "cancelled"

    @property
    def master_id(self) -> str | None:
        return self.body.get("recurringEventId")


@dataclass(slots=True)
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    order: int
    seq: int
    updated: datetime
    events: dict[str, StoredEvent] = field(default_factory=dict)
    #: master id -> {instance suffix: exception event id}
    exceptions: dict[str, dict[str, str]] = field(default_factory=dict)
    epoch: int = 0

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

    def owned_by(self, email_address: str | None) -> bool:
        return bool(email_address) and str(email_address).lower() == self.owner.lower()


@dataclass(slots=True)
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration: datetime
    messages: int = 0

    def body(self) -> Json:
        out: Json = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
        }
        if self.token is not None:
            out["token"] = self.token
        out["expiration"] = str(int(self.expiration.timestamp() * 1000))
        return out


@dataclass(frozen=True, slots=True)
class Notification:
    """One push message to deliver: POST ``address`` with these headers, empty body."""

    channel_id: str
    address: str
    headers: Mapping[str, str]


@dataclass(slots=True)
class _Row:
    body: Json
    start: When
    end: When
    group: int

    def begins(self, tz: ZoneInfo) -> datetime:
        return self.start.at(tz)


@dataclass(slots=True)
class _Cursor:
    pages: list[list[Json]]
    sync_token: str | None
    envelope: Json


@dataclass(frozen=True, slots=True)
class _View:
    tz: ZoneInfo | None = None
    max_attendees: int | None = None
    strip_cancelled: bool = False


_WRITABLE = frozenset(
    {
        "anyoneCanAddSelf",
        "attachments",
        "attendees",
        "birthdayProperties",
        "colorId",
        "conferenceData",
        "description",
        "end",
        "endTimeUnspecified",
        "eventType",
        "extendedProperties",
        "focusTimeProperties",
        "gadget",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "iCalUID",
        "location",
        "locked",
        "organizer",
        "originalStartTime",
        "outOfOfficeProperties",
        "privateCopy",
        "recurrence",
        "recurringEventId",
        "reminders",
        "sequence",
        "source",
        "start",
        "status",
        "summary",
        "transparency",
        "visibility",
        "workingLocationProperties",
    }
)
_SERVER_SET = ("organizer", "iCalUID", "recurringEventId", "originalStartTime")
_ORDER = (
    "kind",
    "etag",
    "id",
    "status",
    "htmlLink",
    "created",
    "updated",
    "summary",
    "description",
    "location",
    "colorId",
    "creator",
    "organizer",
    "start",
    "end",
    "endTimeUnspecified",
    "recurrence",
    "recurringEventId",
    "originalStartTime",
    "transparency",
    "visibility",
    "iCalUID",
    "sequence",
    "attendees",
    "attendeesOmitted",
    "extendedProperties",
    "hangoutLink",
    "conferenceData",
    "anyoneCanAddSelf",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "privateCopy",
    "locked",
    "reminders",
    "source",
    "attachments",
    "eventType",
)
_STATUS = ("confirmed", "tentative", "cancelled")
_TRANSPARENCY = ("opaque", "transparent")
_VISIBILITY = ("default", "public", "private", "confidential")
_RESPONSE = ("needsAction", "declined", "tentative", "accepted")
_EVENT_TYPES = ("default", "birthday", "focusTime", "fromGmail", "outOfOffice", "workingLocation")
_ATTENDEE_KEYS = (
    "id",
    "email",
    "displayName",
    "organizer",
    "self",
    "resource",
    "optional",
    "responseStatus",
    "comment",
    "additionalGuests",
)
_SIGNIFICANT = ("start", "end", "recurrence", "location", "status")


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        state = args[0]
        assert isinstance(state, GoogleState)
        with state.lock:
            return method(*args, **kwargs)

    return wrapper


def _ordered(body: Json) -> Json:
    out = {name: body[name] for name in _ORDER if name in body}
    out.update({name: value for name, value in body.items() if name not in out})
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _merge_patch(target: Json, patch: Json) -> Json:
    """Google's patch semantics: objects merge recursively, null deletes, arrays replace."""
    out = copy.deepcopy(target)
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        elif name in ("start", "end") and isinstance(value, dict):
            current = dict(out.get(name) or {})
            if "date" in value:
                current.pop("dateTime", None)
            if "dateTime" in value:
                current.pop("date", None)
            out[name] = _merge_patch(current, value)
        elif isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merge_patch(out[name], value)
        else:
            out[name] = copy.deepcopy(value)
    return out


def _overlaps(start: datetime, end: datetime, low: datetime | None, high: datetime | None) -> bool:
    if low is not None and not end > low:
        return False
    return high is None or start < high


def _is_loopback(address: str) -> bool:
    host = urllib.parse.urlsplit(address).hostname or ""
    return host in _LOOPBACK


# ----------------------------------------------------------------- state ----
class GoogleState:
    """Calendars, events, sync tokens, page cursors and push channels of one emulator."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id_seed: int = 0,
        primary: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.primary = primary
        #: Fault switch: pages are at most half of ``maxResults`` and an empty
        #: page (still with a ``nextPageToken``) precedes the last one.
        self.short_pages = False
        #: Fault switch: sync tokens older than this many seconds get 410.
        self.sync_token_ttl: float | None = None
        #: Base of ``resourceUri`` in watch channels (the HTTP layer sets its own URL).
        self.base_url = "https://www.googleapis.com/"
        #: Called (under the lock) with the push messages a change produced.
        self.listener: Callable[[list[Notification]], None] | None = None
        self._rng = random.Random(id_seed)
        self._calendars: dict[str, Calendar] = {}
        self._seq = 0
        self._order = 0
        self._epoch = 0
        self._cursor_serial = 0
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._channels: dict[str, Channel] = {}
        #: Invitations: (organizer calendar, event id) -> attendee calendars holding a copy.
        self._invites: dict[tuple[str, str], list[str]] = {}

    # ---------------------------------------------------------- helpers ----
    def now(self) -> datetime:
        value = self.clock()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def _new_id(self, cal: Calendar) -> str:
        while True:
            raw = self._rng.getrandbits(130).to_bytes(17, "big")
            candidate = base64.b32hexencode(raw).decode("ascii").lower().rstrip("=")[:26]
            if candidate not in cal.events:
                return candidate

    def _calendar(self, calendar_id: str) -> Calendar:
        if calendar_id == "primary":
            if self.primary and self.primary in self._calendars:
                return self._calendars[self.primary]
            if self._calendars:
                return next(iter(self._calendars.values()))
            raise not_found()
        cal = self._calendars.get(calendar_id)
        if cal is None:
            raise not_found()
        return cal

    def _primary_id(self) -> str | None:
        if self.primary and self.primary in self._calendars:
            return self.primary
        return next(iter(self._calendars), None)

    # -------------------------------------------------------- calendars ----
    @_locked
    def add_calendar(
        self,
        calendar_id: str,
        owner: str | None = None,
        *,
        summary: str | None = None,
        time_zone: str = "UTC",
    ) -> None:
        """Create a calendar (no-op when it exists). ``owner`` defaults to the id."""
        if calendar_id in self._calendars:
            return
        zone(time_zone)
        self._seq += 1
        self._calendars[calendar_id] = Calendar(
            id=calendar_id,
            owner=owner or calendar_id,
            summary=summary or calendar_id,
            time_zone=time_zone,
            order=self._next_order(),
            seq=self._seq,
            updated=self.now(),
        )

    @_locked
    def calendar_ids(self) -> list[str]:
        return list(self._calendars)

    @_locked
    def has_calendar(self, calendar_id: str) -> bool:
        return calendar_id in self._calendars

    @_locked
    def stored_events(self, calendar_id: str) -> list[Json]:
        """Every stored event (masters, exceptions, singles, tombstones), as stored."""
        cal = self._calendar(calendar_id)
        return [copy.deepcopy(ev.body) for ev in cal.events.values()]

    @_locked
    def calendar_list(self, params: Params) -> Json:
        token = params.get("pageToken")
        if token:
            return self._page(token)
        size = params.number("maxResults", CALENDAR_LIST_DEFAULT_MAX_RESULTS)
        assert size is not None
        size = min(size, CALENDAR_LIST_MAX_MAX_RESULTS)
        since = -1
        sync = params.get("syncToken")
        if sync:
            if params.has("minAccessRole"):
                raise invalid(
                    "The minAccessRole parameter cannot be used together with syncToken.",
                    "minAccessRole",
                )
            since = self._decode_sync_token(sync, "*")["s"]
        primary = self._primary_id()
        items = [
            self._list_entry(cal, cal.id == primary)
            for cal in self._calendars.values()
            if cal.seq > since
        ]
        envelope: Json = {"kind": "calendar#calendarList", "etag": f'"p{self._seq:014d}"'}
        return self._paginate(items, size, self._sync_token_for("*", 0, None), envelope)

    @staticmethod
    def _list_entry(cal: Calendar, primary: bool) -> Json:
        entry: Json = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{cal.seq:016d}"',
            "id": cal.id,
            "summary": cal.summary,
            "timeZone": cal.time_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [],
        }
        if primary:
            entry["primary"] = True
        return entry

    # ---------------------------------------------------------- tokens ----
    def _sync_token_for(
        self, calendar_key: str, epoch: int, window: list[str | None] | None
    ) -> str:
        payload = {
            "c": calendar_key,
            "s": self._seq,
            "e": epoch,
            "g": self._epoch,
            "t": self.now().timestamp(),
            "w": window,
        }
        return "C" + _b64(json.dumps(payload, separators=(",", ":")).encode())

    def _decode_sync_token(self, token: str, calendar_key: str, epoch: int = 0) -> Json:
        try:
            if not token.startswith("C"):
                raise ValueError(token)
            payload = json.loads(_unb64(token[1:]))
            if not isinstance(payload, dict):
                raise ValueError(token)
            fresh = (
                payload["c"] == calendar_key
                and payload["e"] == epoch
                and payload["g"] == self._epoch
                and int(payload["s"]) <= self._seq
            )
            age = self.now().timestamp() - float(payload["t"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise full_sync_required() from None
        if not fresh or (self.sync_token_ttl is not None and age > self.sync_token_ttl):
            raise full_sync_required()
        return payload

    @_locked
    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Invalidate outstanding sync tokens (all, or one calendar's): next use is 410."""
        if calendar_id is None:
            self._epoch += 1
        else:
            self._calendar(calendar_id).epoch += 1

    def _paginate(
        self, items: list[Json], size: int, sync_token: str | None, envelope: Json
    ) -> Json:
        if self.short_pages:
            step = max(1, size // 2)
            pages = [items[i : i + step] for i in range(0, len(items), step)] or [[]]
            pages.insert(len(pages) - 1, [])
        else:
            pages = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        self._cursor_serial += 1
        key = f"{self._cursor_serial}-{self._rng.getrandbits(32):08x}"
        self._cursors[key] = _Cursor(pages, sync_token, envelope)
        if len(pages) == 1:  # nothing to page through: keep no snapshot
            return self._page_response(key, 0, forget=True)
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)
        return self._page_response(key, 0)

    def _page(self, token: str) -> Json:
        try:
            key, _, index = _unb64(token).decode("ascii").rpartition(":")
            position = int(index)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise invalid("Invalid page token value.", "pageToken") from None
        cursor = self._cursors.get(key)
        if cursor is None or not 0 <= position < len(cursor.pages):
            raise invalid("Invalid page token value.", "pageToken")
        return self._page_response(key, position)

    def _page_response(self, key: str, position: int, *, forget: bool = False) -> Json:
        cursor = self._cursors.pop(key) if forget else self._cursors[key]
        out = dict(cursor.envelope)
        if position + 1 < len(cursor.pages):
            out["nextPageToken"] = _b64(f"{key}:{position + 1}".encode())
        elif cursor.sync_token is not None:
            out["nextSyncToken"] = cursor.sync_token
        out["items"] = copy.deepcopy(cursor.pages[position])
        return out

    # ------------------------------------------------------------ reads ----
    def _envelope(self, cal: Calendar) -> Json:
        return {
            "kind": "calendar#events",
            "etag": f'"p{cal.seq:014d}"',
            "summary": cal.summary,
            "description": "",
            "updated": format_timestamp(cal.updated),
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
        }

    def _view(self, params: Params, *, strip: bool) -> _View:
        return _View(
            tz=params.zone(),
            max_attendees=params.number("maxAttendees", None),
            strip_cancelled=strip,
        )

    def _render(self, cal: Calendar, row: _Row, view: _View) -> Json:
        body = row.body
        if body.get("status") == "cancelled" and view.strip_cancelled:
            stub: Json = {
                "kind": "calendar#event",
                "etag": body["etag"],
                "id": body["id"],
                "status": "cancelled",
            }
            if body.get("recurringEventId"):
                stub["recurringEventId"] = body["recurringEventId"]
                stub["originalStartTime"] = copy.deepcopy(body["originalStartTime"])
            return stub
        out = copy.deepcopy(body)
        start_tz = view.tz or (zone(row.start.tz) if row.start.tz else cal.tz)
        end_tz = view.tz or (zone(row.end.tz) if row.end.tz else start_tz)
        out["start"] = row.start.render(start_tz)
        out["end"] = row.end.render(end_tz)
        attendees = out.get("attendees")
        if view.max_attendees is not None and attendees and len(attendees) > view.max_attendees:
            out["attendees"] = [a for a in attendees if a.get("self")]
            out["attendeesOmitted"] = True
        return _ordered(out)

    def _row(self, ev: StoredEvent, group: int | None = None) -> _Row:
        return _Row(ev.body, ev.start, ev.end, ev.order if group is None else group)

    def _virtual(self, cal: Calendar, master: StoredEvent, occ: Occurrence) -> _Row:
        """An unmodified instance of a series, derived from its master."""
        assert master.series is not None
        body = copy.deepcopy(master.body)
        body.pop("recurrence", None)
        body["id"] = f"{master.id}_{occ.suffix()}"
        digest = hashlib.sha1(f"{master.body['etag']}{body['id']}".encode()).hexdigest()
        body["etag"] = f'"{int(digest[:13], 16):016d}"'
        body["recurringEventId"] = master.id
        body["originalStartTime"] = master.series.original_time(occ)
        if occ.original_day is not None:
            start = When(day=occ.original_day, tz=master.start.tz)
            end = When(day=occ.end.date(), tz=master.end.tz)
        else:
            start = When(instant=occ.start, tz=master.start.tz)
            end = When(instant=occ.end, tz=master.end.tz)
        return _Row(_ordered(body), start, end, master.order)

    def _instances(
        self, cal: Calendar, master: StoredEvent, low: datetime | None, high: datetime
    ) -> list[_Row]:
        assert master.series is not None
        overridden = cal.exceptions.get(master.id, {})
        return [
            self._virtual(cal, master, occ)
            for occ in master.series.between(low, high)
            if occ.suffix() not in overridden
        ]

    def _horizon(self, high: datetime | None) -> datetime:
        return high if high is not None else self.now() + EXPANSION_HORIZON

    @_locked
    def list_events(self, calendar_id: str, params: Params) -> Json:
        cal = self._calendar(calendar_id)
        token = params.get("pageToken")
        if token:
            return self._page(token)
        single = params.flag("singleEvents")
        show_deleted = params.flag("showDeleted")
        size = params.number("maxResults", DEFAULT_MAX_RESULTS)
        assert size is not None
        size = min(size, MAX_MAX_RESULTS)
        order_by = params.get("orderBy")
        if order_by is not None and order_by not in ("startTime", "updated"):
            raise invalid(f"Invalid value '{order_by}' for orderBy.", "orderBy")
        event_types = set(params.all("eventTypes"))
        view = self._view(params, strip=not show_deleted)
        sync = params.get("syncToken")
        if sync:
            forbidden = [name for name in FORBIDDEN_WITH_SYNC_TOKEN if params.has(name)]
            if forbidden:
                raise invalid(
                    f"The {forbidden[0]} parameter cannot be used together with syncToken.",
                    forbidden[0],
                )
            if params.has("showDeleted") and not show_deleted:
                raise invalid(
                    "showDeleted cannot be set to false together with syncToken.", "showDeleted"
                )
            payload = self._decode_sync_token(sync, cal.id, cal.epoch)
            window = payload.get("w") or [None, None]
            low = parse_rfc3339(window[0]) if window[0] else None
            high = parse_rfc3339(window[1]) if window[1] else None
            rows = self._changes(cal, int(payload["s"]), single, low, high)
            new_token = self._sync_token_for(cal.id, cal.epoch, window)
        else:
            low = params.instant("timeMin")
            high = params.instant("timeMax")
            if low is not None and high is not None and high <= low:
                raise time_range_empty()
            if order_by == "startTime" and not single:
                raise bad_request(
                    "The requested ordering is not available for the particular query."
                )
            updated_min = params.instant("updatedMin")
            rows = self._full(cal, single, show_deleted or updated_min is not None, low, high)
            rows = self._filter(cal, rows, params, updated_min)
            window = [params.get("timeMin"), params.get("timeMax")]
            new_token = self._sync_token_for(cal.id, cal.epoch, window)
        if event_types:
            rows = [r for r in rows if r.body.get("eventType", "default") in event_types]
        if order_by == "startTime":
            rows.sort(key=lambda r: (r.begins(cal.tz), r.body["id"]))
        elif order_by == "updated":
            rows.sort(key=lambda r: (r.body.get("updated", ""), r.body["id"]))
        items = [self._render(cal, row, view) for row in rows]
        return self._paginate(items, size, new_token, self._envelope(cal))

    def _full(
        self,
        cal: Calendar,
        single: bool,
        show_deleted: bool,
        low: datetime | None,
        high: datetime | None,
    ) -> list[_Row]:
        rows: list[_Row] = []
        for ev in cal.events.values():
            if ev.series is not None:
                if single:
                    if not ev.cancelled:
                        rows.extend(self._instances(cal, ev, low, self._horizon(high)))
                    continue
                if ev.cancelled and not show_deleted:
                    continue
                if (low is not None or high is not None) and not ev.series.between(
                    low, high or _FAR_FUTURE, limit=1
                ):
                    continue
                rows.append(self._row(ev))
                continue
            group = None
            if ev.master_id:
                master = cal.events.get(ev.master_id)
                live = master is not None and not master.cancelled
                if master is not None:
                    group = master.order
                if single:
                    keep = live and (show_deleted or not ev.cancelled)
                else:
                    keep = live or show_deleted
            else:
                keep = show_deleted or not ev.cancelled
            if keep and _overlaps(ev.start.at(cal.tz), ev.end.at(cal.tz), low, high):
                rows.append(self._row(ev, group))
        if single:
            rows.sort(key=lambda r: (r.group, r.begins(cal.tz)))
        return rows

    def _changes(
        self,
        cal: Calendar,
        since: int,
        single: bool,
        low: datetime | None,
        high: datetime | None,
    ) -> list[_Row]:
        rows: list[_Row] = []
        changed = sorted((ev for ev in cal.events.values() if ev.seq > since), key=lambda e: e.seq)
        for ev in changed:
            if not (single and ev.series is not None):
                rows.append(self._row(ev))
                continue
            instances = self._instances(cal, ev, low, self._horizon(high))
            if ev.cancelled:
                for row in instances:
                    row.body["status"] = "cancelled"
            rows.extend(instances)
        return rows

    def _filter(
        self, cal: Calendar, rows: list[_Row], params: Params, updated_min: datetime | None
    ) -> list[_Row]:
        uid = params.get("iCalUID")
        if uid is not None:
            rows = [r for r in rows if r.body.get("iCalUID") == uid]
        scopes = (("private", "privateExtendedProperty"), ("shared", "sharedExtendedProperty"))
        for scope, name in scopes:
            for constraint in params.all(name):
                key, sep, value = constraint.partition("=")
                if not sep or not key:
                    raise invalid(f"Invalid value '{constraint}' for {name}.", name)
                rows = [
                    r
                    for r in rows
                    if (r.body.get("extendedProperties") or {}).get(scope, {}).get(key) == value
                ]
        text = (params.get("q") or "").strip().lower()
        if text:
            rows = [r for r in rows if all(t in self._haystack(r.body) for t in text.split())]
        if updated_min is not None:
            stamp = format_timestamp(updated_min)
            rows = [r for r in rows if r.body.get("updated", "") >= stamp]
        return rows

    @staticmethod
    def _haystack(body: Json) -> str:
        parts = [body.get("summary"), body.get("description"), body.get("location")]
        for person in [body.get("organizer") or {}, *(body.get("attendees") or [])]:
            parts += [person.get("email"), person.get("displayName")]
        return " ".join(str(p) for p in parts if p).lower()

    def _lookup(
        self, cal: Calendar, event_id: str
    ) -> tuple[StoredEvent | None, tuple[StoredEvent, Occurrence] | None]:
        """A stored event, or the (master, occurrence) of an unmodified instance id."""
        ev = cal.events.get(event_id)
        if ev is not None:
            return ev, None
        master_id, sep, suffix = event_id.rpartition("_")
        master = cal.events.get(master_id) if sep else None
        if master is not None and master.series is not None and not master.cancelled:
            instant, day = parse_suffix(suffix)
            occ = master.series.find(instant, day)
            if occ is not None:
                exception_id = cal.exceptions.get(master.id, {}).get(occ.suffix())
                if exception_id is not None:
                    return cal.events[exception_id], None
                return None, (master, occ)
        raise not_found()

    @_locked
    def get_event(self, calendar_id: str, event_id: str, params: Params | None = None) -> Json:
        cal = self._calendar(calendar_id)
        ev, virtual = self._lookup(cal, event_id)
        row = self._row(ev) if ev is not None else self._virtual(cal, *virtual)  # type: ignore[misc]
        return self._render(cal, row, self._view(params or Params(), strip=False))

    @_locked
    def instances(self, calendar_id: str, event_id: str, params: Params) -> Json:
        cal = self._calendar(calendar_id)
        token = params.get("pageToken")
        if token:
            return self._page(token)
        ev = cal.events.get(event_id)
        if ev is None:
            raise not_found()
        if ev.cancelled:
            raise deleted()
        show_deleted = params.flag("showDeleted")
        size = params.number("maxResults", DEFAULT_MAX_RESULTS)
        assert size is not None
        low = params.instant("timeMin")
        high = params.instant("timeMax")
        if low is not None and high is not None and high <= low:
            raise time_range_empty()
        view = self._view(params, strip=not show_deleted)
        rows: list[_Row] = []
        if ev.series is None:
            if _overlaps(ev.start.at(cal.tz), ev.end.at(cal.tz), low, high):
                rows.append(self._row(ev))
        else:
            overridden = cal.exceptions.get(ev.id, {})
            for occ in ev.series.between(low, self._horizon(high)):
                exception_id = overridden.get(occ.suffix())
                if exception_id is None:
                    rows.append(self._virtual(cal, ev, occ))
                    continue
                exception = cal.events[exception_id]
                if show_deleted or not exception.cancelled:
                    rows.append(self._row(exception))
        original = params.get("originalStart")
        if original:
            wanted = parse_rfc3339(original)
            rows = [
                r
                for r in rows
                if wanted is not None
                and parse_rfc3339(r.body.get("originalStartTime", {}).get("dateTime", "")) == wanted
            ]
        items = [self._render(cal, row, view) for row in rows]
        return self._paginate(items, min(size, MAX_MAX_RESULTS), None, self._envelope(cal))

    # ----------------------------------------------------------- writes ----
    def _validate(
        self, cal: Calendar, data: Json, *, exception: bool
    ) -> tuple[Json, When, When, Series | None]:
        try:
            start = parse_when(data.get("start"), "start")
            end = parse_when(data.get("end"), "end")
        except TimeFormatError as exc:
            raise _time_error(exc) from None
        if start.all_day != end.all_day:
            raise invalid("Start and end times must either both be date or both be dateTime.")
        if end.at(cal.tz) < start.at(cal.tz):
            raise time_range_empty()
        data["start"] = start.render(zone(start.tz) if start.tz else cal.tz)
        data["end"] = end.render(zone(end.tz) if end.tz else cal.tz)
        series = None
        recurrence = data.get("recurrence")
        if exception or not recurrence:
            data.pop("recurrence", None)
        else:
            if not isinstance(recurrence, list) or not all(isinstance(r, str) for r in recurrence):
                raise invalid("Invalid recurrence rule.")
            if not start.all_day and not start.tz:
                raise required("Missing time zone definition for start time.")
            try:
                series = Series(start, end, recurrence, cal.time_zone)
            except TimeFormatError as exc:
                raise _time_error(exc) from None
        for name, allowed in (
            ("status", _STATUS),
            ("transparency", _TRANSPARENCY),
            ("visibility", _VISIBILITY),
            ("eventType", _EVENT_TYPES),
        ):
            value = data.get(name)
            if value is not None and value not in allowed:
                raise invalid(f"Invalid value for: {name}")
        data.setdefault("status", "confirmed")
        data.setdefault("eventType", "default")
        if not isinstance(data.get("reminders"), dict):
            data["reminders"] = {"useDefault": True}
        if "sequence" in data and not isinstance(data["sequence"], int):
            raise invalid("Invalid value for: sequence")
        self._validate_attendees(cal, data)
        self._validate_extended(data)
        return data, start, end, series

    @staticmethod
    def _validate_attendees(cal: Calendar, data: Json) -> None:
        attendees = data.get("attendees")
        if attendees is None:
            return
        if not isinstance(attendees, list):
            raise invalid("Invalid value for: attendees")
        organizer = str((data.get("organizer") or {}).get("email") or cal.owner).lower()
        out = []
        for person in attendees:
            if not isinstance(person, dict) or not (person.get("email") or person.get("id")):
                raise required("Missing attendee email.")
            clean = {k: copy.deepcopy(person[k]) for k in _ATTENDEE_KEYS if k in person}
            status = clean.setdefault("responseStatus", "needsAction")
            if status not in _RESPONSE:
                raise invalid("Invalid attendee response status.")
            email_address = str(clean.get("email", "")).lower()
            if email_address and email_address == organizer:
                clean["organizer"] = True
            if cal.owned_by(email_address):
                clean["self"] = True
            out.append(clean)
        if out:
            data["attendees"] = out
        else:
            data.pop("attendees", None)

    @staticmethod
    def _validate_extended(data: Json) -> None:
        extended = data.get("extendedProperties")
        if extended is None:
            return
        if not isinstance(extended, dict):
            raise invalid("Invalid value for: extendedProperties")
        out: Json = {}
        count = size = 0
        for scope in ("private", "shared"):
            props = extended.get(scope)
            if props is None:
                continue
            if not isinstance(props, dict):
                raise invalid(f"Invalid value for: extendedProperties.{scope}")
            clean = {
                str(key): str(value)[:EXTENDED_VALUE_MAX]
                for key, value in props.items()
                if value is not None and len(str(key)) <= EXTENDED_KEY_MAX
            }
            count += len(clean)
            size += sum(len(k.encode()) + len(v.encode()) for k, v in clean.items())
            if clean:
                out[scope] = clean
        if count > EXTENDED_MAX_COUNT or size > EXTENDED_MAX_BYTES:
            raise invalid("The extended properties of this event exceed the allowed size.")
        if out:
            data["extendedProperties"] = out
        else:
            data.pop("extendedProperties", None)

    def _compose(
        self,
        cal: Calendar,
        event_id: str,
        data: Json,
        previous: Json | None,
        *,
        mode: str,
    ) -> tuple[Json, When, When, Series | None]:
        """The body to store for ``data`` (writable fields), given the previous version.

        ``mode``: "insert" (API insert), "import"/"seed" (organizer, iCalUID and
        timestamps may be supplied) or "write" (patch, update, delete).
        """
        now = self.now()
        stamps = (data.get("created"), data.get("updated"))
        data = {k: copy.deepcopy(v) for k, v in data.items() if k in _WRITABLE}
        if previous is not None:
            for name in _SERVER_SET:
                if mode == "write" or name != "organizer":
                    data.pop(name, None)
                if name in previous and name not in data:
                    data[name] = copy.deepcopy(previous[name])
        elif mode == "insert":
            for name in ("organizer", "recurringEventId", "originalStartTime"):
                data.pop(name, None)
        exception = bool(data.get("recurringEventId"))
        if "organizer" not in data or not isinstance(data["organizer"], dict):
            data["organizer"] = {"email": cal.owner}
        organizer = {
            k: data["organizer"][k] for k in ("email", "displayName") if data["organizer"].get(k)
        }
        organizer.setdefault("email", cal.owner)
        if cal.owned_by(organizer["email"]):
            organizer["self"] = True
        data["organizer"] = organizer
        data, start, end, series = self._validate(cal, data, exception=exception)

        sequence = int(data.pop("sequence", 0) or 0) if previous is None else None
        if previous is not None:
            current = int(previous.get("sequence", 0))
            requested = data.pop("sequence", None)
            if requested is not None and requested < current:
                raise invalid(
                    "Invalid sequence value. The specified sequence number is below the "
                    "current sequence number of the resource."
                )
            significant = any(previous.get(k) != data.get(k) for k in _SIGNIFICANT)
            sequence = max(current + (1 if significant else 0), requested or 0)

        created = previous.get("created") if previous is not None else None
        updated = format_timestamp(now)
        if previous is not None:
            before = {k: v for k, v in previous.items() if k in _WRITABLE and k != "reminders"}
            after = {k: v for k, v in data.items() if k != "reminders"}
            before.pop("sequence", None)
            if before == after and previous.get("reminders") != data.get("reminders"):
                updated = previous["updated"]
        if mode == "seed" or (mode == "import" and previous is None):
            created = self._stamp(stamps[0]) or created
            updated = self._stamp(stamps[1]) or updated
        if created is None:
            created = format_timestamp(now)
        uid = data.pop("iCalUID", None) or (previous or {}).get("iCalUID")
        uid = uid or f"{event_id}@google.com"
        eid = _b64(f"{event_id} {cal.id}".encode())
        body: Json = {
            "kind": "calendar#event",
            "etag": "",
            "id": event_id,
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "created": created,
            "updated": updated,
            "creator": (previous or {}).get("creator") or {"email": cal.owner, "self": True},
            "iCalUID": uid,
            "sequence": sequence,
        }
        body.update(data)
        return _ordered(body), start, end, series

    @staticmethod
    def _stamp(value: object) -> str | None:
        if not isinstance(value, str):
            return None
        parsed = parse_rfc3339(value)
        return format_timestamp(parsed) if parsed is not None else None

    def _store(
        self,
        cal: Calendar,
        body: Json,
        start: When,
        end: When,
        series: Series | None,
    ) -> StoredEvent:
        self._seq += 1
        body["etag"] = f'"3{self._seq:015d}"'
        event_id = str(body["id"])
        previous = cal.events.get(event_id)
        order = previous.order if previous is not None else self._next_order()
        stored = StoredEvent(body, start, end, series, self._seq, order)
        cal.events[event_id] = stored
        master_id = body.get("recurringEventId")
        if master_id:
            suffix = event_id.rpartition("_")[2]
            cal.exceptions.setdefault(master_id, {})[suffix] = event_id
        cal.seq = self._seq
        cal.updated = self.now()
        return stored

    def _check_etag(self, current: str, if_match: str | None) -> None:
        if if_match is None or if_match.strip() == "*":
            return
        if current not in [tag.strip() for tag in if_match.split(",")]:
            raise condition_not_met()

    def _exception_for(self, cal: Calendar, master: StoredEvent, original: Json) -> str:
        """The instance id of an exception of ``master`` with this originalStartTime."""
        try:
            when = parse_when(original, "originalStart")
        except TimeFormatError as exc:
            raise _time_error(exc) from None
        if when.day is not None:
            suffix = when.day.strftime("%Y%m%d")
        else:
            assert when.instant is not None
            suffix = when.instant.strftime("%Y%m%dT%H%M%SZ")
        return f"{master.id}_{suffix}"

    def _create(self, cal: Calendar, body: Json, mode: str) -> StoredEvent:
        if not isinstance(body, dict):
            raise bad_request()
        data = dict(body)
        if mode in ("seed", "import") and data.get("originalStartTime"):
            return self._create_exception(cal, data, mode)
        event_id = data.get("id")
        if event_id is not None and mode != "import":
            if not isinstance(event_id, str) or not CLIENT_ID.fullmatch(event_id):
                raise invalid("Invalid resource id value.")
            if event_id in cal.events:
                raise duplicate()
        else:
            event_id = self._new_id(cal)
        composed = self._compose(cal, event_id, data, None, mode=mode)
        return self._store(cal, *composed)

    def _create_exception(self, cal: Calendar, data: Json, mode: str) -> StoredEvent:
        master = cal.events.get(str(data.get("recurringEventId") or ""))
        if master is None and data.get("iCalUID"):
            master = next(
                (
                    ev
                    for ev in cal.events.values()
                    if ev.series is not None and ev.body.get("iCalUID") == data["iCalUID"]
                ),
                None,
            )
        if master is None or master.series is None:
            raise invalid("The recurring event of this instance does not exist.")
        event_id = self._exception_for(cal, master, data["originalStartTime"])
        data["recurringEventId"] = master.id
        data["iCalUID"] = master.body.get("iCalUID")
        data.setdefault("organizer", copy.deepcopy(master.body.get("organizer")))
        previous = cal.events.get(event_id)
        composed = self._compose(
            cal, event_id, data, previous.body if previous else None, mode=mode
        )
        return self._store(cal, *composed)

    @_locked
    def insert_event(self, calendar_id: str, body: Json, *, mode: str = "insert") -> Json:
        """events.insert (``mode="seed"`` also accepts organizer, timestamps, exceptions)."""
        cal = self._calendar(calendar_id)
        stored = self._create(cal, body, mode)
        self._changed(cal)
        rendered = self._render(cal, self._row(stored), _View())
        if mode == "insert":
            self._invite(calendar_id, rendered)
        return rendered

    def _invite(self, calendar_id: str, event: Json) -> None:
        """Deliver the invitation to every attendee whose calendar lives here.

        In one Workspace domain Google puts an invited event on each attendee's
        calendar with the same id and iCalUID; private extended properties stay
        on the organizer's copy. Later changes by the organizer follow it.
        """
        copies = []
        for attendee in event.get("attendees") or ():
            address = str(attendee.get("email") or "")
            if address == calendar_id or address not in self._calendars:
                continue
            target = self._calendars[address]
            if event["id"] in target.events:
                continue
            body = {
                key: copy.deepcopy(value)
                for key, value in event.items()
                if key not in ("etag", "htmlLink", "kind", "created", "updated", "sequence")
            }
            private_free = dict(body.get("extendedProperties") or {})
            private_free.pop("private", None)
            body["extendedProperties"] = private_free
            if not private_free:
                body.pop("extendedProperties")
            body["attendees"] = [
                {**a, "self": True} if a.get("email") == address else a
                for a in body.get("attendees") or ()
            ]
            self._create(target, body, "seed")
            self._changed(target)
            copies.append(address)
        if copies:
            self._invites[(calendar_id, event["id"])] = copies

    def _follow(
        self, calendar_id: str, event_id: str, change: Callable[[Calendar, str], object]
    ) -> None:
        """Apply an organizer's change to the attendees' copies of an invitation."""
        master_id = event_id.split("_", 1)[0]
        for attendee in self._invites.get((calendar_id, master_id), ()):
            target = self._calendars.get(attendee)
            if target is not None:
                change(target, event_id)
                self._changed(target)

    @_locked
    def import_event(self, calendar_id: str, body: Json) -> Json:
        """events.import: keyed by iCalUID; importing a known iCalUID updates that event."""
        cal = self._calendar(calendar_id)
        if not isinstance(body, dict):
            raise bad_request()
        uid = body.get("iCalUID")
        if not uid:
            raise required("Missing iCalUID.")
        existing = None
        if not body.get("originalStartTime"):
            existing = next(
                (
                    ev
                    for ev in cal.events.values()
                    if ev.body.get("iCalUID") == uid and not ev.master_id
                ),
                None,
            )
        if existing is None:
            stored = self._create(cal, body, "import")
        else:
            composed = self._compose(cal, existing.id, body, existing.body, mode="import")
            stored = self._store(cal, *composed)
        self._changed(cal)
        return self._render(cal, self._row(stored), _View())

    def _write(
        self,
        cal: Calendar,
        event_id: str,
        if_match: str | None,
        make: Callable[[Json], Json],
    ) -> StoredEvent:
        ev, virtual = self._lookup(cal, event_id)
        if ev is not None:
            self._check_etag(ev.body["etag"], if_match)
            composed = self._compose(cal, ev.id, make(ev.body), ev.body, mode="write")
            return self._store(cal, *composed)
        assert virtual is not None
        base = self._virtual(cal, *virtual)
        base_body = self._render(cal, base, _View())
        self._check_etag(base_body["etag"], if_match)
        composed = self._compose(cal, base_body["id"], make(base_body), base_body, mode="write")
        return self._store(cal, *composed)

    @_locked
    def patch_event(
        self, calendar_id: str, event_id: str, patch: Json, if_match: str | None = None
    ) -> Json:
        cal = self._calendar(calendar_id)
        if not isinstance(patch, dict):
            raise bad_request()
        stored = self._write(cal, event_id, if_match, lambda body: _merge_patch(body, patch))
        self._changed(cal)
        shared = {k: v for k, v in patch.items() if k != "extendedProperties"}
        if shared:
            self._follow(
                calendar_id,
                event_id,
                lambda target, eid: self._write(
                    target, eid, None, lambda body: _merge_patch(body, shared)
                ),
            )
        return self._render(cal, self._row(stored), _View())

    @_locked
    def update_event(
        self, calendar_id: str, event_id: str, body: Json, if_match: str | None = None
    ) -> Json:
        cal = self._calendar(calendar_id)
        if not isinstance(body, dict):
            raise bad_request()
        stored = self._write(cal, event_id, if_match, lambda _previous: copy.deepcopy(body))
        self._changed(cal)
        return self._render(cal, self._row(stored), _View())

    @_locked
    def delete_event(self, calendar_id: str, event_id: str, if_match: str | None = None) -> None:
        cal = self._calendar(calendar_id)
        ev, _ = self._lookup(cal, event_id)
        if ev is not None and ev.cancelled:
            raise deleted()

        def cancel(body: Json) -> Json:
            return {**copy.deepcopy(body), "status": "cancelled"}

        stored = self._write(cal, event_id, if_match, cancel)
        self._follow(
            calendar_id, event_id, lambda target, eid: self._write(target, eid, None, cancel)
        )
        if stored.series is not None:
            for exception_id in cal.exceptions.get(stored.id, {}).values():
                exception = cal.events[exception_id]
                if not exception.cancelled:
                    composed = self._compose(
                        cal, exception_id, cancel(exception.body), exception.body, mode="write"
                    )
                    self._store(cal, *composed)
        self._changed(cal)

    # --------------------------------------------------------- freebusy ----
    @_locked
    def free_busy(self, body: Json) -> Json:
        if not isinstance(body, dict):
            raise bad_request()
        bounds = []
        for name in ("timeMin", "timeMax"):
            value = body.get(name)
            if not value:
                raise required(f"Missing {name} parameter.")
            parsed = parse_rfc3339(str(value))
            if parsed is None:
                raise bad_request()
            bounds.append(parsed.astimezone(UTC))
        low, high = bounds
        if high <= low:
            raise time_range_empty()
        if high - low > FREEBUSY_MAX_RANGE:
            raise time_range_too_long()
        try:
            tz = zone(str(body.get("timeZone") or "UTC"))
        except TimeFormatError:
            raise invalid("Invalid time zone definition.", "timeZone") from None
        limit = body.get("calendarExpansionMax", FREEBUSY_MAX_CALENDARS)
        if not isinstance(limit, int) or not 1 <= limit <= FREEBUSY_MAX_CALENDARS:
            raise invalid("Invalid value for: calendarExpansionMax")
        group_limit = body.get("groupExpansionMax", FREEBUSY_MAX_GROUP_EXPANSION)
        if not isinstance(group_limit, int) or not 1 <= group_limit <= FREEBUSY_MAX_GROUP_EXPANSION:
            raise invalid("Invalid value for: groupExpansionMax")
        calendars: Json = {}
        for index, item in enumerate(body.get("items") or []):
            calendar_key = str((item or {}).get("id", ""))
            if index >= limit:
                calendars[calendar_key] = {
                    "errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}],
                    "busy": [],
                }
                continue
            try:
                cal = self._calendar(calendar_key)
            except ApiError:
                calendars[calendar_key] = {
                    "errors": [{"domain": "global", "reason": "notFound"}],
                    "busy": [],
                }
                continue
            calendars[calendar_key] = {
                "busy": [
                    {"start": format_datetime(s, tz), "end": format_datetime(e, tz)}
                    for s, e in self._busy(cal, low, high)
                ]
            }
        return {
            "kind": "calendar#freeBusy",
            "timeMin": format_timestamp(low),
            "timeMax": format_timestamp(high),
            "calendars": calendars,
        }

    @staticmethod
    def _blocks(cal: Calendar, body: Json) -> bool:
        if body.get("transparency") == "transparent" or body.get("status") == "cancelled":
            return False
        return not any(
            cal.owned_by(a.get("email")) and a.get("responseStatus") == "declined"
            for a in body.get("attendees") or []
        )

    def _busy(
        self, cal: Calendar, low: datetime, high: datetime
    ) -> list[tuple[datetime, datetime]]:
        spans: list[tuple[datetime, datetime]] = []
        for ev in cal.events.values():
            if ev.cancelled:
                continue
            if ev.series is not None:
                if self._blocks(cal, ev.body):
                    spans += [
                        (r.start.at(cal.tz), r.end.at(cal.tz))
                        for r in self._instances(cal, ev, low, high)
                    ]
                continue
            if ev.master_id:
                master = cal.events.get(ev.master_id)
                if master is None or master.cancelled:
                    continue
            start, end = ev.start.at(cal.tz), ev.end.at(cal.tz)
            if self._blocks(cal, ev.body) and _overlaps(start, end, low, high):
                spans.append((start, end))
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted((max(s, low), min(e, high)) for s, e in spans):
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    # ------------------------------------------------------------- push ----
    @staticmethod
    def _resource_id(cal: Calendar) -> str:
        digest = hashlib.sha256(f"events:{cal.id}".encode()).digest()
        return _b64(digest)[:27]

    @_locked
    def watch(self, calendar_id: str, body: Json) -> Json:
        cal = self._calendar(calendar_id)
        if not isinstance(body, dict):
            raise bad_request()
        channel_id = body.get("id")
        if not channel_id or not isinstance(channel_id, str):
            raise required("Missing channel id.")
        if len(channel_id) > CHANNEL_ID_MAX:
            raise invalid("Channel id must be at most 64 characters.")
        if body.get("type") not in ("web_hook", "webhook"):
            raise invalid(f"Invalid channel type: {body.get('type')}")
        address = body.get("address")
        if not address or not isinstance(address, str):
            raise required("Missing channel address.")
        scheme = urllib.parse.urlsplit(address).scheme.lower()
        if scheme != "https" and not (scheme == "http" and _is_loopback(address)):
            raise ApiError(
                400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}"
            )
        self._expire_channels()
        if channel_id in self._channels:
            raise ApiError(400, "channelIdNotUnique", "Channel id not unique")
        ttl = (body.get("params") or {}).get("ttl", CHANNEL_DEFAULT_TTL_SECONDS)
        try:
            ttl_seconds = int(ttl)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value for: params.ttl ({ttl})") from None
        token = body.get("token")
        channel = Channel(
            id=channel_id,
            resource_id=self._resource_id(cal),
            resource_uri=(
                f"{self.base_url}calendar/v3/calendars/"
                f"{urllib.parse.quote(cal.id, safe='@')}/events?alt=json"
            ),
            calendar_id=cal.id,
            address=address,
            token=str(token) if token is not None else None,
            expiration=self.now() + timedelta(seconds=ttl_seconds),
        )
        self._channels[channel_id] = channel
        self._emit([self._message(channel, "sync")])
        return channel.body()

    @_locked
    def stop_channel(self, body: Json) -> None:
        if not isinstance(body, dict):
            raise bad_request()
        channel = self._channels.get(str(body.get("id", "")))
        if channel is None or channel.resource_id != body.get("resourceId"):
            raise not_found()
        del self._channels[channel.id]

    @_locked
    def channels(self) -> list[Json]:
        self._expire_channels()
        return [ch.body() | {"address": ch.address} for ch in self._channels.values()]

    def _expire_channels(self) -> None:
        now = self.now()
        for key in [k for k, ch in self._channels.items() if ch.expiration <= now]:
            del self._channels[key]

    def _message(self, channel: Channel, state: str) -> Notification:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": email.utils.format_datetime(
                channel.expiration.astimezone(UTC), usegmt=True
            ),
            "X-Goog-Message-Number": str(channel.messages),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": channel.resource_uri,
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return Notification(channel.id, channel.address, headers)

    def _changed(self, cal: Calendar) -> None:
        self._expire_channels()
        messages = [
            self._message(channel, "exists")
            for channel in self._channels.values()
            if channel.calendar_id == cal.id
        ]
        self._emit(messages)

    def _emit(self, messages: list[Notification]) -> None:
        if messages and self.listener is not None:
            self.listener(messages)
