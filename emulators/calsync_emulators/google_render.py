"""Events as Google renders them, and the virtual instances of a series.

Pure. A stored body is rendered with its times in the request's ``timeZone``
(else the event's own zone, else the calendar's), ``maxAttendees`` applied and
the fields in Google's order; a deleted event outside ``showDeleted`` shrinks
to the stub Google sends. An unmodified instance of a series is derived from
its master (id ``<masterId>_<suffix>``, its own etag, ``originalStartTime``).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync_emulators.google_errors import Json
from calsync_emulators.google_model import Calendar, Params, StoredEvent
from calsync_emulators.google_recurrence import Occurrence, When, format_timestamp
from calsync_emulators.zones import zone

#: The order of an event's fields in Google's responses.
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
    "outOfOfficeProperties",
)


@dataclass(slots=True)
class Row:
    """A stored or virtual event about to be listed: body, times, and its sort group."""

    body: Json
    start: When
    end: When
    group: int

    def begins(self, tz: ZoneInfo) -> datetime:
        return self.start.at(tz)


@dataclass(frozen=True, slots=True)
class View:
    """How to render: output zone, ``maxAttendees``, cancelled events as stubs."""

    tz: ZoneInfo | None = None
    max_attendees: int | None = None
    strip_cancelled: bool = False


def ordered(body: Json) -> Json:
    out = {name: body[name] for name in _ORDER if name in body}
    out.update({name: value for name, value in body.items() if name not in out})
    return out


def envelope(cal: Calendar) -> Json:
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


def view_of(params: Params, *, strip: bool) -> View:
    return View(
        tz=params.zone(),
        max_attendees=params.number("maxAttendees", None),
        strip_cancelled=strip,
    )


def render(cal: Calendar, row: Row, view: View) -> Json:
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
    return ordered(out)


def row_of(ev: StoredEvent, group: int | None = None) -> Row:
    return Row(ev.body, ev.start, ev.end, ev.order if group is None else group)


def virtual(cal: Calendar, master: StoredEvent, occ: Occurrence) -> Row:
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
    return Row(ordered(body), start, end, master.order)


def expand(cal: Calendar, master: StoredEvent, low: datetime | None, high: datetime) -> list[Row]:
    assert master.series is not None
    overridden = cal.exceptions.get(master.id, {})
    return [
        virtual(cal, master, occ)
        for occ in master.series.between(low, high)
        if occ.suffix() not in overridden
    ]
