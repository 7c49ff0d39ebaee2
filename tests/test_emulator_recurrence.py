"""The emulators' recurrence walk: occurrences kept once generated, the same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators import google_recurrence
from calsync_emulators.google_recurrence import Series, When
from dateutil.rrule import WEEKLY, rrule

NY = ZoneInfo("America/New_York")
START = datetime(2026, 1, 5, 10, 0, tzinfo=NY)  # a Monday, before the March DST change


def _weekly() -> Series:
    return Series(
        When(instant=START.astimezone(UTC), tz="America/New_York"),
        When(instant=(START + timedelta(minutes=30)).astimezone(UTC), tz="America/New_York"),
        ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=America/New_York:20260302T100000"],
        "America/New_York",
    )


def _expected(low: datetime, high: datetime) -> list[datetime]:
    every = rrule(WEEKLY, dtstart=START.replace(tzinfo=None), until=high.astimezone(NY)
                  .replace(tzinfo=None))
    return [
        moment.replace(tzinfo=NY).astimezone(UTC) for moment in every
        if moment != datetime(2026, 3, 2, 10, 0)
        and low < moment.replace(tzinfo=NY).astimezone(UTC) + timedelta(minutes=30)
        and moment.replace(tzinfo=NY).astimezone(UTC) < high
    ]


@pytest.mark.parametrize("kept", [3, google_recurrence.MOMENTS_KEPT])
def test_windows_in_any_order_give_the_rules_occurrences(monkeypatch, kept):
    """Later windows first, then earlier ones, then one far ahead: walked once, read
    back from what was kept, and past the keeping limit from dateutil again."""
    monkeypatch.setattr(google_recurrence, "MOMENTS_KEPT", kept)
    series = _weekly()
    windows = [
        (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)),
        (datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC)),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC)),
        (datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)),
    ]
    for low, high in windows:
        assert [o.start for o in series.between(low, high)] == _expected(low, high)
    monday = datetime(2026, 3, 9, 10, 0, tzinfo=NY)  # the first Monday in summer time
    found = series.find(monday.astimezone(UTC), None)
    assert found is not None and found.start == monday.astimezone(UTC)
    assert series.find(datetime(2026, 3, 2, 10, 0, tzinfo=NY).astimezone(UTC), None) is None
