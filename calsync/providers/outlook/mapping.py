"""Microsoft Graph v1.0 event resources -> neutral events. Pure: no HTTP.

Graph lists a mailbox's calendar view as single events, series masters,
occurrences (stripped to ids and times in delta) and exceptions. Each series
is built as iCalendar components (objects, never text) -- the master with an
RRULE converted from Graph's ``patternedRecurrence``, each exception as a
RECURRENCE-ID override -- and expanded by the same code as ICS feeds and
Google, so EXDATE-like gaps, overrides and time zones mean the same thing
whichever provider a calendar comes from. Graph's ids and etags are then put back on the rows.

Identity. An occurrence is keyed by ``(series uid, original start)``. Graph's
``iCalUId`` differs per occurrence but the series master's is shared by every
attendee's copy: it is Exchange's GlobalObjectId (MS-OXOCAL 2.2.1.27) in hex.
:func:`series_uid` decodes it: a meeting that came from another calendar
system carries its iCalendar UID inside ("vCal-Uid" data) and gets that UID
back, so a pair split across Google, ICS and Microsoft 365 correlates; a
meeting created in Exchange gets the GlobalObjectId with the instance date
zeroed, the same in every mailbox. A plain ``iCalUId`` (neither) is used as is.

Cancelled occurrences. Graph v1.0 has no tombstone for one deleted occurrence:
it simply stops being an instance (``cancelledOccurrences`` is beta). The
rule is therefore expanded over the window and every rule time inside it
without an instance is a cancelled row -- cancelled by the organizer in the
organizer's mailbox, or dropped (declined, or removed after a cancellation)
in an attendee's, which the policies read as a decline. This matches ICS,
where a deleted occurrence is an EXDATE or a cancelled override, both
cancelled rows. A rule time whose instance straddles a window edge, and so
may simply not have been listed, is left out rather than guessed.

Series edits. When a series' recurrence or time changes, Exchange drops its
exceptions and deleted occurrences and clears every tallied response
([MS-OXOCAL] "Updating a Recurring Series", "Clearing Previous Responses"),
then lists every occurrence, past ones included, as the bare pattern (at the
series' new time, if it moved). So an occurrence Graph lists as a plain
``occurrence`` says nothing of its own: :func:`pattern_keys` names them, and
the store neither rewrites past rows from them nor adds past rows amid the
history it holds (``ChangeSet.pattern_keys``). The organizer's own entry in the
attendee list reads accepted whatever its tally says: an organizer never
answers their own meeting (Graph's status for them is ``organizer``), and a
cleared tally must not read as an unanswered 1:1.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from calsync.model import (
    Attendee,
    Event,
    EventStatus,
    Response,
    Window,
    occurrence_key,
    occurrence_slot,
    with_fields,
)
from calsync.providers.away import AWAY_TAG, BUSY_STATUS, OOF, OUT_OF_OFFICE, away_reason
from calsync.providers.expand import ParseWarnings, expand_components, iana_zone
from calsync.providers.vevent import new_vevent, put, put_address, put_text, put_time

Json = dict[str, Any]

#: calsync's property set for single-value extended properties (a fixed GUID).
PROPERTY_SET = "{f49b6bb4-0641-5186-9965-4e7b2aada13d}"
#: The extended property holding the calsync key of an event calsync created.
KEY_PROPERTY = f"String {PROPERTY_SET} Name calsyncKey"
#: The extended property holding the rest of calsync's tags, as a JSON object.
TAGS_PROPERTY = f"String {PROPERTY_SET} Name calsyncTags"
#: ``transactionId`` prefix of events calsync created (visible in delta pages).
TRANSACTION_PREFIX = "calsync-"

_GOID_HEADER = bytes.fromhex("040000008200E00074C5B7101A82E008")
_VCAL_UID = b"vCal-Uid"
_PARTSTAT = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyAccepted": "TENTATIVE",
    "organizer": "ACCEPTED",
    "none": "NEEDS-ACTION",
    "notResponded": "NEEDS-ACTION",
}
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_ANSWERS = frozenset({"accepted", "declined", "tentativelyAccepted"})
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


class RecurrenceError(ValueError):
    """A Graph recurrence calsync cannot read."""


@dataclass(frozen=True, slots=True)
class SeriesData:
    """A series master (as GET returns it) and its instances present in the window."""

    master: Json
    instances: Sequence[Json]


# ---------------------------------------------------------------------------
# identity and kinds


def series_uid(item: Mapping[str, Any]) -> str:
    """The iCalendar UID every copy of a meeting (series) shares; see the module docs."""
    raw = str(item.get("iCalUId") or "").strip()
    if not raw:
        return str(item["id"])
    data = _goid(raw)
    if data is None:
        return raw
    size = int.from_bytes(data[36:40], "little")
    payload = data[40 : 40 + size]
    if payload.startswith(_VCAL_UID) and len(payload) > 12:
        uid = payload[12:].split(b"\0", 1)[0].decode("utf-8", "replace").strip()
        if uid:
            return uid
    return (data[:16] + b"\0\0\0\0" + data[20:]).hex().upper()


def _goid(text: str) -> bytes | None:
    if len(text) < 80 or len(text) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", text):
        return None
    data = bytes.fromhex(text)
    return data if data.startswith(_GOID_HEADER) else None


def is_removed(item: Mapping[str, Any]) -> bool:
    """A delta ``@removed`` entry: only an id, of something of unknown kind."""
    return "@removed" in item


def is_tombstone(item: Mapping[str, Any]) -> bool:
    """A cancelled single event or series (an attendee's copy): a deletion, not an event.

    The organizer's copy of a cancelled meeting leaves the calendar; the
    attendees' copies stay with ``isCancelled`` until they remove them. Either
    way the meeting is gone, as with Google's cancelled events.
    """
    return bool(item.get("isCancelled")) and item.get("type") in ("singleInstance", "seriesMaster")


def is_away(item: Mapping[str, Any]) -> bool:
    """An out-of-office event (``showAs = "oof"``)."""
    return str(item.get("showAs") or "").lower() == "oof"


def is_instance(item: Mapping[str, Any]) -> bool:
    return item.get("type") in ("occurrence", "exception")


def tags_of(item: Mapping[str, Any]) -> dict[str, str]:
    """calsync's tags on an event read with ``$expand=singleValueExtendedProperties``."""
    tags: dict[str, str] = {}
    for prop in item.get("singleValueExtendedProperties") or ():
        prop_id = str(prop.get("id") or "").lower()
        value = prop.get("value")
        if prop_id == TAGS_PROPERTY.lower() and value:
            try:
                decoded = json.loads(value)
            except ValueError:
                continue
            if isinstance(decoded, dict):
                tags.update({str(k): str(v) for k, v in decoded.items()})
        elif prop_id == KEY_PROPERTY.lower() and value is not None:
            tags["key"] = str(value)
    return tags


def is_owned(item: Mapping[str, Any]) -> bool:
    """Created by calsync (its transactionId): worth reading its extended properties."""
    return str(item.get("transactionId") or "").startswith(TRANSACTION_PREFIX)


# ---------------------------------------------------------------------------
# times and recurrence


def zone_named(name: object) -> ZoneInfo | None:
    """A Windows or IANA zone name (what Graph writes) as a ZoneInfo, or None."""
    text = str(name or "").strip()
    if not text:
        return None
    if text.lower() in ("utc", "tzone://microsoft/utc", "etc/utc"):
        return ZoneInfo("UTC")
    return iana_zone(text)


def graph_instant(value: Mapping[str, Any]) -> datetime:
    """A ``dateTimeTimeZone`` as an aware instant (7 fractional digits allowed)."""
    text = str(value["dateTime"]).strip()
    match = _DATE_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"not a Graph date-time: {text!r}")
    micro = ((match[2] or ".")[1:] + "000000")[:6]
    parsed = datetime.fromisoformat(f"{match[1]}.{micro}")
    if match[3]:
        offset = "+00:00" if match[3] == "Z" else match[3]
        return datetime.fromisoformat(f"{match[1]}.{micro}{offset}").astimezone(UTC)
    if value.get("timeZone") == "UTC":  # what calsync asks for (outlook.timezone="UTC")
        return parsed.replace(tzinfo=UTC)
    zone = zone_named(value.get("timeZone")) or ZoneInfo("UTC")
    return parsed.replace(tzinfo=zone).astimezone(UTC)


