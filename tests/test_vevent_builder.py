"""The VEVENT builder the JSON providers use makes what ``Component.add`` makes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar

from calsync.providers.vevent import new_vevent, put_address, put_int, put_text, put_time

NY = ZoneInfo("America/New_York")


def test_built_properties_serialise_like_added_ones() -> None:
    built = new_vevent("u@example.com")
    put_time(built, "DTSTART", datetime(2026, 11, 2, 9, tzinfo=NY))
    put_time(built, "DTEND", datetime(2026, 11, 2, 14, 30, tzinfo=UTC))
    put_time(built, "RECURRENCE-ID", date(2026, 11, 2))
    put_text(built, "SUMMARY", "1:1, Maria; Dev\nweekly")
    put_int(built, "SEQUENCE", 3)
    put_address(built, "ORGANIZER", "maria@example.com")
    put_address(built, "ATTENDEE", "dev@example.com", PARTSTAT="DECLINED")
    put_address(built, "ATTENDEE", "room@example.com", PARTSTAT="ACCEPTED", CUTYPE="RESOURCE")
    put_text(built, "X-CALSYNC-KEY", "pair-1")

    added = icalendar.Event()
    added.add("uid", "u@example.com")
    added.add("dtstart", datetime(2026, 11, 2, 9, tzinfo=NY))
    added.add("dtend", datetime(2026, 11, 2, 14, 30, tzinfo=UTC))
    added.add("recurrence-id", date(2026, 11, 2))
    added.add("summary", "1:1, Maria; Dev\nweekly")
    added.add("sequence", 3)
    added.add("organizer", "mailto:maria@example.com")
    added.add("attendee", "mailto:dev@example.com", parameters={"PARTSTAT": "DECLINED"})
    added.add(
        "attendee",
        "mailto:room@example.com",
        parameters={"PARTSTAT": "ACCEPTED", "CUTYPE": "RESOURCE"},
    )
    added.add("x-calsync-key", "pair-1")

    assert built.to_ical() == added.to_ical()
    assert built["DTSTART"].params["TZID"] == "America/New_York"
    assert isinstance(built["ATTENDEE"], list) and len(built["ATTENDEE"]) == 2
    assert not isinstance(built["ORGANIZER"], list)
