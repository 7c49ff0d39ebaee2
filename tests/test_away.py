"""Leave, out of office and public holidays excuse a missed 1:1: the pure policies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.model import Event, EventStatus
from calsync.policies import evaluate_pair
from calsync.policies.away import (
    AwaySpan,
    away_days,
    away_time,
    day_range,
    holiday_spans,
    spans_from_events,
)
from calsync.policies.bumps import detect_bumps
from calsync.policies.health import adherence
from calsync.policies.types import Status
from calsync.providers.away import OUT_OF_OFFICE, away_reason, title_says_away
from tests.builders import MANAGER, POLICY, REPORT, pair_params, series, week

PAIR = pair_params()
NEW_YORK = ZoneInfo("America/New_York")


def leave(first: datetime, days: int, owner: str = REPORT) -> Event:
    """An all-day block the provider tagged out of office, in the owner's calendar."""
    start = datetime.combine(first.date(), datetime.min.time(), tzinfo=NEW_YORK)
    return Event(uid=f"ooo-{owner}-{first:%m%d}", start=start, end=start + timedelta(days=days),
                 title="Out of office", all_day=True, organizer=owner,
                 tags={"away": OUT_OF_OFFICE})


def with_leave(calendars: dict[str, list[Event]], *events: Event) -> dict[str, list[Event]]:
    out = {owner: list(found) for owner, found in calendars.items()}
    for event in events:
        out[event.organizer or REPORT].append(event)
    return out


def away_from(calendars: dict[str, list[Event]]) -> dict[str, list[AwaySpan]]:
    return {person: spans_from_events(calendars[person], person) for person in calendars}


# Two weeks of vacation (weeks 8 and 9), both 1:1s cancelled; now is Friday of week 9.
OUTCOMES = ["held"] * 8 + ["cancelled", "cancelled"] + ["held"] * 3
NOW = week(9) + timedelta(days=4)


def two_weeks_away() -> dict[str, list[Event]]:
    return with_leave(series(OUTCOMES), leave(week(8), 12))


def test_without_leave_two_cancellations_are_flagged():
    calendars = series(OUTCOMES)
    health = evaluate_pair(calendars, PAIR, POLICY, NOW, away=away_from(calendars))
    kinds = {f.kind for f in health.findings}
    assert {"repeated_cancellations", "cancellation_streak"} <= kinds


def test_vacation_excuses_the_cancelled_ones_no_flag_adherence_unchanged():
    calendars = two_weeks_away()
    away = away_from(calendars)
    health = evaluate_pair(calendars, PAIR, POLICY, NOW, away=away)
    by_start = {o.original_start: o for o in health.occurrences}
    for index in (8, 9):
        assert by_start[week(index)].status is Status.EXCUSED
        assert by_start[week(index)].reason == "Dev away (out of office)"
        assert by_start[week(index)].by is None
    assert not {f.kind for f in health.findings} & {
        "repeated_cancellations", "cancellation_streak", "cadence_gap", "no_upcoming"}
    # Neither kept nor missed: out of the denominator, so still a perfect record.
    assert health.adherence_4 == 1.0 and health.adherence_12 == 1.0
    assert health.bumped_by == {}
    # The last held one is week 7's; the next is week 10's.
    assert health.last_held == week(7)
    assert health.next_start == week(10)


def test_an_excused_one_neither_breaks_nor_extends_a_streak():
    outcomes = ["held"] * 6 + ["cancelled", "cancelled", "cancelled"] + ["held"]
    calendars = with_leave(series(outcomes), leave(week(7), 5))
    now = week(8) + timedelta(days=4)
    health = evaluate_pair(calendars, PAIR, POLICY, now, away=away_from(calendars))
    streak = next(f for f in health.findings if f.kind == "cancellation_streak")
    # Weeks 6 and 8 were cancelled; week 7 (on leave) is skipped, not a break.
    assert streak.evidence == (week(6), week(8))
    occurrences = [o for o in health.occurrences if o.original_start <= week(8)]
    # The last four that count: weeks 4, 5 (held), 6 and 8 (cancelled).
    assert adherence(occurrences, now, 4) == 0.5