def graph_date(value: Mapping[str, Any]) -> date:
    """The calendar date of an all-day ``dateTimeTimeZone`` (a floating midnight)."""
    return date.fromisoformat(str(value["dateTime"])[:10])


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rrule_of(recurrence: Mapping[str, Any]) -> str:
    """The RRULE line of a Graph ``patternedRecurrence``."""
    pattern = recurrence.get("pattern") or {}
    rng = recurrence.get("range") or {}
    kind = pattern.get("type")
    interval = int(pattern.get("interval") or 1)
    parts = []
    if kind == "daily":
        parts = ["FREQ=DAILY"]
    elif kind == "weekly":
        parts = ["FREQ=WEEKLY", "BYDAY=" + _days(pattern)]
        first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
        if first in _DAYS:
            parts.append(f"WKST={_RRULE_DAYS[_DAYS.index(first)]}")
    elif kind == "absoluteMonthly":
        parts = ["FREQ=MONTHLY", *_month_day(int(pattern.get("dayOfMonth") or 0))]
    elif kind == "relativeMonthly":
        parts = ["FREQ=MONTHLY", "BYDAY=" + _days(pattern), f"BYSETPOS={_index(pattern)}"]
    elif kind == "absoluteYearly":
        parts = ["FREQ=YEARLY", f"BYMONTH={int(pattern.get('month') or 0)}"]
        parts += _month_day(int(pattern.get("dayOfMonth") or 0))
    elif kind == "relativeYearly":
        parts = ["FREQ=YEARLY", f"BYMONTH={int(pattern.get('month') or 0)}"]
        parts += ["BYDAY=" + _days(pattern), f"BYSETPOS={_index(pattern)}"]
    else:
        raise RecurrenceError(f"unknown recurrence pattern type {kind!r}")
    if interval != 1:
        parts.insert(1, f"INTERVAL={interval}")
    if rng.get("type") == "numbered":
        parts.append(f"COUNT={int(rng.get('numberOfOccurrences') or 1)}")
    elif rng.get("type") == "endDate":
        until = date.fromisoformat(str(rng["endDate"]))
        parts.append(f"UNTIL={until.strftime('%Y%m%d')}")
    return "RRULE:" + ";".join(parts)


