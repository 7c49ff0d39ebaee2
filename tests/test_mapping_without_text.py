"""Google and Graph resources reach the expansion as objects: no calendar is written as text.

Writing every resource out as ICS and parsing it back was about 85 % of a
Google full sync. These tests make any whole-calendar ``to_ical``/``from_ical``
on the mapping path fail, and still get a series with a moved, a cancelled and
a deleted occurrence out of both mappings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from calsync.model import EventStatus, Window
from calsync.providers.google import mapping as google_mapping
from calsync.providers.outlook import mapping as graph_mapping

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=30))
NY = ZoneInfo("America/New_York")
UID = "maria-dev-1on1@example.com"


@pytest.fixture(autouse=True)
def no_calendar_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a whole calendar went through text")

    monkeypatch.setattr(icalendar.Calendar, "to_ical", refuse)
    monkeypatch.setattr(icalendar.Calendar, "from_ical", classmethod(refuse))


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _by_original(events):
    return {e.original_start: e for e in events if e.is_occurrence}


def test_google_series_with_a_moved_and_a_cancelled_instance() -> None:
    master = {
        "id": "m1",
        "iCalUID": UID,
        "summary": "Maria / Dev 1:1",
        "start": {"dateTime": "2026-11-02T09:00:00-05:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-11-02T09:30:00-05:00", "timeZone": "America/New_York"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=America/New_York:20261130T090000"],
        "attendees": [{"email": "maria@example.com"}, {"email": "dev@example.com"}],
    }
    moved = {
        "id": "m1_20261109T140000Z",
        "recurringEventId": "m1",
        "summary": "Maria / Dev 1:1 (moved)",
        "originalStartTime": {"dateTime": "2026-11-09T09:00:00-05:00"},
        "start": {"dateTime": "2026-11-09T11:00:00-05:00"},
        "end": {"dateTime": "2026-11-09T11:30:00-05:00"},
    }
    cancelled = {
        "id": "m1_20261116T140000Z",
        "recurringEventId": "m1",
        "status": "cancelled",
        "originalStartTime": {"dateTime": "2026-11-16T09:00:00-05:00"},
    }
    events, warnings = google_mapping.to_events([cancelled, moved, master], "maria", WINDOW, NY)
    assert list(warnings) == []
    rows = _by_original(events)
    assert rows[_at(9, 14)].start == _at(9, 16)
    assert rows[datetime(2026, 11, 9, 14, tzinfo=UTC)].remote_id == "m1_20261109T140000Z"
    assert rows[datetime(2026, 11, 16, 14, tzinfo=UTC)].status is EventStatus.CANCELLED
    assert rows[datetime(2026, 11, 30, 14, tzinfo=UTC)].status is EventStatus.CANCELLED
    assert rows[datetime(2026, 11, 23, 14, tzinfo=UTC)].status is EventStatus.CONFIRMED
    master_rows = [e for e in events if e.is_series]
    assert [e.remote_id for e in master_rows] == ["m1"]


def test_graph_series_with_an_exception_and_a_deleted_occurrence() -> None:
    master = {
        "id": "M",
        "iCalUId": UID,
        "type": "seriesMaster",
        "subject": "Maria / Dev 1:1",
        "start": {"dateTime": "2026-11-02T14:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-02T14:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Eastern Standard Time",
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 4},
        },
    }

    def occurrence(day: int, **extra: object) -> dict:
        start = datetime(2026, 11, day, 14, tzinfo=UTC)
        return {
            "id": f"O{day}",
            "type": "occurrence",
            "seriesMasterId": "M",
            "start": {"dateTime": f"{start:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": "UTC"},
            "end": {"dateTime": f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%M:%S}.0000000",
                    "timeZone": "UTC"},
            **extra,
        }

    moved = {
        **occurrence(9),
        "type": "exception",
        "originalStart": "2026-11-09T14:00:00Z",
        "start": {"dateTime": "2026-11-09T16:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-09T16:30:00.0000000", "timeZone": "UTC"},
    }
    # Nov 16 has no instance: deleted.
    series = graph_mapping.SeriesData(master, [occurrence(2), moved, occurrence(23)])
    events, warnings = graph_mapping.to_events([], [series], "maria", WINDOW, NY, "maria@x")
    assert list(warnings) == []
    rows = _by_original(events)
    assert rows[_at(9, 14)].start == _at(9, 16)
    assert rows[datetime(2026, 11, 16, 14, tzinfo=UTC)].status is EventStatus.CANCELLED
    assert rows[datetime(2026, 11, 23, 14, tzinfo=UTC)].remote_id == "O23"
