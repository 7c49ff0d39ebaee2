"""Event bodies as Google takes them, and the bodies it stores.

Pure: the time comes in as ``now``. Which fields a client may write
(others are ignored), Google's patch semantics (:func:`merge_patch`), the
validation of times, recurrence, enums, attendees and extended properties
(long keys dropped, long values truncated, too many or too large a 400), and
:func:`compose`: the stored body of an insert, import, seed or write, with
``sequence`` bumped on significant changes and ``updated`` kept when only
reminders changed.
"""

from __future__ import annotations

import copy
from datetime import datetime

from calsync_emulators.google_errors import Json, invalid, required, time_error, time_range_empty
from calsync_emulators.google_model import Calendar, b64
from calsync_emulators.google_recurrence import (
    Series,
    When,
    format_timestamp,
    parse_rfc3339,
    parse_when,
)
from calsync_emulators.google_render import ordered
from calsync_emulators.zones import TimeFormatError, zone

#: extendedProperties: longer keys are dropped, longer values truncated, silently.
EXTENDED_KEY_MAX = 44
EXTENDED_VALUE_MAX = 1024
#: extendedProperties: at most this many properties and bytes per event (400 beyond).
EXTENDED_MAX_COUNT = 300
EXTENDED_MAX_BYTES = 32 * 1024
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
_STATUS = ("confirmed", "tentative", "cancelled")
_TRANSPARENCY = ("opaque", "transparent")
_VISIBILITY = ("default", "public", "private", "confidential")
_RESPONSE = ("needsAction", "declined", "tentative", "accepted")
_EVENT_TYPES = ("default", "birthday", "focusTime", "fromGmail", "outOfOffice", "workingLocation")
_AUTO_DECLINE = ("declineNone", "declineAllConflictingInvitations",
                 "declineOnlyNewConflictingInvitations")
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


def merge_patch(target: Json, patch: Json) -> Json:
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
            out[name] = merge_patch(current, value)
        elif isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = merge_patch(out[name], value)
        else:
            out[name] = copy.deepcopy(value)
    return out


def _validate(
    cal: Calendar, data: Json, *, exception: bool
) -> tuple[Json, When, When, Series | None]:
    try:
        start = parse_when(data.get("start"), "start")
        end = parse_when(data.get("end"), "end")
    except TimeFormatError as exc:
        raise time_error(exc) from None
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
            raise time_error(exc) from None
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
    if data["eventType"] == "outOfOffice":
        _validate_out_of_office(data, start)
    if not isinstance(data.get("reminders"), dict):
        data["reminders"] = {"useDefault": True}
    if "sequence" in data and not isinstance(data["sequence"], int):
        raise invalid("Invalid value for: sequence")
    _validate_attendees(cal, data)
    _validate_extended(data)
    return data, start, end, series


def _validate_out_of_office(data: Json, start: When) -> None:
    """An out-of-office block: timed, blocking, no guests; its properties as Google keeps them.

    The Events reference: "An outOfOfficeProperties parameter must be supplied
    to make a valid event (even if empty)", with ``autoDeclineMode`` one of
    three values and a ``declineMessage``. Observed by integrators: such an
    event is never all-day and never free (clients fall back to a plain busy
    event for those), and, declining meetings itself, it invites nobody.
    """
    if start.all_day:
        raise invalid("An out of office event cannot be an all-day event.", "start")
    if data.get("transparency", "opaque") != "opaque":
        raise invalid("An out of office event must be opaque.", "transparency")
    if data.get("attendees"):
        raise invalid("An out of office event cannot have attendees.", "attendees")
    data["transparency"] = "opaque"
    if "outOfOfficeProperties" not in data:
        raise required("Missing out of office properties.")
    properties = data.get("outOfOfficeProperties") or {}
    if not isinstance(properties, dict):
        raise invalid("Invalid value for: outOfOfficeProperties")
    mode = properties.get("autoDeclineMode", "declineNone")
    if mode not in _AUTO_DECLINE:
        raise invalid("Invalid value for: outOfOfficeProperties.autoDeclineMode")
    data["outOfOfficeProperties"] = {**properties, "autoDeclineMode": mode}
    data.setdefault("summary", "Out of office")


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


def compose(
    cal: Calendar,
    event_id: str,
    data: Json,
    previous: Json | None,
    *,
    mode: str,
    now: datetime,
) -> tuple[Json, When, When, Series | None]:
    """The body to store for ``data`` (writable fields), given the previous version.

    ``mode``: "insert" (API insert), "import"/"seed" (organizer, iCalUID and
    timestamps may be supplied) or "write" (patch, update, delete).
    """
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
    data, start, end, series = _validate(cal, data, exception=exception)

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
        created = _stamp(stamps[0]) or created
        updated = _stamp(stamps[1]) or updated
    if created is None:
        created = format_timestamp(now)
    uid = data.pop("iCalUID", None) or (previous or {}).get("iCalUID")
    uid = uid or f"{event_id}@google.com"
    eid = b64(f"{event_id} {cal.id}".encode())
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
    return ordered(body), start, end, series


def _stamp(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    parsed = parse_rfc3339(value)
    return format_timestamp(parsed) if parsed is not None else None