def test_a_cancellation_the_day_after_returning_still_counts():
    # Away Mon week 8 to Sun week 8 (7 days); the 1:1 of week 9, the day after, cancelled.
    outcomes = ["held"] * 8 + ["cancelled", "cancelled"] + ["held"] * 3
    back = week(8).replace(hour=0) - timedelta(days=1)
    calendars = with_leave(series(outcomes), leave(back, 8))
    health = evaluate_pair(calendars, PAIR, POLICY, NOW, away=away_from(calendars))
    by_start = {o.original_start: o for o in health.occurrences}
    assert by_start[week(8)].status is Status.EXCUSED
    assert by_start[week(9)].status is Status.CANCELLED
    # Weeks 5-7 held, week 9 cancelled: the cancellation is counted, week 8 is not.
    assert health.adherence_4 == 0.75


def test_a_held_one_during_leave_stays_held():
    calendars = with_leave(series(["held"] * 10), leave(week(8), 5))
    health = evaluate_pair(calendars, PAIR, POLICY, NOW, away=away_from(calendars))
    assert {o.status for o in health.occurrences if o.original_start < NOW} == {Status.HELD}


def test_the_cadence_gap_is_measured_over_time_both_were_present():
    # Three weeks away, all cancelled: 26 days since the last 1:1, 21 of them away.
    outcomes = ["held"] * 8 + ["cancelled"] * 3 + ["held"] * 2
    now = week(10) + timedelta(days=5)
    plain = series(outcomes)
    assert "cadence_gap" in {f.kind for f in evaluate_pair(plain, PAIR, POLICY, now).findings}
    calendars = with_leave(plain, leave(week(8) - timedelta(days=2), 21))
    health = evaluate_pair(calendars, PAIR, POLICY, now, away=away_from(calendars))
    assert "cadence_gap" not in {f.kind for f in health.findings}
    # Away for only part of it: the gap left over is still a gap, and says so.
    short = with_leave(plain, leave(week(8), 3))
    health = evaluate_pair(short, PAIR, POLICY, now, away=away_from(short))
    gap = next(f for f in health.findings if f.kind == "cadence_gap")
    assert "not counting 3 days away" in gap.message


def test_an_upcoming_one_during_leave_is_no_bump_and_gets_no_make_up():
    # Dev is away next Monday (week 10); the manager cancelled it already.
    outcomes = ["held"] * 10 + ["cancelled"] + ["held"] * 2
    calendars = with_leave(series(outcomes), leave(week(10), 5))
    health = evaluate_pair(calendars, PAIR, POLICY, NOW, away=away_from(calendars))
    ahead = next(o for o in health.occurrences if o.original_start == week(10))
    assert ahead.status is Status.EXCUSED
    assert detect_bumps(health.occurrences, calendars, PAIR, NOW) == []
    plain = evaluate_pair(series(outcomes), PAIR, POLICY, NOW)
    assert [b.original_start for b in detect_bumps(plain.occurrences, series(outcomes),
                                                     PAIR, NOW)] == [week(10)]


def test_a_manager_holiday_excuses_with_the_holiday_name():
    # Thursday 26 Nov 2026 is Thanksgiving; a weekly Thursday 1:1 cancelled for it.
    first = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)
    calendars = series(["held"] * 8 + ["cancelled"] + ["held"] * 2, first=first,
                       rrule="RRULE:FREQ=WEEKLY;BYDAY=TH")
    spans = holiday_spans("US-CA", NEW_YORK, date(2026, 1, 1), date(2026, 12, 31))
    now = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    health = evaluate_pair(calendars, PAIR, POLICY, now, away={MANAGER: spans, REPORT: []})
    thanksgiving = next(o for o in health.occurrences if o.original_start.day == 26)
    assert thanksgiving.status is Status.EXCUSED
    assert thanksgiving.reason == "public holiday: Thanksgiving Day"
    assert health.adherence_4 == 1.0


def test_declined_or_cancelled_out_of_office_blocks_are_not_leave():
    block = leave(week(8), 5)
    cancelled = Event(**{**_fields(block), "uid": "x", "status": EventStatus.CANCELLED})
    assert spans_from_events([block], REPORT) != []
    assert spans_from_events([cancelled], REPORT) == []


def _fields(event: Event) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


