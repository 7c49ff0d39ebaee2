"""Times, zones, recurrence patterns and identifiers as Microsoft Graph v1.0 shows them.

Pure: no clock, no I/O. Used by the ``graph_*`` modules of the Graph emulator.

- Zones: ``start.timeZone`` and ``Prefer: outlook.timezone`` take Windows names
  ("Eastern Standard Time") or IANA names, resolved by :mod:`calsync_emulators.zones`;
  output keeps the name the client used.
- Date-times: Graph writes ``dateTimeTimeZone.dateTime`` without an offset and
  with 7 fractional digits (``2026-03-02T10:00:00.0000000``); timestamps such as
  ``createdDateTime`` are UTC with 7 digits and ``Z``; ``originalStart`` is UTC
  with ``Z`` and no fraction.
- Recurrence: a Graph ``patternedRecurrence`` is expanded by converting it to an
  RRULE line for :class:`calsync_emulators.google_recurrence.Series` (wall-time
  expansion across DST); RRULEs read from ``.ics`` seeds go the other way.
- ``iCalUId``: Exchange's hex ``GlobalObjectId`` (MS-OXOCAL 2.2.1.27): the same
  for every copy of a meeting, with the instance date filled in for each
  occurrence, so each occurrence has its own ``iCalUId`` as the docs say.
- Event ids: opaque URL-safe base64 starting ``AAMkA`` like Exchange's; they
  encode the mailbox, the item and (for instances) the original start, so the
  same meeting has a different id in every mailbox.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calsync_emulators.zones import TimeFormatError, resolve_zone

Json = dict[str, Any]

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
PATTERN_TYPES = (
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
)
RANGE_TYPES = ("endDate", "noEnd", "numbered")
#: The date Graph writes when a time is unset (``responseStatus.time`` before any answer).
NEVER = "0001-01-01T00:00:00Z"


# ------------------------------------------------------------- date-times ----
_FRACTION = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


def parse_datetime(text: object) -> datetime:
    """An ISO 8601 date-time as Graph accepts it: up to 7 fractional digits, offset optional.

    Returns a naive datetime when the text has no offset, an aware one otherwise.
    """
    if not isinstance(text, str):
        raise TimeFormatError(f"Invalid date-time: {text!r}")
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raw += "T00:00:00"
    match = _FRACTION.match(raw)
    if not match:
        raise TimeFormatError(f"Invalid date-time: {text!r}")
    head, fraction, offset = match[1], match[2] or "", match[3] or ""
    fraction = fraction[:7]
    micro = (fraction[1:] + "000000")[:6] if fraction else ""
    candidate = head + (f".{micro}" if micro else "")
    if offset:
        candidate += "+00:00" if offset.upper() == "Z" else offset
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        raise TimeFormatError(f"Invalid date-time: {text!r}") from None


def parse_instant(text: object, default_tz: ZoneInfo | None = None) -> datetime:
    """A query-string date-time as an aware UTC instant (no offset: ``default_tz`` or UTC)."""
    value = parse_datetime(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz or UTC)
    return value.astimezone(UTC)


def format_local(value: datetime, tz: ZoneInfo) -> str:
    """``dateTimeTimeZone.dateTime``: wall time in ``tz``, 7 fractional digits, no offset."""
    local = value.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def format_timestamp(value: datetime) -> str:
    """``createdDateTime``/``lastModifiedDateTime``: UTC, 7 fractional digits, ``Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def format_utc(value: datetime) -> str:
    """``originalStart`` and ``responseStatus.time``: UTC, whole seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_error_date(value: datetime) -> str:
    """``innerError.date``: UTC, whole seconds, no zone designator."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True, slots=True)
class GraphTime:
    """A parsed ``dateTimeTimeZone``: the instant, the zone name as given, and its ZoneInfo."""

    instant: datetime
    tz_name: str
    tz: ZoneInfo

    @property
    def local(self) -> datetime:
        return self.instant.astimezone(self.tz)


def parse_graph_time(body: object, what: str) -> GraphTime:
    """Parse a ``dateTimeTimeZone`` body (``what`` is "start" or "end" for messages)."""
    if not isinstance(body, dict) or not body.get("dateTime"):
        raise TimeFormatError(f"The {what} time of the event is missing or invalid.")
    tz_name = body.get("timeZone") or "UTC"
    tz = resolve_zone(str(tz_name))
    value = parse_datetime(body["dateTime"])
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return GraphTime(value.astimezone(UTC), str(tz_name), tz)


# ------------------------------------------------------------- recurrence ----
class RecurrenceError(ValueError):
    """A recurrence Graph would reject, or an RRULE Graph cannot represent."""


