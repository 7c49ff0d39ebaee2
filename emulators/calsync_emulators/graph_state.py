"""The in-memory model behind the Microsoft Graph v1.0 (calendar) emulator.

Pure state and rules, no HTTP: :mod:`calsync_emulators.graph` parses requests
and calls :class:`GraphState`, which answers with Graph-shaped dicts or raises
:class:`GraphError` carrying Graph's error code and message. Every public method
takes the one lock, so the threaded HTTP server and a test poking the state
directly see the same mailboxes.

Model: each mailbox holds *items* -- single events and series masters. A
master expands its ``recurrence`` in wall time; its instances are virtual
(``occurrence``) unless an *override* turns one into an ``exception`` (a move,
an edit, an attendee's ``isCancelled: true``) or the owner deleted it. A
meeting's copies in the organizer's and the attendees' mailboxes share the
``iCalUId`` (Exchange's GlobalObjectId) and nothing else: each has its own ids,
etag, extended properties and response.

The behaviour reproduced, and the choices made where Graph's documentation is
silent, are listed in the docstring of :mod:`calsync_emulators.graph`; the
limits are the constants below.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import html
import json
import math
import random
import re
import threading
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from calsync_emulators.google_recurrence import Occurrence, Series, When
from calsync_emulators.graph_times import (
    DAYS,
    NEVER,
    EventRef,
    GraphTime,
    RecurrenceError,
    decode_id,
    encode_id,
    format_local,
    format_timestamp,
    format_utc,
    goid_for_uid,
    ical_uid,
    mailbox_tag,
    new_goid,
    normalize_recurrence,
    parse_datetime,
    parse_graph_time,
    parse_instant,
    recurrence_to_rrule,
)
from calsync_emulators.zones import TimeFormatError, resolve_zone, windows_name

Json = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")

# ---------------------------------------------------------------- limits ----
#: Page size of calendarView, instances and events lists without ``$top``.
DEFAULT_PAGE_SIZE = 10
MAX_TOP = 1000
#: Page size of calendarView/delta without ``Prefer: odata.maxpagesize`` (the
#: docs give none; 10 is what the list endpoints use).
DEFAULT_DELTA_PAGE_SIZE = 10
#: A second POST with the same ``transactionId`` within this time (emulator
#: clock) of the first returns the first event instead of a new one, as long as
#: that event still exists. Graph documents no window; this is the emulator's.
TRANSACTION_ID_WINDOW = timedelta(hours=24)
#: getSchedule: at most this many schedules, and a range shorter than this.
GET_SCHEDULE_MAX_SCHEDULES = 20
GET_SCHEDULE_MAX_RANGE = timedelta(days=62)
#: Delta rounds kept for ``$skiptoken`` paging (oldest evicted first).
MAX_ROUNDS = 4096
#: The subject prefix Exchange gives an attendee's copy of a cancelled meeting.
CANCELED_PREFIX = "Canceled: "

_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
_ODATA_EVENT = "#microsoft.graph.event"

#: Every property of the v1.0 event type (and outlookItem/entity), navigation included.
EVENT_PROPERTIES = frozenset(
    {
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "allowNewTimeProposals",
        "attendees",
        "body",
        "bodyPreview",
        "end",
        "hasAttachments",
        "hideAttendees",
        "iCalUId",
        "importance",
        "isAllDay",
        "isCancelled",
        "isDraft",
        "isOnlineMeeting",
        "isOrganizer",
        "isReminderOn",
        "location",
        "locations",
        "onlineMeeting",
        "onlineMeetingProvider",
        "onlineMeetingUrl",
        "organizer",
        "originalEndTimeZone",
        "originalStart",
        "originalStartTimeZone",
        "recurrence",
        "reminderMinutesBeforeStart",
        "responseRequested",
        "responseStatus",
        "sensitivity",
        "seriesMasterId",
        "showAs",
        "start",
        "subject",
        "transactionId",
        "type",
        "webLink",
        "attachments",
        "calendar",
        "extensions",
        "instances",
        "multiValueExtendedProperties",
        "singleValueExtendedProperties",
    }
)
#: Properties a client may set on create/update (others are read-only and ignored).
_WRITABLE = frozenset(
    {
        "allowNewTimeProposals",
        "attendees",
        "body",
        "categories",
        "end",
        "hideAttendees",
        "importance",
        "isAllDay",
        "isOnlineMeeting",
        "isReminderOn",
        "location",
        "locations",
        "onlineMeetingProvider",
        "recurrence",
        "reminderMinutesBeforeStart",
        "responseRequested",
        "sensitivity",
        "showAs",
        "start",
        "subject",
    }
)
#: What an organizer's change carries to the attendees' copies.
_MEETING_FIELDS = ("subject", "body", "location", "locations", "importance", "sensitivity")
_SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
_RESPONSES = ("none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded")
_ATTENDEE_TYPES = ("required", "optional", "resource")
_AVAILABILITY = {"free": 0, "workingElsewhere": 0, "unknown": 0, "tentative": 1, "busy": 2}
_AVAILABILITY["oof"] = 3
_DEFAULTS: Json = {
    "subject": "",
    "body": {"contentType": "html", "content": ""},
    "importance": "normal",
    "sensitivity": "normal",
    "showAs": "busy",
    "categories": [],
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "responseRequested": True,
    "allowNewTimeProposals": True,
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "hideAttendees": False,
    "location": {
        "displayName": "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
    },
    "locations": [],
    "attendees": [],
}


# ---------------------------------------------------------------- errors ----
class GraphError(Exception):
    """An HTTP error in Graph's shape; the HTTP layer adds ``innerError``."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str, client_request_id: str, date_text: str) -> Json:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": date_text,
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        }


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def id_malformed() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def invalid_user(user: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")


def irresolvable_conflict() -> GraphError:
    return GraphError(
        412,
        "ErrorIrresolvableConflict",
        "The change key passed in the request does not match the current change key for the item.",
    )


def sync_state_not_found() -> GraphError:
    return GraphError(
        400,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
    )


def resync_required(location: str) -> GraphError:
    return GraphError(
        410,
        "resyncRequired",
        "The delta token is no longer valid, and the app must reset the sync state.",
        {"Location": location},
    )


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def validation_failure(message: str) -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def bad_request(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def invalid_time_zone(name: object) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        "A valid TimeZone value must be specified. "
        f"The following TimeZone value is not supported: '{name}'.",
    )


def unknown_property(name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only "
        "use property names that are defined by the type or mark the type as open type.",
    )


def unknown_select(name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBroker--ParseUri",
        f"Could not find a property named '{name}' on type 'microsoft.graph.event'.",
    )


def invalid_filter() -> GraphError:
    return GraphError(
        400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."
    )


def delta_query_not_supported() -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidUrlQuery",
        "The following parameters are not supported with change tracking over the "
        "'CalendarView' resource: '$orderby, $filter, $select, $expand, $search'.",
    )


def window_required() -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidParameter",
        "This request requires a time window specified by the query string parameters "
        "StartDateTime and EndDateTime.",
    )


# ----------------------------------------------------------------- views ----
@dataclass(frozen=True, slots=True)
class View:
    """How to render events: output zone, body type, ``$select``, ``$expand`` of extended props."""

    tz_name: str = "UTC"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    body_type: str | None = None
    select: frozenset[str] | None = None
    svep_ids: tuple[str, ...] | None = None

    @classmethod
    def from_prefer(cls, prefer: Mapping[str, str]) -> View:
        """From parsed ``Prefer`` preferences; an unknown zone falls back to UTC."""
        name = prefer.get("outlook.timezone")
        body_type = prefer.get("outlook.body-content-type")
        body = body_type.lower() if body_type and body_type.lower() in ("text", "html") else None
        if name:
            try:
                return cls(name, resolve_zone(name), body)
            except TimeFormatError:
                pass
        return cls(body_type=body)

    def with_query(self, select: frozenset[str] | None, svep_ids: tuple[str, ...] | None) -> View:
        return View(self.tz_name, self.tz, self.body_type, select, svep_ids)


def parse_prefer(values: Iterable[str]) -> dict[str, str]:
    """``Prefer`` headers as {name: value}, quotes removed (several headers or comma lists)."""
    out: dict[str, str] = {}
    for header in values:
        for part in re.findall(r'(?:[^,"]|"[^"]*")+', header):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
    return out


# ----------------------------------------------------------------- model ----
@dataclass(slots=True)
class Timing:
    """When an event (or an instance) happens; all-day times are midnights in ``tz``."""

    all_day: bool
    start: datetime
    end: datetime
    start_tz: str
    end_tz: str
    tz: ZoneInfo

    def overlaps(self, low: datetime, high: datetime) -> bool:
        return self.end > low and self.start < high


@dataclass(slots=True)
class Override:
    """An instance that differs from its series: an exception (or a cancelled copy)."""

    original: datetime
    props: Json = field(default_factory=dict)
    timing: Timing | None = None
    is_cancelled: bool = False
    response: Json | None = None


