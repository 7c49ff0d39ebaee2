"""Event bodies as Graph takes them, and the items they become.

Pure: no clock, no I/O, no mailbox. What a create or a PATCH may carry
(:data:`EVENT_PROPERTIES`, the writable subset), what Graph fills in when it is
left out (:data:`DEFAULTS`), how properties, attendees and extended properties
are validated, and how ``start``/``end``/``isAllDay``/``recurrence`` become an
item's :class:`~calsync_emulators.graph_model.Timing` and series. Errors are
the :mod:`calsync_emulators.graph_errors` a real Graph answers with.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, time, timedelta

from calsync_emulators.google_recurrence import Occurrence, Series, When
from calsync_emulators.graph_errors import (
    bad_request,
    invalid_request,
    invalid_time_zone,
    item_not_found,
    unknown_property,
    validation_failure,
)
from calsync_emulators.graph_model import Item, Override, Timing, occurrence_at
from calsync_emulators.graph_times import (
    NEVER,
    GraphTime,
    Json,
    RecurrenceError,
    normalize_recurrence,
    parse_graph_time,
    recurrence_to_rrule,
)
from calsync_emulators.zones import TimeFormatError, resolve_zone

_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)

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
RESPONSES = ("none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded")
_ATTENDEE_TYPES = ("required", "optional", "resource")
DEFAULTS: Json = {
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


def check_keys(body: Json) -> None:
    """400 ``RequestBodyRead`` for a property the event type does not have."""
    for name in body:
        if name.startswith("@") or "@odata." in name:
            continue
        if name not in EVENT_PROPERTIES:
            raise unknown_property(name)


def clean_props(body: Json) -> Json:
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
        props["location"] = {**DEFAULTS["location"], **loc}
        props["locations"] = [props["location"]] if loc.get("displayName") else []
    if "attendees" in props:
        props["attendees"] = clean_attendees(props["attendees"])
    return props


def clean_attendees(raw: object) -> list[Json]:
    """Attendees as Graph stores them: defaults filled in, duplicates dropped."""
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
        if response not in RESPONSES:
            raise bad_request(f"Invalid response '{response}'.")
        out.append(
            {
                "type": kind,
                "status": {"response": response, "time": str(status.get("time") or NEVER)},
                "emailAddress": {"name": str(email.get("name") or address), "address": address},
            }
        )
    return out


def set_svep(item: Item, prop: object) -> None:
    """Write one ``singleValueExtendedProperty`` on an item (400 for a malformed id)."""
    if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
        raise bad_request("A singleValueExtendedProperty needs an id and a value.")
    if not re.match(r"^\S+ \S+ (Name \S.*|Id 0x[0-9A-Fa-f]+)$", prop["id"].strip()):
        raise bad_request(f"Invalid extended property id '{prop['id']}'.")
    item.svep[svep_key(prop["id"])] = {"id": prop["id"].strip(), "value": prop.get("value")}


def svep_key(prop_id: str) -> str:
    """Extended property ids compare with the type and GUID case-insensitive, the name not."""
    parts = prop_id.strip().split(" ", 3)
    if len(parts) == 4 and parts[2].lower() == "name":
        return f"{parts[0].lower()} {parts[1].lower()} name {parts[3]}"
    return prop_id.strip().lower()


def meeting_part(patch: Json) -> Json:
    """What of an organizer's PATCH carries to the attendees' copies, times included."""
    return {k: v for k, v in patch.items() if k in (*_MEETING_FIELDS, "start", "end", "isAllDay")}


def parse_timing(body: Json, base: Timing | None = None) -> Timing:
    """The timing a body's start/end/isAllDay give (``base``: the current one, for a PATCH)."""
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


def attach_series(item: Item, recurrence: Json | None) -> None:
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
    item.timing = timing.at(found[0])
    item.recurrence, item.series, item.rec_tz = normalized, series, rec_tz


def apply_override(item: Item, override: Override, patch: Json) -> None:
    """Apply a PATCH of one instance to its override (its own props, and timing if moved)."""
    props = clean_props(patch)
    override.props.update(props)
    if {"start", "end", "isAllDay"} & set(patch):
        base = override.timing or instance_timing(item, override.original)
        override.timing = parse_timing(patch, base)


def instance_timing(item: Item, original: datetime, occurrence: Occurrence | None = None) -> Timing:
    """The timing of an unmodified instance of a series; 404 when there is none."""
    occurrence = occurrence or occurrence_at(item, original)
    if occurrence is None:
        raise item_not_found()
    return item.timing.at(occurrence)