def test_away_time_days_and_ranges():
    zone = ZoneInfo("Europe/Berlin")
    a = AwaySpan(datetime(2026, 11, 16, tzinfo=zone), datetime(2026, 11, 21, tzinfo=zone), "x")
    b = AwaySpan(datetime(2026, 11, 23, tzinfo=zone), datetime(2026, 11, 28, tzinfo=zone), "x")
    assert day_range([a, b], zone) == "16\u201327 Nov"
    assert away_time({"p": [a, b], "q": [a]}, a.start, b.end) == timedelta(days=10)
    # A half day away blocks the whole local day for make-ups.
    half = AwaySpan(datetime(2026, 11, 30, 13, tzinfo=zone),
                    datetime(2026, 11, 30, 17, tzinfo=zone), "x")
    assert away_days([half], zone) == [(datetime(2026, 11, 30, tzinfo=zone),
                                        datetime(2026, 12, 1, tzinfo=zone))]


@pytest.mark.parametrize("title", [
    "OOO", "PTO", "Vacation", "Out of office", "Annual leave", "On leave", "Sick",
    "Urlaub", "Congé", "congés", "Vacances", "Vacaciones", "Férias", "Ana - PTO", "Leave",
    "Public holiday",
])
def test_all_day_titles_that_say_away(title: str):
    assert title_says_away(title)
    assert away_reason("", title, all_day=True) == OUT_OF_OFFICE


@pytest.mark.parametrize("title", [
    "Leave planning sync", "Holiday party", "Vacation policy review", "Leaving drinks",
    "Offsite", "Sprint planning", "Oooh cake", "Urlaubsplanung",
])
def test_titles_that_do_not_say_away(title: str):
    assert not title_says_away(title)


def test_a_timed_event_needs_the_oof_mark_not_just_a_title():
    assert away_reason("", "Vacation", all_day=False) is None
    assert away_reason("OOF", "Dentist", all_day=False) == OUT_OF_OFFICE
    assert away_reason("BUSY", "Dentist", all_day=False) is None


def test_holiday_regions_are_validated_and_normalised(tmp_path):
    from pathlib import Path

    from calsync.config import ConfigError, settings_from_dict

    def load(region: str):
        return settings_from_dict({
            "providers": {"feeds": {"kind": "ics", "path": "calendars"}},
            "people": [{"email": MANAGER, "provider": "feeds", "holidays": region}],
        }, source=Path(tmp_path) / "calsync.toml")

    assert load("us-ca").person(MANAGER).holidays == "US-CA"
    assert load("DE").person(MANAGER).holidays == "DE"
    with pytest.raises(ConfigError, match=r"people\[0\]\.holidays: 'XX': unknown country"):
        load("XX")
    with pytest.raises(ConfigError, match=r"DE has no subdivision 'ZZ' \(known: BB, BE"):
        load("DE-ZZ")


_OUTCOMES = st.lists(st.sampled_from(["held", "cancelled", "declined_report", "short:15",
                                      "moved:50"]), min_size=4, max_size=14)


@settings(max_examples=60, deadline=None)
@given(outcomes=_OUTCOMES, away_weeks=st.sets(st.integers(0, 13), max_size=6),
       who=st.sampled_from([MANAGER, REPORT]))
def test_leave_never_counts_against_a_pair(outcomes, away_weeks, who):
    """Whatever happened and whoever was away: an excused 1:1 is in no count and no
    evidence, only 1:1s that did not take place are excused, and adherence is the
    share kept of those that were not excused."""
    calendars = series(outcomes)
    leave_events = [leave(week(i), 5, owner=who) for i in sorted(away_weeks)]
    calendars = with_leave(calendars, *leave_events)
    now = week(len(outcomes)) + timedelta(days=1)
    health = evaluate_pair(calendars, PAIR, POLICY, now, away=away_from(calendars))
    excused = {o.original_start for o in health.occurrences if o.status is Status.EXCUSED}
    plain = evaluate_pair(series(outcomes), PAIR, POLICY, now)
    before = {o.original_start: o for o in plain.occurrences}
    for start in excused:
        assert not before[start].kept  # a 1:1 that took place stays what it was
        assert any(week(i) <= start < week(i) + timedelta(days=5) for i in away_weeks)
    for finding in health.findings:
        assert not excused & set(finding.evidence)
    counted = [o for o in health.occurrences
               if o.original_start < now and o.status is not Status.EXCUSED]
    if counted:
        expected = sum(o.kept for o in counted[-4:]) / len(counted[-4:])
        assert health.adherence_4 == pytest.approx(expected)
    assert sum(health.bumped_by.values()) <= sum(plain.bumped_by.values())