def _days(pattern: Mapping[str, Any]) -> str:
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or ()]
    if not days or any(d not in _DAYS for d in days):
        raise RecurrenceError(f"bad daysOfWeek {pattern.get('daysOfWeek')!r}")
    return ",".join(_RRULE_DAYS[_DAYS.index(d)] for d in days)


def _index(pattern: Mapping[str, Any]) -> int:
    index = str(pattern.get("index") or "first")
    if index not in _INDEX:
        raise RecurrenceError(f"bad index {index!r}")
    return _INDEX[index]


def _month_day(day: int) -> list[str]:
    """Outlook's "day N of the month": shorter months use their last day."""
    if not 1 <= day <= 31:
        raise RecurrenceError(f"bad dayOfMonth {day}")
    if day <= 28:
        return [f"BYMONTHDAY={day}"]
    return ["BYMONTHDAY=" + ",".join(str(d) for d in range(28, day + 1)), "BYSETPOS=-1"]


def series_zone(master: Mapping[str, Any], default_zone: ZoneInfo) -> ZoneInfo:
    """The zone a series recurs in (its wall time crosses DST in this zone)."""
    rng = (master.get("recurrence") or {}).get("range") or {}
    for name in (rng.get("recurrenceTimeZone"), master.get("originalStartTimeZone")):
        zone = zone_named(name)
        if zone is not None:
            return zone
    return default_zone


# ---------------------------------------------------------------------------
# resources -> VEVENTs


def _when(value: Mapping[str, Any], all_day: bool, zone: ZoneInfo) -> date | datetime:
    if all_day:
        return graph_date(value)
    return graph_instant(value).astimezone(zone)


