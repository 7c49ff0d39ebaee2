"""The expansion builds one component's later rows from its first one, without Event.__init__.

Every occurrence must be exactly what ``Event(...)`` would have built from the
same values: the same fields, validated the same way.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.model import Event, EventStatus, Window
from calsync.providers import expand
from calsync.providers.expand import parse_calendar

NOW = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=60))
BERLIN = ZoneInfo("Europe/Berlin")

SERIES = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:weekly@example.com
DTSTART;TZID=Europe/Berlin:20260105T100000
DTEND;TZID=Europe/Berlin:20260105T103000
RRULE:FREQ=WEEKLY;BYDAY=MO
EXDATE;TZID=Europe/Berlin:20260309T100000
SUMMARY:1:1 Ann / Bob
DESCRIPTION:Agenda
ORGANIZER:mailto:Ann@Example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.com
ATTENDEE;PARTSTAT=DECLINED:mailto:BOB@example.com
X-CALSYNC-KEY:k1
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20260316T100000
DTSTART;TZID=Europe/Berlin:20260316T150000
DTEND;TZID=Europe/Berlin:20260316T153000
SUMMARY:1:1 Ann / Bob (moved)
END:VEVENT
BEGIN:VEVENT
UID:cancelled@example.com
DTSTART:20260202T090000Z
DTEND:20260202T091500Z
RRULE:FREQ=DAILY;COUNT=40
STATUS:CANCELLED
SUMMARY:Standup
END:VEVENT
END:VCALENDAR
"""


def test_every_field_of_an_event_is_either_shared_by_a_component_or_set_per_row() -> None:
    per_row = {"start", "end", "original_start", "recurrence", "status", "remote_id", "etag"}
    shared = set(expand._SHARED_FIELDS)
    assert shared.isdisjoint(per_row)
    assert shared | per_row == {f.name for f in fields(Event)}


def test_each_row_is_what_the_event_constructor_builds_from_its_values() -> None:
    events, warnings = parse_calendar(SERIES, "test.ics", WINDOW, BERLIN)
    assert warnings == []
    occurrences = [e for e in events if e.original_start is not None]
    assert len(occurrences) > 40
    for event in events:
        rebuilt = replace(event)  # runs Event.__init__ and its checks on the same values
        assert rebuilt == event
        assert [type(getattr(rebuilt, f.name)) for f in fields(Event)] == [
            type(getattr(event, f.name)) for f in fields(Event)
        ]
        assert event.start.tzinfo is UTC and event.end.tzinfo is UTC
    weekly = [e for e in occurrences if e.uid == "weekly@example.com"]
    from_master = [e for e in weekly if e.title == "1:1 Ann / Bob"]
    assert {e.organizer for e in from_master} == {"ann@example.com"}  # normalized
    assert {dict(e.tags)["key"] for e in from_master} == {"k1"}
    assert {a.email for e in from_master for a in e.attendees} == {
        "ann@example.com", "bob@example.com"
    }
    by_original = {e.original_start: e for e in weekly}
    exdate = datetime(2026, 3, 9, 9, tzinfo=UTC)
    assert by_original[exdate].status is EventStatus.CANCELLED
    moved = by_original[datetime(2026, 3, 16, 9, tzinfo=UTC)]
    assert moved.title == "1:1 Ann / Bob (moved)" and moved.start.hour == 14
    assert all(e.status is EventStatus.CONFIRMED for e in weekly if e not in (by_original[exdate],))
    standups = [e for e in occurrences if e.uid == "cancelled@example.com"]
    assert standups and all(e.status is EventStatus.CANCELLED for e in standups)
    assert len({e.key for e in events}) == len(events)
