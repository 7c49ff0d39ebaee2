"""Google Calendar API v3 event resources -> neutral events. Pure: no HTTP.

Google lists a recurring series as its master (``recurrence`` lines), its
modified instances (``recurringEventId`` + ``originalStartTime``) and its
cancelled instances. That is the iCalendar model, so the resources are written
as VEVENTs and expanded by the same code as ICS feeds: one expansion, one
meaning of EXDATE, overrides and time zones, whichever provider a calendar
comes from. The VEVENTs are built as objects and expanded as they are, never
written out as text and parsed back. Google's opaque ids and etags are then
put back on the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from calsync.model import Event, Window, occurrence_slot
from calsync.providers.away import BUSY_STATUS, OOF
from calsync.providers.expand import ParseWarnings, expand_components, iana_zone
from calsync.providers.vevent import new_vevent, put_address, put_int, put_text, put_time

Json = dict[str, Any]

# extendedProperties.private keys calsync writes: "calsyncKey" <-> tags["key"].
TAG_PREFIX = "calsync"

_PARTSTAT = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
    "needsAction": "NEEDS-ACTION",
}
_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


def tag_key(tag: str) -> str:
    """The extended-property key for a calsync tag: 'key' -> 'calsyncKey'."""
    return TAG_PREFIX + tag[:1].upper() + tag[1:]


def tags_of(item: Json) -> dict[str, str]:
    private = (item.get("extendedProperties") or {}).get("private") or {}
    out = {}
    for key, value in private.items():
        if key.startswith(TAG_PREFIX) and len(key) > len(TAG_PREFIX):
            name = key[len(TAG_PREFIX) :]
            out[name[:1].lower() + name[1:]] = str(value)
    return out


def is_away(item: Json) -> bool:
    """A Google out-of-office block (``eventType = "outOfOffice"``)."""
    return item.get("eventType") == "outOfOffice"


def _when(value: Mapping[str, Any], zone_hint: str | None) -> date | datetime:
    """A Google start/end/originalStartTime as an iCalendar value."""
    if "date" in value and "dateTime" not in value:
        return date.fromisoformat(value["date"])
    instant = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    name = value.get("timeZone") or zone_hint
    zone = iana_zone(name) if name else None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=zone) if zone else instant
    return instant.astimezone(zone) if zone else instant


def _vevent(item: Json, uid: str, master: Json | None) -> icalendar.Event:
    event = new_vevent(uid)
    zone_hint = ((master or item).get("start") or {}).get("timeZone")
    if item.get("status") == "cancelled" and "originalStartTime" in item:
        # A cancelled instance: Google guarantees only its original start, and
        # sends the rest (a moved time, say) only on some paths (the organizer's
        # calendar with showDeleted). Read it always as the series' occurrence at
        # its original slot, so a full and an incremental sync agree.
        original = _when(item["originalStartTime"], zone_hint)
        put_time(event, "DTSTART", original)
        put_time(event, "DTEND", original + _length(master))
        put_time(event, "RECURRENCE-ID", original)
        _describe(event, {**(master or {}), "status": "cancelled"})
        return event
    put_time(event, "DTSTART", _when(item["start"], zone_hint))
    put_time(event, "DTEND", _when(item.get("end") or item["start"], zone_hint))
    if "originalStartTime" in item:
        put_time(event, "RECURRENCE-ID", _when(item["originalStartTime"], zone_hint))
    for line in item.get("recurrence") or ():
        # Google sends RRULE/RDATE/EXDATE as iCalendar lines: each is read as one.
        for name, value in icalendar.Event.from_ical(
            f"BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n"
        ).property_items(recursive=False):
            if name not in ("BEGIN", "END"):
                event.add(name, value, encode=False)
    _describe(event, item)
    return event


def _describe(event: icalendar.Event, item: Json) -> None:
    """Title, status, people and calsync tags of a resource, onto a VEVENT.

    The one place this mapping sets descriptive properties on a component.
    """
    put_text(event, "SUMMARY", item.get("summary") or "")
    if item.get("description"):
        put_text(event, "DESCRIPTION", item["description"])
    put_text(event, "STATUS", _STATUS.get(item.get("status", "confirmed"), "CONFIRMED"))
    if item.get("transparency") == "transparent":
        put_text(event, "TRANSP", "TRANSPARENT")
    if is_away(item):
        put_text(event, BUSY_STATUS, OOF)  # expand.py turns it into tags["away"]
    if item.get("sequence") is not None:
        put_int(event, "SEQUENCE", int(item["sequence"]))
    organizer = (item.get("organizer") or {}).get("email")
    if organizer:
        put_address(event, "ORGANIZER", organizer)
    for attendee in item.get("attendees") or ():
        email = attendee.get("email")
        if not email:
            continue
        partstat = _PARTSTAT.get(attendee.get("responseStatus", ""), "NEEDS-ACTION")
        if attendee.get("resource"):
            put_address(event, "ATTENDEE", email, PARTSTAT=partstat, CUTYPE="RESOURCE")
        else:
            put_address(event, "ATTENDEE", email, PARTSTAT=partstat)
    for name, value in tags_of(item).items():
        put_text(event, f"X-CALSYNC-{name.upper()}", value)


def _length(master: Json | None) -> timedelta:
    if not master or "start" not in master:
        return timedelta(minutes=30)
    start = _when(master["start"], None)
    end = _when(master.get("end") or master["start"], None)
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start
    return timedelta(days=1)


def to_events(
    items: Sequence[Json],
    source: str,
    window: Window,
    default_zone: ZoneInfo,
    masters: Mapping[str, Json] | None = None,
) -> tuple[list[Event], ParseWarnings]:
    """Neutral events for one calendar's resources (masters, exceptions, singles).

    ``masters`` supplies series masters fetched separately (id -> resource) for
    exceptions whose master is not among ``items``. Deletions (cancelled
    singles and masters) must be filtered out by the caller: they are
    tombstones, not events. The warnings' ``skipped_uids`` name the series and
    events that were there but could not be read (the store keeps their rows).
    """
    by_id: dict[str, Json] = dict(masters or {})
    by_id.update({item["id"]: item for item in items if item.get("recurrence")})
    components: list[icalendar.Event] = []
    ids: dict[tuple[str, datetime | None], tuple[str | None, str | None]] = {}
    skipped = ParseWarnings()
    for item in _in_order(items):
        master = by_id.get(item["recurringEventId"]) if "recurringEventId" in item else None
        if "recurringEventId" in item and master is None:
            skipped.append(
                f"{source}: instance {item.get('id')} skipped: its series "
                f"{item['recurringEventId']} was not found"
            )
            if item.get("iCalUID"):  # the series' uid: keep what the store knows of it
                skipped.skipped_uids.add(str(item["iCalUID"]))
            continue
        uid = (master or item).get("iCalUID") or (master or item)["id"]
        try:
            vevent = _vevent(item, uid, master)
            if "recurringEventId" in item:
                zone_hint = ((master or {}).get("start") or {}).get("timeZone")
                original = _when(item["originalStartTime"], zone_hint)
                key = (uid, occurrence_slot(_as_instant(original, default_zone)))
            else:
                key = (uid, None)
        except (KeyError, ValueError, TypeError) as exc:
            skipped.append(
                f"{source}: event {item.get('id')} (UID {uid}) skipped: unreadable ({exc})"
            )
            skipped.skipped_uids.add(uid)
            continue
        components.append(vevent)
        ids[key] = (item.get("id"), item.get("etag"))
    # An occurrence only the rule produces has no resource of its own: no ids.
    events, warnings = expand_components(components, source, window, default_zone, ids)
    warnings[:0] = skipped
    warnings.skipped_uids |= skipped.skipped_uids
    return events, warnings


def pattern_keys(events: Iterable[Event]) -> tuple[str, ...]:
    """Keys of the occurrences only their series' rule states (no resource of their own).

    After an edit of "all events" Google restates every occurrence from the
    master, past ones included (at a new hour, the past moves too): the store
    keeps those as history (``ChangeSet.pattern_keys``). Exceptions and
    cancelled instances are resources of their own, with their own ids.
    """
    return tuple(e.key for e in events if e.is_occurrence and e.remote_id is None)


def _as_instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def _in_order(items: Iterable[Json]) -> list[Json]:
    """Masters before their instances, a stable order (any order expands the same)."""
    return sorted(items, key=lambda item: ("recurringEventId" in item, item.get("id", "")))


def is_tombstone(item: Json) -> bool:
    """A deleted single event or series (not a cancelled instance of a live series)."""
    return item.get("status") == "cancelled" and "recurringEventId" not in item