def _days_field(pattern: Json) -> list[str]:
    days = pattern.get("daysOfWeek") or []
    if not isinstance(days, list) or not days:
        raise RecurrenceError(f"A {pattern.get('type')} pattern needs daysOfWeek.")
    out = []
    for day in days:
        if str(day).lower() not in DAYS:
            raise RecurrenceError(f"Invalid day of week: {day!r}.")
        out.append(_RRULE_DAYS[DAYS.index(str(day).lower())])
    return out


def _positive(value: object, name: str, low: int = 1, high: int = 999) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise RecurrenceError(f"Invalid {name}: {value!r}.") from None
    if not low <= number <= high:
        raise RecurrenceError(f"Invalid {name}: {value!r}.")
    return number


def normalize_recurrence(recurrence: object) -> Json:
    """Validate a ``patternedRecurrence`` and fill in Graph's defaults; RecurrenceError if bad."""
    if not isinstance(recurrence, dict):
        raise RecurrenceError("The recurrence must be an object.")
    pattern = recurrence.get("pattern")
    rng = recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise RecurrenceError("A recurrence needs a pattern and a range.")
    kind = pattern.get("type")
    if kind not in PATTERN_TYPES:
        raise RecurrenceError(f"Invalid recurrence pattern type: {kind!r}.")
    out_pattern: Json = {
        "type": kind,
        "interval": _positive(pattern.get("interval", 1), "interval"),
        "month": 0,
        "dayOfMonth": 0,
        "firstDayOfWeek": str(pattern.get("firstDayOfWeek") or "sunday").lower(),
        "index": str(pattern.get("index") or "first"),
    }
    if out_pattern["firstDayOfWeek"] not in DAYS:
        raise RecurrenceError(f"Invalid firstDayOfWeek: {pattern.get('firstDayOfWeek')!r}.")
    if out_pattern["index"] not in INDEXES:
        raise RecurrenceError(f"Invalid index: {pattern.get('index')!r}.")
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        _days_field(pattern)
        out_pattern["daysOfWeek"] = [str(d).lower() for d in pattern["daysOfWeek"]]
    if kind in ("absoluteMonthly", "absoluteYearly"):
        out_pattern["dayOfMonth"] = _positive(pattern.get("dayOfMonth"), "dayOfMonth", 1, 31)
    if kind in ("absoluteYearly", "relativeYearly"):
        out_pattern["month"] = _positive(pattern.get("month"), "month", 1, 12)
    range_type = rng.get("type")
    if range_type not in RANGE_TYPES:
        raise RecurrenceError(f"Invalid recurrence range type: {range_type!r}.")
    try:
        start_date = date.fromisoformat(str(rng.get("startDate")))
    except ValueError:
        raise RecurrenceError("The recurrence range needs a valid startDate.") from None
    out_range: Json = {
        "type": range_type,
        "startDate": start_date.isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": str(rng.get("recurrenceTimeZone") or ""),
        "numberOfOccurrences": 0,
    }
    if range_type == "endDate":
        try:
            end_date = date.fromisoformat(str(rng.get("endDate")))
        except ValueError:
            raise RecurrenceError("An endDate range needs a valid endDate.") from None
        if end_date < start_date:
            raise RecurrenceError("The recurrence endDate is before its startDate.")
        out_range["endDate"] = end_date.isoformat()
    if range_type == "numbered":
        out_range["numberOfOccurrences"] = _positive(
            rng.get("numberOfOccurrences"), "numberOfOccurrences", 1, 999
        )
    if out_range["recurrenceTimeZone"]:
        try:
            resolve_zone(out_range["recurrenceTimeZone"])
        except TimeFormatError:
            raise RecurrenceError(
                f"Invalid recurrenceTimeZone: {out_range['recurrenceTimeZone']!r}."
            ) from None
    return {"pattern": out_pattern, "range": out_range}


def _month_day(day: int) -> list[str]:
    """BYMONTHDAY for Outlook's "day N": months shorter than N use their last day."""
    if day <= 28:
        return [f"BYMONTHDAY={day}"]
    return ["BYMONTHDAY=" + ",".join(str(d) for d in range(28, day + 1)), "BYSETPOS=-1"]