@dataclass(eq=False, slots=True)
class Item:
    """A single event or a series master in one mailbox."""

    serial: int
    mailbox: str
    props: Json
    timing: Timing
    goid: bytes
    is_organizer: bool
    response: Json
    created: datetime
    modified: datetime
    change_prefix: bytes
    version: int = 0
    changed_seq: int = 0
    recurrence: Json | None = None
    series: Series | None = None
    rec_tz: ZoneInfo | None = None
    is_cancelled: bool = False
    exceptions: dict[datetime, Override] = field(default_factory=dict)
    deleted: set[datetime] = field(default_factory=set)
    svep: dict[str, Json] = field(default_factory=dict)
    transaction_id: str | None = None
    transaction_time: datetime | None = None

    @property
    def change_key(self) -> str:
        return base64.b64encode(self.change_prefix + self.version.to_bytes(6, "big")).decode()

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'

    @property
    def meeting_key(self) -> str:
        return ical_uid(self.goid)


@dataclass(slots=True)
class Mailbox:
    upn: str
    name: str
    user_id: str
    tag: bytes
    time_zone: str
    working_days: tuple[str, ...] = DAYS[:5]
    working_start: time = time(8)
    working_end: time = time(17)
    items: dict[int, Item] = field(default_factory=dict)
    tombstones: list[tuple[int, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.upn.lower()

    @property
    def tz(self) -> ZoneInfo:
        return resolve_zone(self.time_zone)

    def address(self) -> Json:
        return {"name": self.name, "address": self.upn}


@dataclass(frozen=True, slots=True)
class Entity:
    """Something a calendar view lists: a single event, a master, or one of its instances."""

    item: Item
    original: datetime | None = None
    occurrence: Occurrence | None = None

    @property
    def is_instance(self) -> bool:
        return self.original is not None


@dataclass(frozen=True, slots=True)
class Change:
    """One change to report to subscriptions: ``changeType`` on an item of a mailbox."""

    mailbox: str
    user_id: str
    event_id: str
    change_type: str
    etag: str


@dataclass(slots=True)
class DeltaState:
    """What a ``$deltatoken`` stands for: the window and what the client has seen in it."""

    mailbox: str
    prefix: str
    low: datetime
    high: datetime
    seq: int
    seen: dict[str, str]
    expired: str | None = None


@dataclass(slots=True)
class DeltaRound:
    """One round of delta pages: the changes found when it began, and its closing token."""

    mailbox: str
    prefix: str
    low: datetime
    high: datetime
    entries: list[tuple[str, str]]
    delta_token: str
    expired: str | None = None


def _locked(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        state = args[0]
        assert isinstance(state, GraphState)
        with state.lock:
            return method(*args, **kwargs)

    return wrapper


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _html_body(text: str) -> str:
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\r\n</head>\r\n<body>\r\n'
        f'<div class="PlainText">{escaped}</div>\r\n</body>\r\n</html>\r\n'
    )


def _text_body(markup: str) -> str:
    text = re.sub(r"(?is)<(head|style|script)\b.*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>", "\n", text)
    text = re.sub(r"(?i)</(p|div|li|tr|h\d)>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip()


def _preview(body: Json) -> str:
    content = str(body.get("content") or "")
    text = _text_body(content) if body.get("contentType") == "html" else content
    return re.sub(r"\s+", " ", text).strip()[:255]


def _svep_key(prop_id: str) -> str:
    """Extended property ids compare with the type and GUID case-insensitive, the name not."""
    parts = prop_id.strip().split(" ", 3)
    if len(parts) == 4 and parts[2].lower() == "name":
        return f"{parts[0].lower()} {parts[1].lower()} name {parts[3]}"
    return prop_id.strip().lower()


def _split_top(text: str, word: str) -> list[str]:
    """Split an OData expression on `` and ``/`` or `` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    token = f" {word} "
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text[i : i + len(token)].lower() == token:
            parts.append(text[start:i].strip())
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        try:
            left = left if isinstance(left, datetime) else parse_instant(str(left))
            right = right if isinstance(right, datetime) else parse_instant(str(right))
        except TimeFormatError:
            raise invalid_filter() from None
    elif isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    try:
        return {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]
    except TypeError:
        return False


_COMPARISON = re.compile(r"^([A-Za-z]+(?:/[A-Za-z]+)?)\s+(eq|ne|gt|ge|lt|le)\s+(.+)$", re.I)
_SVEP_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.+)\)$", re.IGNORECASE | re.DOTALL
)
_FUNCTION = re.compile(r"^(contains|startswith)\(\s*(\w+)/value\s*,\s*('(?:[^']|'')*')\s*\)$", re.I)
_FILTER_PROPS = {
    "subject": "subject",
    "icaluid": "iCalUId",
    "type": "type",
    "seriesmasterid": "seriesMasterId",
    "transactionid": "transactionId",
    "iscancelled": "isCancelled",
    "isallday": "isAllDay",
    "isorganizer": "isOrganizer",
    "showas": "showAs",
    "sensitivity": "sensitivity",
    "importance": "importance",
}
_TIME_PROPS = {"start/datetime": "start", "end/datetime": "end"}
_STAMP_PROPS = {
    "createddatetime": "createdDateTime",
    "lastmodifieddatetime": "lastModifiedDateTime",
}


# ----------------------------------------------------------------- state ----
class GraphState:
    """Mailboxes, events, delta tokens and the rules of Graph's calendar API."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id_seed: int = 0,
        tenant_id: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tenant_id = tenant_id or str(uuid.UUID(int=random.Random(id_seed).getrandbits(128)))
        #: Where absolute links point (``http://127.0.0.1:PORT``); the HTTP layer sets it.
        self.base_url = "https://graph.microsoft.com"
        #: Called (under the lock) with the changes each write made.
        self.listener: Callable[[list[Change]], None] | None = None
        #: Fault switches for delta (see the emulator's methods of the same names).
        self.delta_empty_pages = False
        self.delta_replays = False
        self.delta_token_cache: int | None = None
        #: An attendee's decline moves their copy to Deleted Items (Outlook's default).
        self.keep_declined = False
        self._rng = random.Random(id_seed)
        self._mailboxes: dict[str, Mailbox] = {}
        self._by_user_id: dict[str, str] = {}
        self._by_tag: dict[bytes, str] = {}
        self._meetings: dict[str, dict[str, int]] = {}
        self._transactions: dict[tuple[str, str], int] = {}
        self._serial = 0
        self._seq = 0
        self._tokens: OrderedDict[str, DeltaState] = OrderedDict()
        self._rounds: OrderedDict[str, DeltaRound] = OrderedDict()
        self._pending: list[Change] = []

    # ---------------------------------------------------------- helpers ----
    def now(self) -> datetime:
        value = self.clock()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def _random(self, size: int) -> bytes:
        return self._rng.getrandbits(size * 8).to_bytes(size, "big")

    def _flush(self) -> None:
        changes, self._pending = self._pending, []
        if changes and self.listener is not None:
            self.listener(changes)

    # -------------------------------------------------------- mailboxes ----
    @_locked
    def add_mailbox(
        self,
        upn: str,
        name: str | None = None,
        *,
        time_zone: str = "UTC",
        working_days: Iterable[str] | None = None,
        working_start: str = "08:00",
        working_end: str = "17:00",
    ) -> Mailbox:
        """Create a mailbox (idempotent); ``time_zone`` is a Windows or IANA name."""
        if not isinstance(upn, str) or "@" not in upn:
            raise ValueError(f"a mailbox needs an address like name@example.com, not {upn!r}")
        resolve_zone(time_zone)
        existing = self._mailboxes.get(upn.lower())
        if existing is not None:
            return existing
        days = tuple(d.lower() for d in (working_days or DAYS[:5]))
        unknown = [d for d in days if d not in DAYS]
        if unknown:
            raise ValueError(f"unknown working day {unknown[0]!r}")
        display = name or upn.split("@", 1)[0].replace(".", " ").title()
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "graph-emulator:" + upn.lower()))
        mailbox = Mailbox(
            upn=upn,
            name=display,
            user_id=user_id,
            tag=mailbox_tag(upn),
            time_zone=time_zone,
            working_days=days,
            working_start=time.fromisoformat(working_start),
            working_end=time.fromisoformat(working_end),
        )
        self._mailboxes[mailbox.key] = mailbox
        self._by_user_id[user_id] = mailbox.key
        self._by_tag[mailbox.tag] = mailbox.key
        return mailbox

    @_locked
    def mailbox_ids(self) -> list[str]:
        return [m.upn for m in self._mailboxes.values()]

    @_locked
    def mailbox(self, user: str) -> Mailbox:
        """The mailbox a ``/users/{id}`` segment names (UPN or user id), else ErrorInvalidUser."""
        key = user.lower()
        found = self._mailboxes.get(key) or self._mailboxes.get(self._by_user_id.get(key, ""))
        if found is None:
            raise invalid_user(user)
        return found

    def find_mailbox(self, address: str | None) -> Mailbox | None:
        if not address:
            return None
        return self._mailboxes.get(str(address).lower())

    @_locked
    def user(self, user: str) -> Json:
        mailbox = self.mailbox(user)
        return {
            "id": mailbox.user_id,
            "displayName": mailbox.name,
            "mail": mailbox.upn,
            "userPrincipalName": mailbox.upn,
        }

    @_locked
    def calendar(self, user: str) -> Json:
        mailbox = self.mailbox(user)
        return {
            "id": _b64(b"calendar:" + mailbox.tag),
            "name": "Calendar",
            "color": "auto",
            "isDefaultCalendar": True,
            "changeKey": _b64(mailbox.tag),
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": mailbox.address(),
        }

    # ------------------------------------------------------------ items ----
    def _new_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _touch(self, item: Item, change_type: str = "updated") -> None:
        """Record a write: new change key, modified time, change sequence, notification."""
        self._seq += 1
        item.version = self._seq
        item.changed_seq = self._seq
        item.modified = max(self.now(), item.created)
        mailbox = self._mailboxes[item.mailbox]
        self._pending.append(
            Change(mailbox.upn, mailbox.user_id, self._item_id(item), change_type, item.etag)
        )

    def _item_id(self, item: Item, original: datetime | None = None) -> str:
        return encode_id(EventRef(self._mailboxes[item.mailbox].tag, item.serial, original))

    def _insert(self, mailbox: Mailbox, item: Item) -> None:
        mailbox.items[item.serial] = item
        self._meetings.setdefault(item.meeting_key, {})[mailbox.key] = item.serial
        self._touch(item, "created")

    def _remove(self, item: Item) -> None:
        """Delete an item: it leaves the calendar and delta reports it ``@removed``."""
        mailbox = self._mailboxes[item.mailbox]
        if mailbox.items.pop(item.serial, None) is None:
            return
        copies = self._meetings.get(item.meeting_key, {})
        if copies.get(mailbox.key) == item.serial:
            copies.pop(mailbox.key)
        if item.transaction_id:
            self._transactions.pop((mailbox.key, item.transaction_id), None)
        self._seq += 1
        item_id = self._item_id(item)
        mailbox.tombstones.append((self._seq, item_id))
        self._pending.append(Change(mailbox.upn, mailbox.user_id, item_id, "deleted", item.etag))

    def _copy_in(self, mailbox: Mailbox, goid_key: str) -> Item | None:
        serial = self._meetings.get(goid_key, {}).get(mailbox.key)
        return mailbox.items.get(serial) if serial is not None else None

    def _resolve(self, mailbox: Mailbox, event_id: str) -> Entity:
        """The entity an id names in this mailbox; 400 malformed / 404 not found."""
        ref = decode_id(event_id)
        if ref is None:
            raise id_malformed()
        if ref.tag != mailbox.tag:
            raise GraphError(
                400, "ErrorInvalidMailboxItemId", "Item Id doesn't belong to the current mailbox."
            )
        item = mailbox.items.get(ref.serial)
        if item is None:
            raise item_not_found()
        if ref.original is None:
            return Entity(item)
        if item.series is None or ref.original in item.deleted:
            raise item_not_found()
        occurrence = self._occurrence_at(item, ref.original)
        if occurrence is None:
            raise item_not_found()
        return Entity(item, ref.original, occurrence)

    @staticmethod
    def _occurrence_at(item: Item, original: datetime) -> Occurrence | None:
        assert item.series is not None
        if item.timing.all_day:
            day = original.astimezone(item.series.calendar_tz).date()
            return item.series.find(None, day)
        return item.series.find(original, None)

    # ----------------------------------------------------------- timing ----
    def _timing(self, body: Json, base: Timing | None = None) -> Timing:
        all_day = bool(body.get("isAllDay", base.all_day if base else False))
        try:
            if "start" in body or base is None:
                start = parse_graph_time(body.get("start"), "start")
            else:
                start = GraphTime(base.start, base.start_tz, resolve_zone(base.start_tz))
            if "end" in body or base is None:
                end = parse_graph_time(body.get("end"), "end")
            else:
                end = GraphTime(base.end, base.end_tz, resolve_zone(base.end_tz))
        except TimeFormatError as exc:
            for part in ("start", "end"):
                value = body.get(part)
                if isinstance(value, dict) and value.get("timeZone"):
                    try:
                        resolve_zone(str(value["timeZone"]))
                    except TimeFormatError:
                        raise invalid_time_zone(value["timeZone"]) from None
            raise invalid_request(str(exc)) from None
        if end.instant < start.instant:
            raise invalid_request("The end time of the event is before its start time.")
        if all_day:
            for value, what in ((start, "start"), (end, "end")):
                if value.local.time() != time(0):
                    raise invalid_request(
                        f"An all-day event must {what} at midnight; "
                        f"{value.local.isoformat(timespec='seconds')} is not."
                    )
            if end.local.date() <= start.local.date():
                raise invalid_request("An all-day event must last at least one day.")
            end_local = datetime.combine(end.local.date(), time(), tzinfo=start.tz)
            end = GraphTime(end_local.astimezone(UTC), end.tz_name, start.tz)
        return Timing(all_day, start.instant, end.instant, start.tz_name, end.tz_name, start.tz)

    def _attach_series(self, item: Item, recurrence: Json | None) -> None:
        """Set (or clear) an item's recurrence; its timing becomes the first occurrence."""
        if recurrence is None:
            item.recurrence = item.series = item.rec_tz = None
            return
        try:
            normalized = normalize_recurrence(recurrence)
        except RecurrenceError as exc:
            raise validation_failure(str(exc)) from None
        timing = item.timing
        rec_name = normalized["range"]["recurrenceTimeZone"] or timing.start_tz
        normalized["range"]["recurrenceTimeZone"] = rec_name
        rec_tz = resolve_zone(rec_name)
        start_date = date.fromisoformat(normalized["range"]["startDate"])
        rule = recurrence_to_rrule(normalized)
        try:
            if timing.all_day:
                days = (timing.end - timing.start).days or 1
                series = Series(
                    When(day=start_date),
                    When(day=start_date + timedelta(days=days)),
                    [rule],
                    timing.tz.key,
                )
            else:
                local = timing.start.astimezone(rec_tz)
                first = datetime.combine(start_date, local.time(), tzinfo=rec_tz).astimezone(UTC)
                duration = timing.end - timing.start
                series = Series(
                    When(instant=first, tz=rec_tz.key),
                    When(instant=first + duration, tz=rec_tz.key),
                    [rule],
                    rec_tz.key,
                )
        except TimeFormatError as exc:
            raise validation_failure(str(exc)) from None
        found = series.between(None, _FAR_FUTURE, limit=1)
        if not found:
            raise validation_failure("The recurrence pattern has no occurrences.")
        first_occurrence = found[0]
        item.timing = Timing(
            timing.all_day,
            first_occurrence.start.astimezone(UTC),
            first_occurrence.end.astimezone(UTC),
            timing.start_tz,
            timing.end_tz,
            timing.tz,
        )
        item.recurrence, item.series, item.rec_tz = normalized, series, rec_tz

    # ------------------------------------------------------- validation ----
    @staticmethod
    def _check_keys(body: Json) -> None:
        for name in body:
            if name.startswith("@") or "@odata." in name:
                continue
            if name not in EVENT_PROPERTIES:
                raise unknown_property(name)

    def _clean_props(self, body: Json, mailbox: Mailbox) -> Json:
        """Writable, validated event properties of a create/update body."""
        props: Json = {}
        for name in _WRITABLE - {"start", "end", "isAllDay", "recurrence"}:
            if name in body:
                props[name] = copy.deepcopy(body[name])
        if "showAs" in props and props["showAs"] not in _SHOW_AS:
            raise bad_request(f"Invalid value '{props['showAs']}' for showAs.")
        if "body" in props:
            value = props["body"] or {}
            kind = str(value.get("contentType") or "text").lower()
            if kind not in ("text", "html"):
                raise bad_request(f"Invalid contentType '{value.get('contentType')}'.")
            props["body"] = {"contentType": kind, "content": str(value.get("content") or "")}
        if "subject" in props:
            props["subject"] = "" if props["subject"] is None else str(props["subject"])
        if "location" in props:
            loc = props["location"] or {}
            props["location"] = {**_DEFAULTS["location"], **loc}
            props["locations"] = [props["location"]] if loc.get("displayName") else []
        if "attendees" in props:
            props["attendees"] = self._clean_attendees(props["attendees"])
        return props

    @staticmethod
    def _clean_attendees(raw: object) -> list[Json]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise bad_request("attendees must be a collection.")
        out: list[Json] = []
        seen: set[str] = set()
        for entry in raw:
            email = (entry or {}).get("emailAddress") if isinstance(entry, dict) else None
            address = str((email or {}).get("address") or "").strip()
            if not address:
                raise invalid_request("An attendee needs emailAddress.address.")
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            kind = str(entry.get("type") or "required")
            if kind not in _ATTENDEE_TYPES:
                raise bad_request(f"Invalid attendee type '{kind}'.")
            status = entry.get("status") or {}
            response = str(status.get("response") or "none")
            if response not in _RESPONSES:
                raise bad_request(f"Invalid response '{response}'.")
            out.append(
                {
                    "type": kind,
                    "status": {"response": response, "time": str(status.get("time") or NEVER)},
                    "emailAddress": {"name": str(email.get("name") or address), "address": address},
                }
            )
        return out

    # ------------------------------------------------------------ create ----
    @_locked
    def create_event(
        self, user: str, body: Json, *, view: View | None = None, seed: bool = False
    ) -> tuple[Json, bool]:
        """POST /users/{id}/events: (the event, created?) -- False for a transactionId replay.

        ``seed=True`` also takes iCalUId, organizer, isOrganizer, responseStatus,
        attendee statuses, isCancelled, createdDateTime/lastModifiedDateTime and
        the seed extensions ``exceptions``/``cancelledOccurrences``.
        """
        mailbox = self.mailbox(user)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        self._check_keys({k: v for k, v in body.items() if not (seed and k in _SEED_KEYS)})
        transaction = body.get("transactionId")
        if transaction is not None and not seed:
            existing = self._transaction(mailbox, str(transaction))
            if existing is not None:
                return self.render(Entity(existing), view or View()), False
        item = self._build_item(mailbox, body, seed=seed)
        if seed:
            # The mailbox's own version of a meeting replaces the copy its organizer's seed made.
            previous = self._copy_in(mailbox, item.meeting_key)
            if previous is not None:
                mailbox.items.pop(previous.serial, None)
        self._insert(mailbox, item)
        if seed:
            self._apply_seed_extras(mailbox, item, body)
        if item.is_organizer and item.props["attendees"]:
            self._propagate_new(mailbox, item)
        result = self.render(Entity(item), view or View())
        self._flush()
        return result, True

    def _transaction(self, mailbox: Mailbox, transaction_id: str) -> Item | None:
        serial = self._transactions.get((mailbox.key, transaction_id))
        item = mailbox.items.get(serial) if serial is not None else None
        if item is None or item.transaction_time is None:
            return None
        if self.now() - item.transaction_time > TRANSACTION_ID_WINDOW:
            return None
        return item

    def _build_item(self, mailbox: Mailbox, body: Json, *, seed: bool) -> Item:
        props = copy.deepcopy(_DEFAULTS)
        props.update(self._clean_props(body, mailbox))
        props["organizer"] = {"emailAddress": mailbox.address()}
        is_organizer = True
        now = self.now()
        created = now
        if seed:
            organizer = ((body.get("organizer") or {}).get("emailAddress") or {}).get("address")
            if organizer:
                name = body["organizer"]["emailAddress"].get("name") or organizer
                props["organizer"] = {"emailAddress": {"name": name, "address": organizer}}
                is_organizer = organizer.lower() == mailbox.key
            if "isOrganizer" in body:
                is_organizer = bool(body["isOrganizer"])
            if body.get("createdDateTime"):
                created = parse_instant(body["createdDateTime"])
        timing = self._timing(body)
        uid = body.get("iCalUId") if seed else None
        goid = goid_for_uid(str(uid)) if uid else new_goid(now, self._random(16))
        response = {"response": "organizer", "time": NEVER}
        if not is_organizer:
            response = {"response": "notResponded", "time": NEVER}
            given = (body.get("responseStatus") or {}) if seed else {}
            if given.get("response") in _RESPONSES:
                response = {"response": given["response"], "time": given.get("time") or NEVER}
        item = Item(
            serial=self._new_serial(),
            mailbox=mailbox.key,
            props=props,
            timing=timing,
            goid=goid,
            is_organizer=is_organizer,
            response=response,
            created=created,
            modified=created,
            change_prefix=self._random(16),
            is_cancelled=bool(body.get("isCancelled")) if seed else False,
        )
        if body.get("recurrence") is not None:
            self._attach_series(item, body["recurrence"])
        for prop in body.get("singleValueExtendedProperties") or []:
            self._set_svep(item, prop)
        transaction = body.get("transactionId")
        if transaction is not None:
            item.transaction_id = str(transaction)
            item.transaction_time = now
            self._transactions[(mailbox.key, item.transaction_id)] = item.serial
        return item

    def _apply_seed_extras(self, mailbox: Mailbox, item: Item, body: Json) -> None:
        if body.get("lastModifiedDateTime"):
            item.modified = parse_instant(body["lastModifiedDateTime"])
        if item.series is None:
            if body.get("exceptions") or body.get("cancelledOccurrences"):
                raise invalid_request("Only a recurring event can have exceptions.")
            return
        for text in body.get("cancelledOccurrences") or []:
            original = self._seed_original(item, text)
            item.deleted.add(original)
        for spec in body.get("exceptions") or []:
            if not isinstance(spec, dict) or not spec.get("originalStart"):
                raise invalid_request("An exception needs originalStart.")
            original = self._seed_original(item, spec["originalStart"])
            override = Override(original)
            self._apply_override(item, override, spec)
            if spec.get("isCancelled"):
                override.is_cancelled = True
            status = spec.get("responseStatus") or {}
            if status.get("response") in _RESPONSES and not item.is_organizer:
                override.response = {"response": status["response"], "time": NEVER}
            item.exceptions[original] = override

    def _seed_original(self, item: Item, text: object) -> datetime:
        try:
            value = parse_datetime(text)
        except TimeFormatError:
            raise invalid_request(f"Invalid originalStart {text!r}.") from None
        assert item.series is not None and item.rec_tz is not None
        if value.tzinfo is None:
            value = value.replace(tzinfo=item.rec_tz if not item.timing.all_day else item.timing.tz)
        original = value.astimezone(UTC)
        occurrence = self._occurrence_at(item, original)
        if occurrence is None:
            raise invalid_request(f"{text} is not an occurrence of the series.")
        return occurrence.original.astimezone(UTC)

    # ------------------------------------------------------ propagation ----
    def _propagate_new(self, organizer_box: Mailbox, item: Item) -> None:
        """Put a copy of a new meeting into every attendee mailbox the emulator knows."""
        for attendee in item.props["attendees"]:
            box = self.find_mailbox(attendee["emailAddress"]["address"])
            if box is None or box.key == organizer_box.key:
                continue
            if self._copy_in(box, item.meeting_key) is not None:
                continue
            self._insert(box, self._attendee_copy(box, item))

    def _attendee_copy(self, box: Mailbox, source: Item) -> Item:
        props = copy.deepcopy(source.props)
        response = {"response": "notResponded", "time": NEVER}
        for attendee in source.props["attendees"]:
            status = attendee["status"]
            known = status["response"] in ("accepted", "tentativelyAccepted", "declined")
            if attendee["emailAddress"]["address"].lower() == box.key and known:
                response = dict(status)
        if source.props.get("showAs") == "busy" and response["response"] != "accepted":
            props["showAs"] = "tentative"
        copy_item = Item(
            serial=self._new_serial(),
            mailbox=box.key,
            props=props,
            timing=copy.copy(source.timing),
            goid=source.goid,
            is_organizer=False,
            response=response,
            created=self.now(),
            modified=self.now(),
            change_prefix=self._random(16),
        )
        copy_item.recurrence = copy.deepcopy(source.recurrence)
        copy_item.series, copy_item.rec_tz = source.series, source.rec_tz
        copy_item.deleted = set(source.deleted)
        for original, override in source.exceptions.items():
            copy_item.exceptions[original] = Override(
                original, copy.deepcopy(override.props), copy.copy(override.timing)
            )
        return copy_item

    def _attendee_copies(self, item: Item) -> list[tuple[Mailbox, Item]]:
        out = []
        for key, serial in self._meetings.get(item.meeting_key, {}).items():
            if key == item.mailbox:
                continue
            box = self._mailboxes[key]
            other = box.items.get(serial)
            if other is not None and not other.is_organizer:
                out.append((box, other))
        return out

    def _organizer_copy(self, item: Item) -> Item | None:
        address = item.props["organizer"]["emailAddress"]["address"]
        box = self.find_mailbox(address)
        if box is None:
            return None
        found = self._copy_in(box, item.meeting_key)
        return found if found is not None and found.is_organizer else None

    def _cancel_copy(self, copy_item: Item, original: datetime | None) -> None:
        """What a cancellation does to an attendee's copy: ``isCancelled`` and "Canceled: "."""
        if original is None:
            if copy_item.is_cancelled:
                return
            copy_item.is_cancelled = True
            subject = copy_item.props.get("subject") or ""
            if not subject.startswith(CANCELED_PREFIX):
                copy_item.props["subject"] = CANCELED_PREFIX + subject
            self._touch(copy_item)
            return
        if original in copy_item.deleted:
            return
        override = copy_item.exceptions.setdefault(original, Override(original))
        override.is_cancelled = True
        subject = override.props.get("subject", copy_item.props.get("subject") or "")
        if not subject.startswith(CANCELED_PREFIX):
            override.props["subject"] = CANCELED_PREFIX + subject
        self._touch(copy_item)

    # ------------------------------------------------------------- read ----
    @_locked
    def get_event(self, user: str, event_id: str, view: View | None = None) -> Json:
        mailbox = self.mailbox(user)
        return self.render(self._resolve(mailbox, event_id), view or View(), single=True)

    @_locked
    def stored_events(self, user: str) -> list[Json]:
        """Every item of a mailbox (singles and masters), rendered in UTC."""
        mailbox = self.mailbox(user)
        return [self.render(Entity(i), View()) for i in mailbox.items.values()]

    # ------------------------------------------------------------ write ----
    def _check_etag(self, item: Item, if_match: str | None) -> None:
        if not if_match:
            return
        wanted = [t.strip() for t in if_match.split(",")]
        if "*" in wanted:
            return
        valid = {item.etag, item.change_key, f'"{item.change_key}"'}
        if not any(t in valid for t in wanted):
            raise irresolvable_conflict()

    @_locked
    def patch_event(
        self,
        user: str,
        event_id: str,
        patch: Json,
        if_match: str | None = None,
        view: View | None = None,
    ) -> Json:
        """PATCH an event, a master (the whole series) or an instance (makes an exception)."""
        mailbox = self.mailbox(user)
        if not isinstance(patch, dict):
            raise bad_request("The request body must be a JSON object.")
        self._check_keys(patch)
        entity = self._resolve(mailbox, event_id)
        item = entity.item
        self._check_etag(item, if_match)
        if entity.is_instance:
            if "recurrence" in patch:
                raise invalid_request("An occurrence of a series cannot have a recurrence.")
            assert entity.original is not None
            override = item.exceptions.setdefault(entity.original, Override(entity.original))
            self._apply_override(item, override, patch)
            self._touch(item)
            if item.is_organizer:
                for _box, other in self._attendee_copies(item):
                    if entity.original in other.deleted:
                        continue
                    theirs = other.exceptions.setdefault(entity.original, Override(entity.original))
                    self._apply_override(other, theirs, _meeting_part(patch))
                    self._touch(other)
            result = self.render(entity, view or View(), single=True)
            self._flush()
            return result
        before = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
        old_attendees = {a["emailAddress"]["address"].lower() for a in item.props["attendees"]}
        self._apply_item_patch(mailbox, item, patch)
        self._touch(item)
        after = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
        if item.is_organizer:
            self._propagate_patch(mailbox, item, patch, old_attendees, before != after)
        result = self.render(Entity(item), view or View(), single=True)
        self._flush()
        return result

    def _apply_item_patch(self, mailbox: Mailbox, item: Item, patch: Json) -> None:
        timing_keys = {"start", "end", "isAllDay"} & set(patch)
        props = self._clean_props(patch, mailbox)
        item.props.update(props)
        for prop in patch.get("singleValueExtendedProperties") or []:
            self._set_svep(item, prop)
        if "recurrence" in patch and patch["recurrence"] is None and item.series is not None:
            raise invalid_request("The recurrence of a series master cannot be removed.")
        if timing_keys or "recurrence" in patch:
            old = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
            if timing_keys:
                item.timing = self._timing(patch, item.timing)
            recurrence = patch.get("recurrence", item.recurrence)
            moved = recurrence is not None and "range" in recurrence and timing_keys
            if moved and "recurrence" not in patch:
                # Graph keeps range.startDate on the start date unless both are sent.
                recurrence = copy.deepcopy(recurrence)
                local = item.timing.start.astimezone(
                    resolve_zone(recurrence["range"].get("recurrenceTimeZone") or "UTC")
                )
                recurrence["range"]["startDate"] = local.date().isoformat()
            self._attach_series(item, recurrence)
            new = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
            if new != old:
                # Exchange drops a series' exceptions when its pattern or time changes.
                item.exceptions.clear()
                item.deleted.clear()

    def _apply_override(self, item: Item, override: Override, patch: Json) -> None:
        mailbox = self._mailboxes[item.mailbox]
        props = self._clean_props(patch, mailbox)
        override.props.update(props)
        if {"start", "end", "isAllDay"} & set(patch):
            base = override.timing or self._instance_timing(item, override.original)
            override.timing = self._timing(patch, base)

    def _instance_timing(self, item: Item, original: datetime) -> Timing:
        occurrence = self._occurrence_at(item, original)
        if occurrence is None:
            raise item_not_found()
        t = item.timing
        return Timing(
            t.all_day,
            occurrence.start.astimezone(UTC),
            occurrence.end.astimezone(UTC),
            t.start_tz,
            t.end_tz,
            t.tz,
        )

    def _propagate_patch(
        self,
        mailbox: Mailbox,
        item: Item,
        patch: Json,
        old_attendees: set[str],
        rescheduled: bool,
    ) -> None:
        meeting = _meeting_part(patch)
        new_attendees = {a["emailAddress"]["address"].lower() for a in item.props["attendees"]}
        for box, other in self._attendee_copies(item):
            if box.key not in new_attendees and box.key in old_attendees:
                self._cancel_copy(other, None)
                continue
            other.props.update(self._clean_props(meeting, box))
            if "attendees" in patch:
                other.props["attendees"] = copy.deepcopy(item.props["attendees"])
            if rescheduled:
                other.timing = copy.copy(item.timing)
                other.recurrence = copy.deepcopy(item.recurrence)
                other.series, other.rec_tz = item.series, item.rec_tz
                other.exceptions.clear()
                other.deleted.clear()
                other.response = {"response": "notResponded", "time": NEVER}
                other.props["showAs"] = "tentative"
            self._touch(other)
        if rescheduled:
            for attendee in item.props["attendees"]:
                attendee["status"] = {"response": "none", "time": NEVER}
        added = new_attendees - old_attendees
        if added:
            self._propagate_new(mailbox, item)

    @_locked
    def delete_event(self, user: str, event_id: str, if_match: str | None = None) -> None:
        """DELETE an item or instance; an organizer's delete cancels the meeting for attendees."""
        mailbox = self.mailbox(user)
        entity = self._resolve(mailbox, event_id)
        self._check_etag(entity.item, if_match)
        self._delete_entity(entity, notify_attendees=entity.item.is_organizer)
        self._flush()

    def _delete_entity(self, entity: Entity, *, notify_attendees: bool) -> None:
        item = entity.item
        copies = self._attendee_copies(item) if notify_attendees else []
        if entity.original is None:
            self._remove(item)
        else:
            item.exceptions.pop(entity.original, None)
            item.deleted.add(entity.original)
            self._touch(item)
        for _box, other in copies:
            self._cancel_copy(other, entity.original)

    @_locked
    def cancel_event(self, user: str, event_id: str, comment: str | None = None) -> None:
        """POST .../cancel: organizer only (else 400); the item goes to Deleted Items."""
        mailbox = self.mailbox(user)
        entity = self._resolve(mailbox, event_id)
        if not entity.item.is_organizer:
            raise invalid_request(
                "Your request can't be completed. You need to be an organizer to cancel a meeting."
            )
        del comment  # the cancellation message is not modelled
        self._delete_entity(entity, notify_attendees=True)
        self._flush()

    @_locked
    def respond(
        self,
        user: str,
        event_id: str,
        response: str,
        *,
        comment: str | None = None,
        send_response: bool = True,
    ) -> None:
        """accept / tentativelyAccept / decline by an attendee (202 in Graph)."""
        mailbox = self.mailbox(user)
        entity = self._resolve(mailbox, event_id)
        item = entity.item
        if item.is_organizer:
            raise invalid_request(
                "Your request can't be completed. You can't respond to a meeting you organized."
            )
        del comment
        now = self.now()
        status = {"response": response, "time": format_utc(now)}
        show_as = {"accepted": "busy", "tentativelyAccepted": "tentative"}.get(response)
        if entity.original is None:
            item.response = dict(status)
            if show_as:
                item.props["showAs"] = show_as
            if response == "declined" and not self.keep_declined:
                self._remove(item)
            else:
                self._touch(item)
        else:
            if response == "declined" and not self.keep_declined:
                item.exceptions.pop(entity.original, None)
                item.deleted.add(entity.original)
            else:
                override = item.exceptions.setdefault(entity.original, Override(entity.original))
                override.response = dict(status)
                if show_as:
                    override.props["showAs"] = show_as
            self._touch(item)
        if send_response:
            organizer = self._organizer_copy(item)
            if organizer is not None:
                self._record_response(organizer, mailbox, entity.original, status)
        self._flush()

    def _record_response(
        self, organizer: Item, attendee: Mailbox, original: datetime | None, status: Json
    ) -> None:
        if original is not None:
            if organizer.series is None or original in organizer.deleted:
                return
            override = organizer.exceptions.setdefault(original, Override(original))
            attendees = override.props.get("attendees")
            if attendees is None:
                attendees = override.props["attendees"] = copy.deepcopy(
                    organizer.props["attendees"]
                )
        else:
            attendees = organizer.props["attendees"]
        for entry in attendees:
            if entry["emailAddress"]["address"].lower() == attendee.key:
                entry["status"] = dict(status)
        self._touch(organizer)

    @_locked
    def remove_cancelled(self, user: str) -> int:
        """What "Remove from calendar" does to cancelled copies; returns how many went."""
        mailbox = self.mailbox(user)
        count = 0
        for item in list(mailbox.items.values()):
            if item.is_cancelled:
                self._remove(item)
                count += 1
                continue
            cancelled = [o for o, ov in item.exceptions.items() if ov.is_cancelled]
            for original in cancelled:
                item.exceptions.pop(original)
                item.deleted.add(original)
                count += 1
            if cancelled:
                self._touch(item)
        self._flush()
        return count

    # ------------------------------------------------- extended props ----
    @staticmethod
    def _set_svep(item: Item, prop: object) -> None:
        if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
            raise bad_request("A singleValueExtendedProperty needs an id and a value.")
        if not re.match(r"^\S+ \S+ (Name \S.*|Id 0x[0-9A-Fa-f]+)$", prop["id"].strip()):
            raise bad_request(f"Invalid extended property id '{prop['id']}'.")
        item.svep[_svep_key(prop["id"])] = {"id": prop["id"].strip(), "value": prop.get("value")}

    # ------------------------------------------------------- rendering ----
    def _time_body(self, instant: datetime, all_day: bool, item_tz: ZoneInfo, view: View) -> Json:
        if all_day:
            day = instant.astimezone(item_tz).date()
            return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": view.tz_name}
        return {"dateTime": format_local(instant, view.tz), "timeZone": view.tz_name}

    def _instance_parts(
        self, item: Item, original: datetime, occurrence: Occurrence | None
    ) -> tuple[Json, Timing, Override | None]:
        override = item.exceptions.get(original)
        props = dict(item.props)
        if override is not None:
            props.update(override.props)
        if override is not None and override.timing is not None:
            timing = override.timing
        else:
            occ = occurrence or self._occurrence_at(item, original)
            if occ is None:
                raise item_not_found()
            timing = Timing(
                item.timing.all_day,
                occ.start.astimezone(UTC),
                occ.end.astimezone(UTC),
                item.timing.start_tz,
                item.timing.end_tz,
                item.timing.tz,
            )
        return props, timing, override

    def render(
        self, entity: Entity, view: View, *, single: bool = False, delta: bool = False
    ) -> Json:
        """The event JSON of an entity (``delta``: occurrences stripped as Graph does)."""
        item = entity.item
        mailbox = self._mailboxes[item.mailbox]
        if entity.original is not None:
            props, timing, override = self._instance_parts(item, entity.original, entity.occurrence)
            kind = "exception" if override is not None else "occurrence"
            is_cancelled = item.is_cancelled or bool(override and override.is_cancelled)
            response = override.response if override and override.response else item.response
            day = entity.original.astimezone(
                item.series.calendar_tz if item.series else item.timing.tz
            ).date()
            if item.rec_tz is not None and not item.timing.all_day:
                day = entity.original.astimezone(item.rec_tz).date()
            uid = ical_uid(item.goid, day)
            master_id = self._item_id(item)
        else:
            props, timing, override = item.props, item.timing, None
            kind = "seriesMaster" if item.series is not None else "singleInstance"
            is_cancelled, response = item.is_cancelled, item.response
            uid, master_id = item.meeting_key, None
        event_id = self._item_id(item, entity.original)
        start = self._time_body(timing.start, timing.all_day, timing.tz, view)
        end = self._time_body(timing.end, timing.all_day, timing.tz, view)
        if delta and kind == "occurrence":
            return {
                "@odata.type": _ODATA_EVENT,
                "@odata.etag": item.etag,
                "id": event_id,
                "seriesMasterId": master_id,
                "type": kind,
                "start": start,
                "end": end,
            }
        body = dict(props["body"])
        if view.body_type == "text" and body["contentType"] == "html":
            body = {"contentType": "text", "content": _text_body(body["content"])}
        elif view.body_type != "text" and body["contentType"] == "text":
            body = {"contentType": "html", "content": _html_body(body["content"])}
        out: Json = {}
        if delta:
            out["@odata.type"] = _ODATA_EVENT
        out.update(
            {
                "@odata.etag": item.etag,
                "id": event_id,
                "createdDateTime": format_timestamp(item.created),
                "lastModifiedDateTime": format_timestamp(item.modified),
                "changeKey": item.change_key,
                "categories": list(props.get("categories") or []),
            }
        )
        if item.transaction_id is not None and entity.original is None:
            out["transactionId"] = item.transaction_id
        if entity.original is not None:
            out["originalStart"] = format_utc(entity.original)
        out.update(
            {
                "originalStartTimeZone": timing.start_tz,
                "originalEndTimeZone": timing.end_tz,
                "iCalUId": uid,
                "reminderMinutesBeforeStart": props.get("reminderMinutesBeforeStart", 15),
                "isReminderOn": props.get("isReminderOn", True),
                "hasAttachments": False,
                "subject": props.get("subject") or "",
                "bodyPreview": _preview(props["body"]),
                "importance": props.get("importance", "normal"),
                "sensitivity": props.get("sensitivity", "normal"),
                "isAllDay": timing.all_day,
                "isCancelled": is_cancelled,
                "isOrganizer": item.is_organizer,
                "responseRequested": props.get("responseRequested", True),
                "seriesMasterId": master_id,
                "showAs": props.get("showAs", "busy"),
                "type": kind,
                "webLink": "https://outlook.office365.com/owa/?itemid="
                + urllib.parse.quote(event_id, safe="")
                + "&exvsurl=1&path=/calendar/item",
                "onlineMeetingUrl": None,
                "isOnlineMeeting": props.get("isOnlineMeeting", False),
                "onlineMeetingProvider": props.get("onlineMeetingProvider", "unknown"),
                "allowNewTimeProposals": props.get("allowNewTimeProposals", True),
                "isDraft": False,
                "hideAttendees": props.get("hideAttendees", False),
                "responseStatus": dict(response),
                "body": body,
                "start": start,
                "end": end,
                "location": copy.deepcopy(props.get("location") or _DEFAULTS["location"]),
                "locations": copy.deepcopy(props.get("locations") or []),
                "recurrence": (copy.deepcopy(item.recurrence) if kind == "seriesMaster" else None),
                "attendees": copy.deepcopy(props.get("attendees") or []),
                "organizer": copy.deepcopy(props["organizer"]),
                "onlineMeeting": None,
            }
        )
        if view.svep_ids is not None and entity.original is None:
            wanted = {_svep_key(i) for i in view.svep_ids}
            out["singleValueExtendedProperties"] = [
                dict(v) for k, v in item.svep.items() if k in wanted
            ]
        if view.select is not None:
            keep = {"@odata.type", "@odata.etag", "id"} | set(view.select)
            out = {k: v for k, v in out.items() if k in keep}
            if single and "cancelledOccurrences" in view.select and kind == "seriesMaster":
                out["cancelledOccurrences"] = self._cancelled_occurrences(item)
        del mailbox
        return out

    def _cancelled_occurrences(self, item: Item) -> list[str]:
        """beta's ``occurrenceId`` format: ``OID.{seriesMasterId}.{YYYY-MM-DD}``."""
        master_id = self._item_id(item)
        tz = item.rec_tz or item.timing.tz
        days = sorted(o.astimezone(tz).date() for o in item.deleted)
        return [f"OID.{master_id}.{d.isoformat()}" for d in days]

    # ---------------------------------------------------- calendar view ----
    def _window_entities(
        self, mailbox: Mailbox, low: datetime, high: datetime, *, masters: bool
    ) -> list[tuple[datetime, Entity]]:
        """What a calendar view lists, by start: singles, instances (and masters for delta)."""
        found: list[tuple[datetime, int, Entity]] = []
        for item in mailbox.items.values():
            if item.series is None:
                if item.timing.overlaps(low, high):
                    found.append((item.timing.start, 1, Entity(item)))
                continue
            instances: list[tuple[datetime, int, Entity]] = []
            for occurrence in item.series.between(low, high):
                original = occurrence.original.astimezone(UTC)
                if original in item.deleted:
                    continue
                override = item.exceptions.get(original)
                if override is not None and override.timing is not None:
                    continue
                start = occurrence.start.astimezone(UTC)
                instances.append((start, 1, Entity(item, original, occurrence)))
            for original, override in item.exceptions.items():
                if override.timing is None or original in item.deleted:
                    continue
                if override.timing.overlaps(low, high):
                    occurrence = self._occurrence_at(item, original)
                    if occurrence is not None:
                        entity = Entity(item, original, occurrence)
                        instances.append((override.timing.start, 1, entity))
            if instances and masters:
                first = min(s for s, _, _ in instances)
                found.append((first, 0, Entity(item)))
            found.extend(instances)
        found.sort(key=lambda t: (t[0], t[1], t[2].item.serial, t[2].original or low))
        return [(start, entity) for start, _, entity in found]

    @_locked
    def calendar_view(
        self, user: str, params: Mapping[str, list[str]], view: View, link: str
    ) -> Json:
        """GET /users/{id}/calendarView: instances and singles in the window, paged."""
        mailbox = self.mailbox(user)
        low, high = self._window(params)
        entities = [e for _, e in self._window_entities(mailbox, low, high, masters=False)]
        return self._page([self.render(e, view) for e in entities], params, link)

    @_locked
    def instances(
        self, user: str, event_id: str, params: Mapping[str, list[str]], view: View, link: str
    ) -> Json:
        """GET .../events/{masterId}/instances: occurrences and exceptions in the window."""
        mailbox = self.mailbox(user)
        low, high = self._window(params)
        entity = self._resolve(mailbox, event_id)
        if entity.is_instance or entity.item.series is None:
            return self._page([], params, link)
        entities = [
            e
            for _, e in self._window_entities(mailbox, low, high, masters=False)
            if e.item is entity.item
        ]
        return self._page([self.render(e, view) for e in entities], params, link)

    def _window(self, params: Mapping[str, list[str]]) -> tuple[datetime, datetime]:
        start = _param(params, "startDateTime")
        end = _param(params, "endDateTime")
        if not start or not end:
            raise window_required()
        values = []
        for name, text in (("startDateTime", start), ("endDateTime", end)):
            try:
                # Graph: an offset in the value counts, Prefer: outlook.timezone does not;
                # no offset means UTC.
                values.append(parse_instant(text))
            except TimeFormatError:
                raise GraphError(
                    400,
                    "ErrorInvalidParameter",
                    f"The value '{text}' of parameter '{name}' is invalid.",
                ) from None
        return values[0], values[1]

    def _page(self, values: list[Json], params: Mapping[str, list[str]], link: str) -> Json:
        top = _int_param(params, "$top", DEFAULT_PAGE_SIZE, 1, MAX_TOP)
        skip = _int_param(params, "$skip", 0, 0, 10**9)
        page = values[skip : skip + top]
        out: Json = {"@odata.context": f"{self.base_url}/v1.0/$metadata#Collection(event)"}
        out["value"] = page
        if skip + top < len(values):
            query = {k: v[-1] for k, v in params.items() if k not in ("$skip", "$top")}
            query.update({"$top": str(top), "$skip": str(skip + top)})
            encoded = urllib.parse.urlencode(query, safe="$:',()/@", quote_via=urllib.parse.quote)
            out["@odata.nextLink"] = f"{link}?{encoded}"
        return out

    # ----------------------------------------------------------- events ----
    @_locked
    def list_events(
        self, user: str, params: Mapping[str, list[str]], view: View, link: str
    ) -> Json:
        """GET /users/{id}/events: singles and masters, with $filter/$orderby/$top/$skip."""
        mailbox = self.mailbox(user)
        items = list(mailbox.items.values())
        text = _param(params, "$filter")
        if text:
            matcher = self._filter(text)
            items = [i for i in items if matcher(i, self.render(Entity(i), View()))]
        order = (_param(params, "$orderby") or "").strip()
        keys: dict[str, Callable[[Item], Any]] = {
            "start/datetime": lambda i: i.timing.start,
            "end/datetime": lambda i: i.timing.end,
            "createddatetime": lambda i: i.created,
            "lastmodifieddatetime": lambda i: i.modified,
            "subject": lambda i: str(i.props.get("subject") or "").lower(),
        }
        if order:
            name, _, direction = order.partition(" ")
            key = keys.get(name.lower())
            if key is None or direction.strip().lower() not in ("", "asc", "desc"):
                raise GraphError(
                    400, "ErrorInvalidUrlQuery", f"The $orderby '{order}' is not supported."
                )
            items.sort(key=key, reverse=direction.strip().lower() == "desc")
        else:
            items.sort(key=lambda i: i.serial)
        return self._page([self.render(Entity(i), view) for i in items], params, link)

    def _filter(self, text: str) -> Callable[[Item, Json], bool]:
        """Compile the $filter forms the emulator understands; others are 400 like Graph's."""
        checks: list[Callable[[Item, Json], bool]] = []
        for clause in _split_top(text.strip(), "and"):
            clause = clause.strip()
            while clause.startswith("(") and clause.endswith(")"):
                clause = clause[1:-1].strip()
            if match := _SVEP_ANY.match(clause):
                checks.append(self._svep_filter(match[1], match[2]))
                continue
            match = _COMPARISON.match(clause)
            if not match:
                raise invalid_filter()
            name, op, literal = match[1].lower(), match[2].lower(), _literal(match[3])
            if name in _FILTER_PROPS:
                prop = _FILTER_PROPS[name]
                checks.append(lambda i, e, p=prop, o=op, v=literal: _compare(e.get(p), o, v))
            elif name in _TIME_PROPS:
                part = _TIME_PROPS[name]

                checks.append(
                    lambda i, e, p=part, o=op, v=literal: _compare(
                        i.timing.start if p == "start" else i.timing.end,
                        o,
                        parse_instant(str(v)),
                    )
                )
            elif name in _STAMP_PROPS:
                part = _STAMP_PROPS[name]
                checks.append(
                    lambda i, e, p=part, o=op, v=literal: _compare(
                        i.created if p == "createdDateTime" else i.modified,
                        o,
                        parse_instant(str(v)),
                    )
                )
            else:
                raise invalid_filter()
        return lambda item, rendered: all(check(item, rendered) for check in checks)

    @staticmethod
    def _svep_filter(var: str, text: str) -> Callable[[Item, Json], bool]:
        prop_id: str | None = None
        tests: list[Callable[[Any], bool]] = []
        for clause in _split_top(text.strip(), "and"):
            clause = clause.strip()
            if match := _FUNCTION.match(clause):
                if match[2] != var:
                    raise invalid_filter()
                needle = str(_literal(match[3])).lower()
                if match[1].lower() == "contains":
                    tests.append(lambda v, n=needle: n in str(v or "").lower())
                else:
                    tests.append(lambda v, n=needle: str(v or "").lower().startswith(n))
                continue
            match = _COMPARISON.match(clause)
            if not match or "/" not in match[1] or match[1].split("/")[0] != var:
                raise invalid_filter()
            field_name, op, literal = match[1].split("/")[1].lower(), match[2], _literal(match[3])
            if field_name == "id" and op.lower() == "eq" and isinstance(literal, str):
                prop_id = literal
            elif field_name == "value":
                lowered = op.lower()
                tests.append(lambda v, o=lowered, lit=literal: _compare(v, o, lit))
            else:
                raise invalid_filter()
        if prop_id is None:
            raise invalid_filter()
        key = _svep_key(prop_id)

        def check(item: Item, rendered: Json) -> bool:
            entry = item.svep.get(key)
            return entry is not None and all(t(entry.get("value")) for t in tests)

        return check

    # ------------------------------------------------------------ delta ----
    def _snapshot(
        self, mailbox: Mailbox, low: datetime, high: datetime
    ) -> OrderedDict[str, tuple[Entity, str]]:
        """The current view of a window: id -> (entity, fingerprint of its content)."""
        out: OrderedDict[str, tuple[Entity, str]] = OrderedDict()
        for _, entity in self._window_entities(mailbox, low, high, masters=True):
            rendered = self.render(entity, View())
            for volatile in ("@odata.etag", "lastModifiedDateTime"):
                rendered.pop(volatile, None)
            if entity.is_instance:
                rendered.pop("changeKey", None)
            digest = hashlib.sha1(json.dumps(rendered, sort_keys=True).encode()).hexdigest()
            out[self._item_id(entity.item, entity.original)] = (entity, digest)
        return out

    def _new_token(self, state: DeltaState) -> str:
        token = _b64(self._random(24))
        self._tokens[token] = state
        if self.delta_token_cache is not None:
            mine = [t for t, s in self._tokens.items() if s.mailbox == state.mailbox]
            for old in mine[: max(0, len(mine) - self.delta_token_cache)]:
                self._tokens.pop(old, None)
        return token

    def delta_location(self, prefix: str, low: datetime, high: datetime) -> str:
        query = urllib.parse.urlencode(
            {"startDateTime": format_utc(low), "endDateTime": format_utc(high)}
        )
        return f"{self.base_url}/v1.0/{prefix}/calendarView/delta?{query}"

    def _expired(self, mode: str, prefix: str, low: datetime, high: datetime) -> GraphError:
        if mode == "410":
            return resync_required(self.delta_location(prefix, low, high))
        return sync_state_not_found()

    @_locked
    def delta(
        self,
        user: str,
        prefix: str,
        params: Mapping[str, list[str]],
        view: View,
        page_size: int | None,
    ) -> Json:
        """GET .../calendarView/delta: one page of a round (see the module docs)."""
        mailbox = self.mailbox(user)
        for name in params:
            if name.lower() in ("$select", "$filter", "$orderby", "$expand", "$search"):
                raise delta_query_not_supported()
        size = page_size or DEFAULT_DELTA_PAGE_SIZE
        skip_token = _param(params, "$skiptoken") or _param(params, "$skipToken")
        delta_token = _param(params, "$deltatoken") or _param(params, "$deltaToken")
        if skip_token:
            round_id, offset, flag = self._parse_skip(skip_token)
            current = self._rounds.get(round_id)
            if current is None or current.mailbox != mailbox.key:
                raise sync_state_not_found()
            if current.expired:
                raise self._expired(current.expired, current.prefix, current.low, current.high)
            return self._delta_page(current, round_id, offset, flag, size, view)
        if delta_token:
            state = self._tokens.get(delta_token)
            if state is None or state.mailbox != mailbox.key:
                raise sync_state_not_found()
            if state.expired:
                raise self._expired(state.expired, state.prefix, state.low, state.high)
            low, high, previous = state.low, state.high, state
        else:
            low, high = self._window(params)
            if high <= low:
                raise bad_request("The endDateTime must be after the startDateTime.")
            previous = None
        snapshot = self._snapshot(mailbox, low, high)
        entries: list[tuple[str, str]] = []
        if previous is None:
            entries = [("item", event_id) for event_id in snapshot]
        else:
            removed = [i for i in previous.seen if i not in snapshot]
            entries += [("removed", i) for i in removed]
            outside = self._changed_outside(mailbox, previous, snapshot)
            entries += [("removed", i) for i in outside if i not in removed]
            entries += [
                ("item", i) for i, (_, fp) in snapshot.items() if previous.seen.get(i) != fp
            ]
        seen = {i: fp for i, (_, fp) in snapshot.items()}
        token = self._new_token(DeltaState(mailbox.key, prefix, low, high, self._seq, seen))
        round_id = _b64(self._random(12))
        self._rounds[round_id] = DeltaRound(mailbox.key, prefix, low, high, entries, token)
        while len(self._rounds) > MAX_ROUNDS:
            self._rounds.popitem(last=False)
        return self._delta_page(self._rounds[round_id], round_id, 0, 0, size, view)

    def _changed_outside(
        self, mailbox: Mailbox, previous: DeltaState, snapshot: Mapping[str, Any]
    ) -> list[str]:
        """Items added, changed or deleted outside the window since the token: ``@removed``."""
        out: list[str] = []
        for item in mailbox.items.values():
            item_id = self._item_id(item)
            fresh = item.changed_seq > previous.seq
            if fresh and item_id not in snapshot and item_id not in previous.seen:
                out.append(item_id)
        for seq, item_id in mailbox.tombstones:
            if seq > previous.seq and item_id not in previous.seen and item_id not in snapshot:
                out.append(item_id)
        return out

    def _parse_skip(self, token: str) -> tuple[str, int, int]:
        try:
            round_id, offset, flag = _unb64(token).decode("ascii").split(":")
            return round_id, int(offset), int(flag)
        except (ValueError, UnicodeDecodeError):
            raise sync_state_not_found() from None

    def _delta_page(
        self, current: DeltaRound, round_id: str, offset: int, flag: int, size: int, view: View
    ) -> Json:
        entries = current.entries
        start = offset
        if self.delta_replays and offset > 0:
            start = offset - 1
        chunk = entries[start : offset + size]
        mailbox = self._mailboxes[current.mailbox]
        value = [self._delta_value(mailbox, kind, event_id, view) for kind, event_id in chunk]
        link = f"{self.base_url}/v1.0/{current.prefix}/calendarView/delta"
        out: Json = {"@odata.context": f"{self.base_url}/v1.0/$metadata#Collection(event)"}
        final = offset + size >= len(entries)
        if final and self.delta_empty_pages and not flag:
            skip = _b64(f"{round_id}:{len(entries)}:1".encode())
            out["@odata.nextLink"] = f"{link}?$skiptoken={skip}"
        elif final:
            out["@odata.deltaLink"] = f"{link}?$deltatoken={current.delta_token}"
        else:
            skip = _b64(f"{round_id}:{offset + size}:0".encode())
            out["@odata.nextLink"] = f"{link}?$skiptoken={skip}"
        out["value"] = value
        return out

    def _delta_value(self, mailbox: Mailbox, kind: str, event_id: str, view: View) -> Json:
        removed = {"@odata.type": _ODATA_EVENT, "id": event_id, "@removed": {"reason": "deleted"}}
        if kind == "removed":
            return removed
        try:
            entity = self._resolve(mailbox, event_id)
        except GraphError:
            return removed
        return self.render(entity, view, delta=True)

    @_locked
    def expire_delta_tokens(self, mode: str = "syncStateNotFound") -> None:
        """Every outstanding delta and skip token fails on its next use (``410`` or 400)."""
        if mode not in ("410", "syncStateNotFound"):
            raise ValueError(f"mode must be '410' or 'syncStateNotFound', not {mode!r}")
        for state in self._tokens.values():
            state.expired = mode
        for current in self._rounds.values():
            current.expired = mode

    # ------------------------------------------------------ getSchedule ----
    @_locked
    def get_schedule(self, user: str, body: Json, view: View) -> Json:
        """POST /users/{id}/calendar/getSchedule."""
        self.mailbox(user)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        lowered = {k.lower(): v for k, v in body.items()}
        schedules = lowered.get("schedules")
        if not isinstance(schedules, list) or not schedules:
            raise GraphError(400, "ErrorInvalidParameter", "The schedules parameter is required.")
        if len(schedules) > GET_SCHEDULE_MAX_SCHEDULES:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                f"Too many schedules requested: {len(schedules)}; the limit is "
                f"{GET_SCHEDULE_MAX_SCHEDULES}.",
            )
        try:
            low = parse_graph_time(lowered.get("starttime"), "start").instant
            high = parse_graph_time(lowered.get("endtime"), "end").instant
        except TimeFormatError as exc:
            raise GraphError(400, "ErrorInvalidParameter", str(exc)) from None
        if high <= low:
            raise GraphError(
                400, "ErrorInvalidTimeInterval", "The end time must be after the start time."
            )
        if high - low >= GET_SCHEDULE_MAX_RANGE:
            days = math.ceil((high - low) / timedelta(days=1))
            raise GraphError(
                400,
                "ErrorTimeIntervalTooBig",
                "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too "
                f"long. The allowed limit = 62 days; the actual limit = {days} days.",
            )
        interval = lowered.get("availabilityviewinterval", 30)
        try:
            minutes = int(interval)
        except (TypeError, ValueError):
            raise GraphError(400, "ErrorInvalidParameter", "Invalid interval.") from None
        if not 5 <= minutes <= 1440:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "The availabilityViewInterval must be between 5 and 1440 minutes.",
            )
        value = [self._schedule(str(s), low, high, minutes, view) for s in schedules]
        return {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#Collection("
            "microsoft.graph.scheduleInformation)",
            "value": value,
        }

    def _schedule(
        self, address: str, low: datetime, high: datetime, minutes: int, view: View
    ) -> Json:
        mailbox = self.find_mailbox(address)
        if mailbox is None:
            return {
                "scheduleId": address,
                "error": {
                    "message": f"Unable to resolve e-mail address {address} to an Active "
                    "Directory object.",
                    "responseCode": "5009",
                },
            }
        busy: list[tuple[Timing, str, Json]] = []
        for _, entity in self._window_entities(mailbox, low, high, masters=False):
            rendered = self.render(entity, View())
            status = rendered["showAs"]
            if rendered["isCancelled"] or status in ("free", "unknown"):
                continue
            _, timing, _ = (
                self._instance_parts(entity.item, entity.original, entity.occurrence)
                if entity.original is not None
                else (entity.item.props, entity.item.timing, None)
            )
            busy.append((timing, status, rendered))
        slots = math.ceil((high - low) / timedelta(minutes=minutes))
        view_digits = []
        for n in range(slots):
            slot_low = low + timedelta(minutes=minutes * n)
            slot_high = min(high, slot_low + timedelta(minutes=minutes))
            level = max(
                (_AVAILABILITY.get(s, 0) for t, s, _ in busy if t.overlaps(slot_low, slot_high)),
                default=0,
            )
            view_digits.append(str(level))
        items = []
        for timing, status, rendered in busy:
            private = rendered["sensitivity"] in ("private", "confidential")
            entry: Json = {"isPrivate": private, "status": status}
            if not private:
                entry["subject"] = rendered["subject"]
                entry["location"] = rendered["location"].get("displayName", "")
            entry["start"] = self._time_body(timing.start, timing.all_day, timing.tz, view)
            entry["end"] = self._time_body(timing.end, timing.all_day, timing.tz, view)
            items.append(entry)
        return {
            "scheduleId": address,
            "availabilityView": "".join(view_digits),
            "scheduleItems": items,
            "workingHours": {
                "daysOfWeek": list(mailbox.working_days),
                "startTime": mailbox.working_start.strftime("%H:%M:%S") + ".0000000",
                "endTime": mailbox.working_end.strftime("%H:%M:%S") + ".0000000",
                "timeZone": {"name": windows_name(mailbox.time_zone)},
            },
        }


#: Keys a seed body may carry on top of an API create.
_SEED_KEYS = frozenset({"exceptions", "cancelledOccurrences"})


def _meeting_part(patch: Json) -> Json:
    return {k: v for k, v in patch.items() if k in (*_MEETING_FIELDS, "start", "end", "isAllDay")}


def _param(params: Mapping[str, list[str]], name: str) -> str | None:
    for key, values in params.items():
        if key.lower() == name.lower() and values:
            return values[-1]
    return None


def _int_param(
    params: Mapping[str, list[str]], name: str, default: int, low: int, high: int
) -> int:
    value = _param(params, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"Invalid value '{value}' for {name}.") from None
    if number < low:
        raise bad_request(f"Invalid value '{value}' for {name}.")
    return min(number, high)