def html_text(markup: str) -> str:
    """The text of an HTML body (what Graph sends with ``outlook.body-content-type="text"``)."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", markup)
    text = re.sub(r"\r?\n", "", text)  # HTML line breaks are tags, not newlines
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _text_body(body: Mapping[str, Any] | None) -> str:
    if not body:
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "text").lower() == "html":
        content = html_text(content)
    return content.replace("\r\n", "\n").strip()


def _describe(event: icalendar.Event, item: Mapping[str, Any], owner: str | None) -> None:
    """Title, status, people and calsync tags of a resource, onto a VEVENT.

    The one place this mapping sets descriptive properties on a component.
    """
    put_text(event, "SUMMARY", item.get("subject") or "")
    description = _text_body(item.get("body"))
    if description:
        put_text(event, "DESCRIPTION", description)
    put_text(event, "STATUS", "CANCELLED" if item.get("isCancelled") else "CONFIRMED")
    if item.get("showAs") == "free":
        put_text(event, "TRANSP", "TRANSPARENT")
    if is_away(item):
        put_text(event, BUSY_STATUS, OOF)  # expand.py turns it into tags["away"]
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    if organizer:
        put_address(event, "ORGANIZER", organizer)
    own = (item.get("responseStatus") or {}).get("response")
    for attendee in item.get("attendees") or ():
        email = (attendee.get("emailAddress") or {}).get("address")
        if not email:
            continue
        response = (attendee.get("status") or {}).get("response", "none")
        if organizer and email.strip().lower() == organizer.strip().lower():
            response = "organizer"  # module docs: Series edits
        elif (
            owner
            and email.strip().lower() == owner
            and not item.get("isOrganizer")
            and own in _ANSWERS
        ):
            response = own  # the owner's own answer, as their mailbox records it
        partstat = _PARTSTAT.get(response, "NEEDS-ACTION")
        if attendee.get("type") == "resource":
            put_address(event, "ATTENDEE", email, PARTSTAT=partstat, CUTYPE="RESOURCE")
        else:
            put_address(event, "ATTENDEE", email, PARTSTAT=partstat)
    for name, value in tags_of(item).items():
        put_text(event, f"X-CALSYNC-{name.upper()}", value)


def _single_vevent(
    item: Json, uid: str, default_zone: ZoneInfo, owner: str | None
) -> icalendar.Event:
    event = new_vevent(uid)
    all_day = bool(item.get("isAllDay"))
    zone = zone_named(item.get("originalStartTimeZone")) or default_zone
    put_time(event, "DTSTART", _when(item["start"], all_day, zone))
    put_time(event, "DTEND", _when(item.get("end") or item["start"], all_day, zone))
    _describe(event, item, owner)
    return event


def _master_vevent(
    master: Json, uid: str, zone: ZoneInfo, owner: str | None
) -> icalendar.Event:
    event = new_vevent(uid)
    all_day = bool(master.get("isAllDay"))
    put_time(event, "DTSTART", _when(master["start"], all_day, zone))
    put_time(event, "DTEND", _when(master.get("end") or master["start"], all_day, zone))
    line = rrule_of(master.get("recurrence") or {})
    put(event, "RRULE", icalendar.vRecur.from_ical(line.removeprefix("RRULE:")))
    _describe(event, master, owner)
    return event


def _original(instance: Mapping[str, Any], all_day: bool, zone: ZoneInfo) -> date | datetime:
    """An instance's rule time: ``originalStart``, or (plain occurrence) its start."""
    if instance.get("originalStart"):
        instant = graph_instant({"dateTime": str(instance["originalStart"])})
        return instant.astimezone(zone).date() if all_day else instant.astimezone(zone)
    return _when(instance["start"], all_day, zone)


def _exception_vevent(
    master: Json, instance: Json, uid: str, zone: ZoneInfo, owner: str | None
) -> icalendar.Event:
    event = new_vevent(uid)
    all_day = bool(master.get("isAllDay"))
    put_time(event, "DTSTART", _when(instance["start"], all_day, zone))
    put_time(event, "DTEND", _when(instance.get("end") or instance["start"], all_day, zone))
    put_time(event, "RECURRENCE-ID", _original(instance, all_day, zone))
    # An exception from delta is complete; fields it lacks are the master's.
    _describe(event, {**master, **{k: v for k, v in instance.items() if v is not None}}, owner)
    return event


_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "declined": Response.DECLINED,
    "tentativelyAccepted": Response.TENTATIVE,
    "organizer": Response.ACCEPTED,
}