def recurrence_to_rrule(recurrence: Json) -> str:
    """The RRULE line of a normalized ``patternedRecurrence``."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    parts: list[str] = []
    if kind == "daily":
        parts.append("FREQ=DAILY")
    elif kind == "weekly":
        parts.append("FREQ=WEEKLY")
        parts.append("BYDAY=" + ",".join(_days_field(pattern)))
        wkst = _RRULE_DAYS[DAYS.index(pattern["firstDayOfWeek"])]
        parts.append(f"WKST={wkst}")
    elif kind == "absoluteMonthly":
        parts += ["FREQ=MONTHLY", *_month_day(pattern["dayOfMonth"])]
    elif kind == "relativeMonthly":
        parts += ["FREQ=MONTHLY", "BYDAY=" + ",".join(_days_field(pattern))]
        parts.append(f"BYSETPOS={INDEXES[pattern['index']]}")
    elif kind == "absoluteYearly":
        parts += ["FREQ=YEARLY", f"BYMONTH={pattern['month']}", *_month_day(pattern["dayOfMonth"])]
    else:
        parts += ["FREQ=YEARLY", f"BYMONTH={pattern['month']}"]
        parts.append("BYDAY=" + ",".join(_days_field(pattern)))
        parts.append(f"BYSETPOS={INDEXES[pattern['index']]}")
    parts.insert(1, f"INTERVAL={pattern['interval']}")
    if rng["type"] == "numbered":
        parts.append(f"COUNT={rng['numberOfOccurrences']}")
    elif rng["type"] == "endDate":
        parts.append("UNTIL=" + date.fromisoformat(rng["endDate"]).strftime("%Y%m%d"))
    return "RRULE:" + ";".join(parts)


def _one(values: object) -> list[Any]:
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple) else [values]


def rrule_to_recurrence(rule: Any, dtstart: datetime | date, tz_name: str) -> Json:
    """A Graph ``patternedRecurrence`` for an icalendar ``vRecur`` starting at ``dtstart``.

    Raises RecurrenceError for rules Graph cannot represent (BYHOUR, BYWEEKNO,
    several month days, SECONDLY...): the seed loader names the event.
    """
    data = {str(k).upper(): _one(v) for k, v in dict(rule).items()}
    supported = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH"}
    supported |= {"BYSETPOS", "WKST"}
    unsupported = sorted(set(data) - supported)
    if unsupported:
        raise RecurrenceError(f"Graph cannot represent RRULE part {unsupported[0]}")
    freq = str(data["FREQ"][0]).upper() if data.get("FREQ") else ""
    interval = int(data["INTERVAL"][0]) if data.get("INTERVAL") else 1
    start_day = dtstart.date() if isinstance(dtstart, datetime) else dtstart
    weekday = DAYS[start_day.weekday()]
    days: list[tuple[int | None, str]] = []
    for raw in data.get("BYDAY", []):
        text = str(raw).upper()
        match = re.fullmatch(r"([+-]?\d+)?(MO|TU|WE|TH|FR|SA|SU)", text)
        if not match:
            raise RecurrenceError(f"Graph cannot represent BYDAY={text}")
        days.append((int(match[1]) if match[1] else None, DAYS[_RRULE_DAYS.index(match[2])]))
    setpos = [int(p) for p in data.get("BYSETPOS", [])]
    monthdays = [int(d) for d in data.get("BYMONTHDAY", [])]
    months = [int(m) for m in data.get("BYMONTH", [])]
    wkst = str(data["WKST"][0]).upper() if data.get("WKST") else "SU"
    pattern: Json = {"interval": interval, "firstDayOfWeek": DAYS[_RRULE_DAYS.index(wkst)]}

    def index_of(position: int) -> str:
        for name, number in INDEXES.items():
            if number == position:
                return name
        raise RecurrenceError(f"Graph cannot represent the position {position}")

    def relative() -> None:
        positions = {n for n, _ in days if n is not None} | set(setpos)
        if len(positions) != 1:
            raise RecurrenceError("Graph needs exactly one week index for a relative rule")
        pattern["index"] = index_of(positions.pop())
        pattern["daysOfWeek"] = [d for _, d in days]

    if len(monthdays) > 1 or any(d < 1 for d in monthdays) or len(months) > 1:
        raise RecurrenceError("Graph cannot represent several or negative month days")
    if freq == "DAILY" and not days:
        pattern["type"] = "daily"
    elif freq == "DAILY" or freq == "WEEKLY":
        if freq == "DAILY" and interval != 1:
            raise RecurrenceError("Graph cannot represent a DAILY rule with BYDAY and INTERVAL")
        if any(n is not None for n, _ in days) or setpos or monthdays:
            raise RecurrenceError("Graph cannot represent this weekly rule")
        pattern["type"] = "weekly"
        pattern["daysOfWeek"] = [d for _, d in days] or [weekday]
    elif freq == "MONTHLY":
        if days:
            pattern["type"] = "relativeMonthly"
            relative()
        else:
            pattern["type"] = "absoluteMonthly"
            pattern["dayOfMonth"] = monthdays[0] if monthdays else start_day.day
    elif freq == "YEARLY":
        pattern["month"] = months[0] if months else start_day.month
        if days:
            pattern["type"] = "relativeYearly"
            relative()
        else:
            pattern["type"] = "absoluteYearly"
            pattern["dayOfMonth"] = monthdays[0] if monthdays else start_day.day
    else:
        raise RecurrenceError(f"Graph cannot represent FREQ={freq or '?'}")
    rng: Json = {"type": "noEnd", "startDate": start_day.isoformat(), "recurrenceTimeZone": tz_name}
    if data.get("COUNT"):
        rng = {**rng, "type": "numbered", "numberOfOccurrences": int(data["COUNT"][0])}
    elif data.get("UNTIL"):
        until = data["UNTIL"][0]
        if isinstance(until, datetime):
            if until.tzinfo is not None:
                until = until.astimezone(resolve_zone(tz_name))
            until = until.date()
        rng = {**rng, "type": "endDate", "endDate": until.isoformat()}
    return normalize_recurrence({"pattern": pattern, "range": rng})


# --------------------------------------------------------------- iCalUId ----
#: The fixed 16 bytes that open every Exchange GlobalObjectId.
GOID_HEADER = bytes.fromhex("040000008200E00074C5B7101A82E008")


def new_goid(created: datetime, unique: bytes) -> bytes:
    """A GlobalObjectId for a meeting created in Exchange (no instance date)."""
    filetime = int((created.astimezone(UTC) - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds())
    filetime *= 10_000_000
    data = unique[:16].ljust(16, b"\0")
    return (
        GOID_HEADER
        + b"\0\0\0\0"
        + filetime.to_bytes(8, "little")
        + b"\0" * 8
        + len(data).to_bytes(4, "little")
        + data
    )


def goid_for_uid(uid: str) -> bytes:
    """The GlobalObjectId of a meeting with this iCalendar UID.

    An Outlook UID is already a hex GlobalObjectId and is kept; any other UID is
    wrapped the way Exchange stores external meetings ("vCal-Uid" data).
    """
    text = uid.strip()
    if re.fullmatch(r"[0-9A-Fa-f]+", text) and text.upper().startswith(GOID_HEADER.hex().upper()):
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) >= 40:
            return raw[:16] + b"\0\0\0\0" + raw[20:]
    data = b"vCal-Uid" + (1).to_bytes(4, "little") + text.encode("utf-8") + b"\0"
    return GOID_HEADER + b"\0\0\0\0" + b"\0" * 16 + len(data).to_bytes(4, "little") + data


def ical_uid(goid: bytes, instance_day: date | None = None) -> str:
    """The hex ``iCalUId``; for an occurrence the instance date fills bytes 16-19."""
    if instance_day is not None:
        stamp = instance_day.year.to_bytes(2, "big") + bytes([instance_day.month, instance_day.day])
        goid = goid[:16] + stamp + goid[20:]
    return goid.hex().upper()


# -------------------------------------------------------------- event ids ----
_ID_PREFIX = bytes.fromhex("00032400")  # base64 "AAMkA..." like Exchange ids


@dataclass(frozen=True, slots=True)
class EventRef:
    """What an event id encodes: mailbox tag, item serial, instance original start."""

    tag: bytes
    serial: int
    original: datetime | None = None


def mailbox_tag(upn: str) -> bytes:
    return hashlib.sha1(upn.lower().encode("utf-8")).digest()[:6]


def encode_id(ref: EventRef) -> str:
    raw = _ID_PREFIX + ref.tag + ref.serial.to_bytes(6, "big")
    if ref.original is not None:
        seconds = int(ref.original.astimezone(UTC).timestamp())
        raw += b"\x07" + seconds.to_bytes(8, "big", signed=True)
    else:
        raw += b"\x46"
    raw += hashlib.sha1(raw).digest()[:3]
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_id(text: str) -> EventRef | None:
    """The reference inside an id, or None when it is not one the emulator issued."""
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(raw) < 20 or not raw.startswith(_ID_PREFIX):
        return None
    body, check = raw[:-3], raw[-3:]
    if hashlib.sha1(body).digest()[:3] != check:
        return None
    tag, serial, rest = body[4:10], int.from_bytes(body[10:16], "big"), body[16:]
    if rest == b"\x46":
        return EventRef(tag, serial)
    if len(rest) == 9 and rest[0] == 7:
        seconds = int.from_bytes(rest[1:], "big", signed=True)
        return EventRef(tag, serial, datetime.fromtimestamp(seconds, UTC))
    return None


def all_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants an all-day date covers in ``tz``."""
    start = datetime.combine(day, time(), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
