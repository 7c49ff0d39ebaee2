"""The pair's new 1:1 series as each writer sends it, and through the outbox codec."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calsync.engine.actions import (
    CreateSeries,
    audit_texts,
    decode,
    encode,
    series_key,
)
from calsync.model import Window
from calsync.providers.base import NewEvent
from calsync.providers.caldav.mapping import key_of, owned_object, to_events
from calsync.providers.outlook.writer import patterned_recurrence

NEW_YORK = ZoneInfo("America/New_York")
FIRST = datetime(2027, 3, 2, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York, before 14 March
KEY = series_key("maria@example.com|dev@example.com")


def series_event() -> NewEvent:
    return NewEvent(
        title="1:1 Maria / Dev",
        start=FIRST,
        end=FIRST + timedelta(minutes=30),
        organizer="maria@example.com",
        attendees=("maria@example.com", "dev@example.com"),
        description="--- calsync agenda ---",
        timezone="America/New_York",
        tags={"pair": "maria@example.com|dev@example.com", "series": "setup"},
        recurrence=("RRULE:FREQ=WEEKLY;BYDAY=TU",),
    )


def test_the_outbox_codec_keeps_the_recurrence_and_the_kind() -> None:
    action = CreateSeries("work", "maria@example.com", series_event(), "no series yet")
    kind, payload = encode(action)
    assert kind == "create_series" and payload["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=TU"]
    assert decode(kind, payload) == action
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU" in audit_texts(action)[1]


def test_graph_gets_a_patterned_recurrence_starting_on_the_local_date() -> None:
    assert patterned_recurrence(("RRULE:FREQ=WEEKLY;BYDAY=TU",), date(2027, 3, 2),
                                "America/New_York") == {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"],
                    "firstDayOfWeek": "monday"},
        "range": {"type": "noEnd", "startDate": "2027-03-02",
                  "recurrenceTimeZone": "America/New_York"},
    }
    assert patterned_recurrence(("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",), date(2027, 3, 1),
                                "UTC")["pattern"]["interval"] == 2
    monthly = patterned_recurrence(("RRULE:FREQ=MONTHLY;BYDAY=2WE",), date(2027, 3, 10), "UTC")
    assert monthly["pattern"] == {"type": "relativeMonthly", "interval": 1,
                                  "daysOfWeek": ["wednesday"], "index": "second"}
    with pytest.raises(ValueError, match="unsupported"):
        patterned_recurrence(("RRULE:FREQ=DAILY",), date(2027, 3, 1), "UTC")


def test_the_caldav_object_repeats_at_the_wall_time_over_the_dst_switch() -> None:
    data = owned_object(series_event(), KEY, FIRST)
    assert key_of(data) == KEY
    assert b"RRULE:FREQ=WEEKLY;BYDAY=TU" in data
    assert b"DTSTART;TZID=America/New_York:20270302T100000" in data
    window = Window(FIRST - timedelta(days=1), FIRST + timedelta(weeks=4))
    events, warnings, _ = to_events([("s.ics", '"1"', data)], "http://dav/cal/", window,
                                    NEW_YORK)
    assert warnings == []
    starts = sorted(e.start for e in events if e.original_start is not None)
    # 10:00 in New York each Tuesday: 15:00 UTC before 14 March, 14:00 UTC after.
    assert [s.astimezone(NEW_YORK).hour for s in starts] == [10] * 5
    assert [s.hour for s in starts] == [15, 15, 14, 14, 14]
