"""``freeBusy.query``: the busy intervals of several calendars.

A function of the :class:`~calsync_emulators.google_store.Store`. Busy is what
blocks time: not transparent, not cancelled, not declined by the calendar's
owner; series are expanded; overlapping intervals are merged and clipped to
the range. The range may be at most :data:`FREEBUSY_MAX_RANGE`; calendars past
``calendarExpansionMax`` and unknown ones get an error entry inside the 200.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calsync_emulators.google_errors import (
    ApiError,
    Json,
    bad_request,
    invalid,
    required,
    time_range_empty,
    time_range_too_long,
)
from calsync_emulators.google_model import Calendar, overlaps
from calsync_emulators.google_recurrence import format_datetime, format_timestamp, parse_rfc3339
from calsync_emulators.google_render import expand
from calsync_emulators.google_store import Store
from calsync_emulators.zones import TimeFormatError, zone

#: freeBusy.query: Google documents no limit but answers 400 "The requested
#: time range is too long." for long ranges; cal.com splits into 90-day chunks,
#: which work. A range longer than this is rejected.
FREEBUSY_MAX_RANGE = timedelta(days=90)
#: freeBusy.query: ``calendarExpansionMax`` may be at most 50; calendars past
#: that many get ``tooManyCalendarsRequested`` inside the 200.
FREEBUSY_MAX_CALENDARS = 50
FREEBUSY_MAX_GROUP_EXPANSION = 100


def free_busy(store: Store, body: Json) -> Json:
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
            cal = store.calendar(calendar_key)
        except ApiError:
            calendars[calendar_key] = {
                "errors": [{"domain": "global", "reason": "notFound"}],
                "busy": [],
            }
            continue
        calendars[calendar_key] = {
            "busy": [
                {"start": format_datetime(s, tz), "end": format_datetime(e, tz)}
                for s, e in _busy(cal, low, high)
            ]
        }
    return {
        "kind": "calendar#freeBusy",
        "timeMin": format_timestamp(low),
        "timeMax": format_timestamp(high),
        "calendars": calendars,
    }


def _blocks(cal: Calendar, body: Json) -> bool:
    if body.get("transparency") == "transparent" or body.get("status") == "cancelled":
        return False
    return not any(
        cal.owned_by(a.get("email")) and a.get("responseStatus") == "declined"
        for a in body.get("attendees") or []
    )


def _busy(cal: Calendar, low: datetime, high: datetime) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    for ev in cal.events.values():
        if ev.cancelled:
            continue
        if ev.series is not None:
            if _blocks(cal, ev.body):
                spans += [
                    (r.start.at(cal.tz), r.end.at(cal.tz)) for r in expand(cal, ev, low, high)
                ]
            continue
        if ev.master_id:
            master = cal.events.get(ev.master_id)
            if master is None or master.cancelled:
                continue
        start, end = ev.start.at(cal.tz), ev.end.at(cal.tz)
        if _blocks(cal, ev.body) and overlaps(start, end, low, high):
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