def single_event(
    item: Json, uid: str, window: Window, default_zone: ZoneInfo, owner: str | None = None
) -> Event | None:
    """A single event, mapped directly; None outside ``window``.

    The same meaning as the event written as a VEVENT and read by
    ``ics_parse`` (a test holds the two together), without the round trip:
    most of a mailbox is single events.
    """
    if item.get("isAllDay"):
        first = graph_date(item["start"])
        last = graph_date(item["end"]) if item.get("end") else first + timedelta(days=1)
        start = datetime.combine(first, time(0), tzinfo=default_zone).astimezone(UTC)
        end = datetime.combine(last, time(0), tzinfo=default_zone).astimezone(UTC)
        zone_name = None
    else:
        zone = zone_named(item.get("originalStartTimeZone")) or default_zone
        start = graph_instant(item["start"])
        end = graph_instant(item["end"]) if item.get("end") else start
        zone_name = getattr(zone, "key", None)
    if end < start:
        raise ValueError(f"it ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    inside = window.contains(start) if start == end else window.overlaps(start, end)
    if not inside:
        return None
    own = (item.get("responseStatus") or {}).get("response")
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    organizer = str(organizer or "").strip().lower()
    people: dict[str, Attendee] = {}
    for attendee in item.get("attendees") or ():
        email = str((attendee.get("emailAddress") or {}).get("address") or "").strip().lower()
        if "@" not in email or email in people or attendee.get("type") == "resource":
            continue
        response = (attendee.get("status") or {}).get("response", "none")
        if email == organizer:
            response = "organizer"  # module docs: Series edits
        elif owner and email == owner and not item.get("isOrganizer") and own in _ANSWERS:
            response = own
        people[email] = Attendee(email, _RESPONSES.get(response, Response.NEEDS_ACTION))
    tags = {name.lower(): value for name, value in tags_of(item).items()}
    # What expand.py would read from the OOF mark of the same event as a VEVENT.
    away = away_reason(OOF if is_away(item) else "", str(item.get("subject") or ""),
                       bool(item.get("isAllDay")))
    if away is not None:
        tags[AWAY_TAG] = away
    return Event(
        uid=uid,
        start=start,
        end=end,
        title=str(item.get("subject") or ""),
        status=EventStatus.CANCELLED if item.get("isCancelled") else EventStatus.CONFIRMED,
        organizer=organizer if "@" in organizer else None,
        attendees=tuple(people.values()),
        all_day=bool(item.get("isAllDay")),
        timezone=zone_name,
        description=_text_body(item.get("body")),
        transparent=item.get("showAs") == "free",
        remote_id=item.get("id"),
        etag=item.get("@odata.etag"),
        tags=tags,
    )


def _as_instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


# ---------------------------------------------------------------------------
# public


def pattern_keys(series: Sequence[SeriesData], default_zone: ZoneInfo) -> tuple[str, ...]:
    """Keys of the occurrences Graph lists as plain ``occurrence``: the bare pattern.

    Keyed exactly as :func:`to_events` keys them. Exceptions are left out:
    they carry data of their own. An instance that cannot be read is left out
    too (``to_events`` reports its series).
    """
    keys: list[str] = []
    for data in series:
        uid = series_uid(data.master)
        zone = series_zone(data.master, default_zone)
        all_day = bool(data.master.get("isAllDay"))
        for instance in data.instances:
            if instance.get("type") != "occurrence":
                continue
            try:
                if not all_day and instance.get("originalStart"):
                    # A UTC instant already: the key needs no trip through the zone.
                    instant = graph_instant({"dateTime": str(instance["originalStart"])})
                    keys.append(occurrence_key(uid, instant))
                    continue
                original = _original(instance, all_day, zone)
            except (KeyError, ValueError, TypeError):
                continue
            keys.append(occurrence_key(uid, _as_instant(original, default_zone)))
    return tuple(keys)


def to_events(
    singles: Sequence[Json],
    series: Sequence[SeriesData],
    source: str,
    window: Window,
    default_zone: ZoneInfo,
    owner: str | None = None,
) -> tuple[list[Event], ParseWarnings]:
    """Neutral events for one mailbox's singles and series inside ``window``.

    ``series`` carries each master as GET returns it (its own start, its
    recurrence) and every instance Graph lists for it in the window;
    occurrences may be stripped to ids and times as in delta. ``owner`` is the
    mailbox owner's email: their own answer (``responseStatus``) wins over the
    attendee list of their copy. Tombstones must be filtered out by the caller.
    The warnings' ``skipped_uids`` name what was there but could not be read.
    """
    owner = owner.strip().lower() if owner else None
    components: list[icalendar.Event] = []
    # Graph's id and etag by what Event.key says: (uid, None) for singles and
    # masters, (uid, occurrence_slot) for an instance -- no key formatted.
    ids: dict[tuple[str, datetime | None], tuple[str | None, str | None]] = {}
    expected: set[str] = set()  # series uids whose rule rows need an instance
    skipped = ParseWarnings()
    direct: list[Event] = []
    series_uids = {series_uid(data.master) for data in series}
    for item in singles:
        uid = series_uid(item)
        try:
            if uid not in series_uids:
                event = single_event(item, uid, window, default_zone, owner)
                if event is not None:
                    direct.append(event)
                continue
            # A single sharing a series' UID: let the expansion decide, as for ICS.
            components.append(_single_vevent(item, uid, default_zone, owner))
        except (KeyError, ValueError, TypeError) as exc:
            skipped.append(f"{source}: event {item.get('id')} skipped: unreadable ({exc})")
            skipped.skipped_uids.add(uid)
            continue
        ids[(uid, None)] = (item.get("id"), item.get("@odata.etag"))
    for data in series:
        master = data.master
        uid = series_uid(master)
        zone = series_zone(master, default_zone)
        all_day = bool(master.get("isAllDay"))
        try:
            members = [_master_vevent(master, uid, zone, owner)]
            keys: dict[tuple[str, datetime | None], tuple[str | None, str | None]] = {
                (uid, None): (master.get("id"), master.get("@odata.etag"))
            }
            for instance in data.instances:
                if all_day:
                    instant = _as_instant(_original(instance, all_day, zone), default_zone)
                else:  # _original's instant, without the round trip through the zone
                    instant = graph_instant(
                        {"dateTime": str(instance["originalStart"])}
                        if instance.get("originalStart") else instance["start"]
                    )
                key = (uid, occurrence_slot(instant))
                keys[key] = (instance.get("id"), instance.get("@odata.etag"))
                if instance.get("type") == "exception":
                    members.append(_exception_vevent(master, instance, uid, zone, owner))
        except (KeyError, ValueError, TypeError) as exc:
            skipped.append(f"{source}: series {master.get('id')} skipped: unreadable ({exc})")
            skipped.skipped_uids.add(uid)
            continue
        components.extend(members)
        ids.update(keys)
        expected.add(uid)
    events: list[Event] = []
    warnings = ParseWarnings()
    if components:
        events, warnings = expand_components(components, source, window, default_zone, ids)
    warnings[:0] = skipped
    warnings.skipped_uids |= skipped.skipped_uids
    out = direct
    for event in events:
        if (event.uid, occurrence_slot(event.original_start)) in ids:
            out.append(event)  # the expansion set its ids
        elif event.uid not in expected or not event.is_occurrence:
            out.append(event)
        elif window.start <= event.start and event.end <= window.end:
            # A rule time with no instance: the occurrence was deleted.
            out.append(with_fields(event, status=EventStatus.CANCELLED))
    return out, warnings


def automatic_replies_event(settings: Mapping[str, Any], owner: str,
                            window: Window) -> Event | None:
    """The mailbox's scheduled automatic replies as an away event; None unless scheduled.

    ``mailboxSettings.automaticRepliesSetting`` with ``status = "scheduled"``
    says the person is away from ``scheduledStartDateTime`` to
    ``scheduledEndDateTime``. Replies switched on with no end
    (``alwaysEnabled``) say nothing about when, so they are not leave. The
    uid is keyed by the start: an earlier stretch stays in the history.
    """
    replies = settings.get("automaticRepliesSetting") or {}
    if str(replies.get("status") or "").lower() != "scheduled":
        return None
    try:
        start = graph_instant(replies["scheduledStartDateTime"])
        end = graph_instant(replies["scheduledEndDateTime"])
    except (KeyError, TypeError, ValueError):
        return None
    if end <= start or not window.overlaps(start, end):
        return None
    return Event(
        uid=f"calsync-automatic-replies-{owner}-{start:%Y%m%dT%H%M%SZ}",
        start=start,
        end=end,
        title="Automatic replies",
        organizer=owner,
        # Free/busy is the calendar's to say; this only marks the person away.
        transparent=True,
        tags={AWAY_TAG: OUT_OF_OFFICE},
    )


def window_params(window: Window) -> dict[str, str]:
    return {"startDateTime": utc_text(window.start), "endDateTime": utc_text(window.end)}


def span_days(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into spans of at most ``days`` days."""
    spans = []
    while start < end:
        stop = min(start + timedelta(days=days), end)
        spans.append((start, stop))
        start = stop
    return spans
