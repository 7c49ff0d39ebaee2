"""``POST /users/{id}/calendar/getSchedule``: free/busy of several mailboxes.

A function of the :class:`~calsync_emulators.graph_store.Store`. At most
:data:`GET_SCHEDULE_MAX_SCHEDULES` schedules and a range shorter than
:data:`GET_SCHEDULE_MAX_RANGE` (400 ``ErrorTimeIntervalTooBig`` with Graph's
text); an unknown address is an error item inside the 200. Each schedule has
the ``availabilityView`` digits (0 free .. 3 away, the busiest event of each
interval), the ``scheduleItems`` (private ones without subject and location)
and the mailbox's ``workingHours`` with its Windows zone name.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from calsync_emulators.graph_errors import GraphError, bad_request
from calsync_emulators.graph_model import Timing, View, window_entities
from calsync_emulators.graph_render import instance_parts, render, time_body
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import Json, parse_graph_time
from calsync_emulators.zones import TimeFormatError, windows_name

#: getSchedule: at most this many schedules, and a range shorter than this.
GET_SCHEDULE_MAX_SCHEDULES = 20
GET_SCHEDULE_MAX_RANGE = timedelta(days=62)
#: ``availabilityView`` digit of each ``showAs``.
_AVAILABILITY = {
    "free": 0,
    "workingElsewhere": 0,
    "unknown": 0,
    "tentative": 1,
    "busy": 2,
    "oof": 3,
}


def get_schedule(store: Store, user: str, body: Json, view: View) -> Json:
    """POST /users/{id}/calendar/getSchedule."""
    store.mailbox(user)
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
    value = [_schedule(store, str(s), low, high, minutes, view) for s in schedules]
    return {
        "@odata.context": f"{store.base_url}/v1.0/$metadata#Collection("
        "microsoft.graph.scheduleInformation)",
        "value": value,
    }


def _schedule(
    store: Store, address: str, low: datetime, high: datetime, minutes: int, view: View
) -> Json:
    """One mailbox's ``scheduleInformation`` (an error item when the address is unknown)."""
    mailbox = store.find_mailbox(address)
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
    for _, entity in window_entities(mailbox, low, high, masters=False):
        rendered = render(entity, View())
        status = rendered["showAs"]
        if rendered["isCancelled"] or status in ("free", "unknown"):
            continue
        _, timing, _ = (
            instance_parts(entity.item, entity.original, entity.occurrence)
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
        entry["start"] = time_body(timing.start, timing.all_day, timing.tz, view)
        entry["end"] = time_body(timing.end, timing.all_day, timing.tz, view)
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
