"""The recurring slot proposed to a pair with no 1:1 series (policies.recurring_slot).

New York and Berlin switch to summer time two weeks apart in March 2027
(14 and 28 March) and back one week apart in autumn (31 October, 7 November):
in between, Berlin is five hours ahead instead of six.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from calsync.policies.recurring_slot import SeriesRequest, propose_series
from calsync.policies.slots import Availability
from calsync.timeutil import Cadence, WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HALF_HOUR = timedelta(minutes=30)


def person(email: str, zone: ZoneInfo, hours: str,
           busy: tuple[tuple[datetime, datetime], ...] = ()) -> Availability:
    return Availability(email=email, zone=zone, hours=WorkingHours.parse(hours), busy=busy)


def daily(zone: ZoneInfo, start: time, end: time, first: date, days: int,
          weekdays: range = range(5)) -> tuple[tuple[datetime, datetime], ...]:
    """A busy block at the same wall time on every working day (a recurring meeting)."""
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day.weekday() in weekdays:
            out.append((datetime.combine(day, start, zone), datetime.combine(day, end, zone)))
    return tuple(out)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The manager in Berlin is busy 13:00-16:00 every working day, the report in
# New York works 08:00-11:00. In winter and in summer (offset 6 h) Berlin
# 16:00-16:30 is New York 10:00-10:30; between the switches (offset 5 h) it is
# 11:00-11:30, after the report's day: no slot then.
MANAGER_BUSY = daily(BERLIN, time(13), time(16), date(2026, 12, 1), 400)


def gap_request(report_hours: str = "Mon-Fri 08:00-11:00") -> SeriesRequest:
    return SeriesRequest(
        people=(
            person("mia@example.com", BERLIN, "Mon-Fri 09:00-17:00", MANAGER_BUSY),
            person("noah@example.com", NEW_YORK, report_hours),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )


def assert_inside_hours(request: SeriesRequest, starts: tuple[datetime, ...]) -> None:
    for start in starts:
        for who in request.people:
            assert who.hours.contains(start, start + request.duration, who.zone), (who.email, start)


@pytest.mark.parametrize("now", [
    at("2027-01-04T12:00"),  # winter: the eight weeks end before 14 March
    at("2027-03-29T12:00"),  # both on summer time
    at("2027-11-08T12:00"),  # both back on winter time
])
def test_the_edge_slot_is_proposed_when_no_checked_week_falls_between_the_switches(
    now: datetime,
) -> None:
    request = gap_request()
    proposal = propose_series(request, now)
    assert proposal is not None
    assert (proposal.weekday, proposal.local_start, proposal.zone) == (0, time(16), "Europe/Berlin")
    assert proposal.rrule == "RRULE:FREQ=WEEKLY;BYDAY=MO"
    assert (proposal.free, proposal.total) == (8, 8)
    assert proposal.text == (
        "Mondays 16:00–16:30 Berlin (10:00 New York), free 8 of the next 8 weeks")
    assert proposal.first_start > now
    assert [s.astimezone(BERLIN).time() for s in proposal.starts] == [time(16)] * 8
    assert_inside_hours(request, proposal.starts)


@pytest.mark.parametrize("now", [
    at("2027-02-22T12:00"),  # before the March switches; weeks 3-4 fall between them
    at("2027-03-16T12:00"),  # between the March switches
    at("2027-10-04T12:00"),  # the autumn gap (31 Oct - 7 Nov) is inside the eight weeks
])
def test_no_slot_is_proposed_that_leaves_working_hours_between_the_two_switches(
    now: datetime,
) -> None:
    assert propose_series(gap_request(), now) is None


def test_the_same_search_proposes_the_slot_when_the_report_works_late_enough_for_the_gap() -> None:
    # Control for the test above: half an hour more for the report covers the gap.
    request = gap_request("Mon-Fri 08:00-11:30")
    proposal = propose_series(request, at("2027-02-22T12:00"))
    assert proposal is not None
    assert (proposal.weekday, proposal.local_start) == (0, time(16))
    in_gap = [s for s in proposal.starts if at("2027-03-14T07:00") <= s < at("2027-03-28T01:00")]
    assert [s.astimezone(NEW_YORK).time() for s in in_gap] == [time(11), time(11)]
    assert_inside_hours(request, proposal.starts)


def test_the_manager_zone_rules_and_the_middle_of_both_days_wins() -> None:
    # Winter: New York 09:00-17:00 and Berlin 09:00-17:00 overlap 09:00-11:00 New York.
    request = SeriesRequest(
        people=(
            person("ana@example.com", NEW_YORK, "Mon-Fri 09:00-17:00"),
            person("ben@example.com", BERLIN, "Mon-Fri 09:00-17:00"),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )
    proposal = propose_series(request, at("2026-12-07T18:00"))  # a Monday evening
    assert proposal is not None
    # Nearest both middles (13:00 each): 09:45-10:15 New York is 15:45-16:15 Berlin.
    assert (proposal.weekday, proposal.local_start, proposal.zone) == (
        0, time(9, 45), "America/New_York")
    assert proposal.first_start == at("2026-12-14T14:45")  # next Monday, not today
    assert proposal.text.startswith("Mondays 09:45–10:15 New York (15:45 Berlin), free 8 of")


def test_a_recurring_conflict_on_one_calendar_is_avoided() -> None:
    # The report's standing Monday and Tuesday morning meeting covers the whole overlap.
    report_busy = daily(BERLIN, time(14), time(17), date(2026, 12, 1), 120, range(2))
    request = SeriesRequest(
        people=(
            person("ana@example.com", NEW_YORK, "Mon-Fri 09:00-17:00"),
            person("ben@example.com", BERLIN, "Mon-Fri 09:00-17:00", report_busy),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )
    proposal = propose_series(request, at("2026-12-07T18:00"))
    assert proposal is not None
    assert proposal.weekday == 2  # Wednesday: the earliest day the conflict leaves free
    assert proposal.conflicts == ()
    assert proposal.text.startswith("Wednesdays 09:45–10:15 New York")


def test_early_week_is_preferred_and_a_week_with_a_conflict_is_reported() -> None:
    # One Monday (21 Dec) the manager is away all day: 7 of 8 Mondays still beats Tuesday.
    away = ((datetime(2026, 12, 21, tzinfo=NEW_YORK), datetime(2026, 12, 22, tzinfo=NEW_YORK)),)
    request = SeriesRequest(
        people=(
            Availability("ana@example.com", NEW_YORK, WorkingHours.parse("Mon-Fri 09:00-17:00"),
                         busy=(), out_of_office=away),
            person("ben@example.com", BERLIN, "Mon-Fri 09:00-17:00"),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )
    proposal = propose_series(request, at("2026-12-07T18:00"))
    assert proposal is not None
    assert proposal.weekday == 0
    assert proposal.conflicts == (at("2026-12-21T14:45"),)
    assert proposal.text.endswith("free 7 of the next 8 weeks (busy Mon 21 Dec)")


def test_fewer_than_three_quarters_free_moves_to_another_day() -> None:
    mondays = tuple(
        (datetime(2026, 12, d, tzinfo=NEW_YORK), datetime(2026, 12, d + 1, tzinfo=NEW_YORK))
        for d in (14, 21, 28)
    )
    request = SeriesRequest(
        people=(
            person("ana@example.com", NEW_YORK, "Mon-Fri 09:00-17:00", mondays),
            person("ben@example.com", BERLIN, "Mon-Fri 09:00-17:00"),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )
    proposal = propose_series(request, at("2026-12-07T18:00"))
    assert proposal is not None
    assert proposal.weekday == 1 and proposal.conflicts == ()


def test_biweekly_and_monthly_cadences_repeat_as_their_rrule_says() -> None:
    people = (
        person("ana@example.com", NEW_YORK, "Mon-Fri 09:00-17:00"),
        person("ben@example.com", BERLIN, "Mon-Fri 09:00-17:00"),
    )
    now = at("2026-12-07T18:00")
    biweekly = propose_series(SeriesRequest(people, HALF_HOUR, Cadence(weeks=2)), now)
    assert biweekly is not None
    assert biweekly.rrule == "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
    assert biweekly.total == 4
    assert biweekly.starts[1] - biweekly.starts[0] == timedelta(weeks=2)
    assert Cadence.from_rrule(biweekly.rrule) == Cadence(weeks=2)
    assert biweekly.text.startswith("every other Monday 09:45–10:15 New York")
    monthly = propose_series(SeriesRequest(people, HALF_HOUR, Cadence(monthly=True)), now)
    assert monthly is not None
    assert monthly.rrule == "RRULE:FREQ=MONTHLY;BYDAY=2MO"  # Monday 14 December
    assert [s.astimezone(NEW_YORK).date() for s in monthly.starts] == [
        date(2026, 12, 14), date(2027, 1, 11), date(2027, 2, 8), date(2027, 3, 8)]
    assert Cadence.from_rrule(monthly.rrule) == Cadence(monthly=True)


def test_no_overlap_of_working_hours_means_no_proposal() -> None:
    request = SeriesRequest(
        people=(
            person("ana@example.com", NEW_YORK, "Mon-Fri 13:00-17:00"),
            person("ben@example.com", BERLIN, "Mon-Fri 08:00-12:00"),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=1),
    )
    assert propose_series(request, at("2026-12-07T18:00")) is None


ZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Sao_Paulo",
         "Australia/Sydney", "Europe/London", "UTC")


@settings(max_examples=40, deadline=None)
@given(
    zones=st.tuples(st.sampled_from(ZONES), st.sampled_from(ZONES)),
    starts=st.tuples(st.integers(5, 12), st.integers(5, 12)),
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31),
                     timezones=st.just(UTC)),
    weeks=st.sampled_from([1, 2, 3]),
    busy_days=st.lists(st.integers(0, 80), max_size=12),
)
def test_a_proposal_always_fits_both_days_every_time_and_is_mostly_free(
    zones: tuple[str, str], starts: tuple[int, int], now: datetime, weeks: int,
    busy_days: list[int],
) -> None:
    manager_zone, report_zone = (ZoneInfo(z) for z in zones)
    # Whole days busy for the report: conflicts the proposal must count.
    first = now.astimezone(report_zone).date()
    busy = tuple(
        (datetime.combine(first + timedelta(days=d), time(0), report_zone),
         datetime.combine(first + timedelta(days=d + 1), time(0), report_zone))
        for d in busy_days
    )
    manager_hours, report_hours = (f"Mon-Fri {h:02d}:00-{h + 8:02d}:00" for h in starts)
    request = SeriesRequest(
        people=(
            person("m@example.com", manager_zone, manager_hours),
            person("r@example.com", report_zone, report_hours, busy),
        ),
        duration=HALF_HOUR,
        cadence=Cadence(weeks=weeks),
    )
    proposal = propose_series(request, now)
    assume(proposal is not None)  # days that never overlap (Sydney and New York, say)
    assert proposal is not None
    assert proposal.first_start > now
    assert_inside_hours(request, proposal.starts)
    assert {s.astimezone(manager_zone).time() for s in proposal.starts} == {proposal.local_start}
    assert {s.astimezone(manager_zone).weekday() for s in proposal.starts} == {proposal.weekday}
    busy_starts = {s for s in proposal.starts if any(lo < s + HALF_HOUR and s < hi
                                                       for lo, hi in busy)}
    assert set(proposal.conflicts) == busy_starts
    assert proposal.free * 4 >= proposal.total * 3
