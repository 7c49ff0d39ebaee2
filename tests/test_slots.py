"""The slot finder for bumped 1:1s, on plain data (free/busy, working hours, zones)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from calsync.policies.slots import (
    Availability,
    SlotRequest,
    cadence_slot_window,
    candidate_starts,
    find_slots,
)
from calsync.timeutil import Cadence, WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
SYDNEY = ZoneInfo("Australia/Sydney")
WEEKLY = Cadence(weeks=1)
MIN = timedelta(minutes=1)


def at(zone: ZoneInfo, day: date, hh: int, mm: int = 0) -> datetime:
    """A local wall time as a UTC instant."""
    return datetime.combine(day, time(hh, mm), zone).astimezone(UTC)


def person(
    name: str,
    zone: ZoneInfo,
    hours: str = "Mon-Fri 09:00-17:00",
    busy: tuple[tuple[datetime, datetime], ...] = (),
    ooo: tuple[tuple[datetime, datetime], ...] = (),
) -> Availability:
    return Availability(
        email=f"{name.lower()}@example.com",
        zone=zone,
        hours=WorkingHours.parse(hours),
        busy=busy,
        out_of_office=ooo,
        name=name,
    )


def weekly_request(
    original: datetime, people: tuple[Availability, ...], now: datetime, **overrides: object
) -> SlotRequest:
    """A weekly 1:1's make-up request: the window cadence_slot_window gives."""
    window_start, window_end = cadence_slot_window(
        original, original + timedelta(weeks=1), now, WEEKLY
    )
    values: dict[str, object] = {
        "original_start": original,
        "duration": 30 * MIN,
        "min_duration": 15 * MIN,
        "window_start": window_start,
        "window_end": window_end,
        "people": people,
    }
    values.update(overrides)
    return SlotRequest(**values)  # type: ignore[arg-type]


def local_starts(slots, zone: ZoneInfo) -> list[str]:
    return [f"{s.start.astimezone(zone):%a %H:%M}" for s in slots]


# Tuesday 24 November 2026, 10:00 in Berlin: the regular 1:1 of Lena and Tom.
TUE = date(2026, 11, 24)
WED, THU, FRI, MON = (TUE + timedelta(days=n) for n in (1, 2, 3, 6))
ORIGINAL = at(BERLIN, TUE, 10)
BEFORE = at(BERLIN, TUE, 8)  # "now": the morning it got bumped


def berlin_pair(lena_busy=(), tom_busy=(), lena_ooo=()) -> tuple[Availability, ...]:
    return (
        person("Lena", BERLIN, busy=tuple(lena_busy), ooo=tuple(lena_ooo)),
        person("Tom", BERLIN, busy=tuple(tom_busy)),
    )


def busy_day(day: date, zone: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    return at(zone, day, 0), at(zone, day + timedelta(days=1), 0)


# -- the window -------------------------------------------------------------------


def test_cadence_slot_window_is_half_a_period_back_and_a_seventh_before_the_next():
    now = ORIGINAL - timedelta(days=10)
    start, end = cadence_slot_window(ORIGINAL, ORIGINAL + timedelta(weeks=1), now, WEEKLY)
    assert start == ORIGINAL - timedelta(days=3, hours=12)
    assert end == ORIGINAL + timedelta(days=6)


def test_cadence_slot_window_never_starts_in_the_past():
    now = ORIGINAL + timedelta(hours=3)
    start, end = cadence_slot_window(
        ORIGINAL, ORIGINAL + timedelta(weeks=2), now, Cadence(weeks=2), min_gap=timedelta(hours=4)
    )
    assert start == now
    assert end == ORIGINAL + timedelta(weeks=2) - timedelta(hours=4)


# -- ranking ------------------------------------------------------------------------


def test_same_day_later_comes_first_after_the_bumping_meeting_and_its_buffer():
    # An all-hands runs 10:00-11:00 over Lena's 1:1: 11:00 + 10 min buffer -> 11:15.
    people = berlin_pair(lena_busy=[(at(BERLIN, TUE, 10), at(BERLIN, TUE, 11))])
    result = find_slots(weekly_request(ORIGINAL, people, BEFORE), BEFORE)
    assert local_starts(result.slots, BERLIN) == ["Tue 11:15", "Tue 11:30", "Tue 11:45"]
    assert result.slots[0].reason == "same day, 1 h 15 min later"
    assert result.slots[0].end - result.slots[0].start == 30 * MIN
    assert not result.slots[0].shortened
    assert result.finding is None


def test_following_days_rank_by_nearest_time_of_day():
    people = berlin_pair(
        lena_busy=[busy_day(TUE)],
        tom_busy=[(at(BERLIN, WED, 9), at(BERLIN, WED, 10, 30))],
    )
    slots = find_slots(weekly_request(ORIGINAL, people, BEFORE), BEFORE, limit=None).slots
    # Wednesday: 10:30 + buffer -> 10:45 is nearest to 10:00, then outwards by distance.
    assert local_starts(slots[:4], BERLIN) == ["Wed 10:45", "Wed 11:00", "Wed 11:15", "Wed 11:30"]
    assert slots[0].reason == "Wed 25 Nov 10:45, nearest to 10:00"
    thursday = [s for s in slots if s.start.astimezone(BERLIN).date() == THU]
    assert local_starts(thursday[:5], BERLIN) == [
        "Thu 10:00", "Thu 09:45", "Thu 10:15", "Thu 09:30", "Thu 10:30",
    ]  # fmt: skip
    assert thursday[0].reason == "Thu 26 Nov, at the regular time 10:00"
    # Every Wednesday slot comes before every Thursday slot.
    days = [s.start.astimezone(BERLIN).date() for s in slots]
    assert days == sorted(days)


def test_order_is_same_day_later_then_next_days_then_same_day_earlier_then_days_before():
    now = ORIGINAL - timedelta(days=5)  # the window opens half a period before (Fri 22:00)
    people = berlin_pair(lena_busy=[(at(BERLIN, TUE, 10), at(BERLIN, TUE, 16))])
    request = weekly_request(ORIGINAL, people, now)
    slots = find_slots(request, now, limit=None).slots

    def group(slot) -> str:
        local = slot.start.astimezone(BERLIN)
        if local.date() == TUE:
            return "same day later" if slot.start >= ORIGINAL else "same day earlier"
        return "later day" if local.date() > TUE else "earlier day"

    groups = [group(s) for s in slots]
    order = ["same day later", "later day", "same day earlier", "earlier day"]
    assert groups == sorted(groups, key=order.index)
    assert set(groups) == set(order)
    assert local_starts(slots[:2], BERLIN) == ["Tue 16:15", "Tue 16:30"]
    earlier_same_day = [s for s in slots if group(s) == "same day earlier"]
    # Lena's 10:00 meeting and its buffer: 09:15-09:45 is the latest before it.
    assert local_starts(earlier_same_day[:2], BERLIN) == ["Tue 09:15", "Tue 09:00"]
    assert earlier_same_day[0].reason == "same day, 45 min earlier"
    before = [s for s in slots if group(s) == "earlier day"]
    assert local_starts(before[:1], BERLIN) == ["Mon 10:00"]  # Monday 23rd, nearest day first
    assert before[0].reason == "Mon 23 Nov (before the regular day), at the regular time 10:00"
    # Starts never precede the window (Friday 22:00): nothing on Friday 20th.
    assert min(s.start for s in slots) >= request.window_start


def test_starts_never_before_now():
    now = at(BERLIN, TUE, 13, 7)
    result = find_slots(weekly_request(ORIGINAL, berlin_pair(), now), now)
    assert local_starts(result.slots, BERLIN) == ["Tue 13:15", "Tue 13:30", "Tue 13:45"]


# -- constraints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer", "first"), [(10, "Tue 12:15"), (5, "Tue 10:45"), (0, "Tue 10:45")]
)
def test_buffer_around_other_meetings(buffer, first):
    # Lena: bumped by a 10:00-10:40 meeting; Tom has something at 11:30-12:00.
    people = berlin_pair(
        lena_busy=[(at(BERLIN, TUE, 10), at(BERLIN, TUE, 10, 40))],
        tom_busy=[(at(BERLIN, TUE, 11, 30), at(BERLIN, TUE, 12))],
    )
    request = weekly_request(ORIGINAL, people, BEFORE, buffer=buffer * MIN)
    assert local_starts(find_slots(request, BEFORE).slots[:1], BERLIN) == [first]


@pytest.mark.parametrize("who", ["lena", "tom"])
def test_a_busy_block_of_either_person_blocks(who):
    block = [(at(BERLIN, TUE, 10), at(BERLIN, TUE, 15))]
    people = berlin_pair(lena_busy=block) if who == "lena" else berlin_pair(tom_busy=block)
    result = find_slots(weekly_request(ORIGINAL, people, BEFORE), BEFORE)
    assert local_starts(result.slots, BERLIN) == ["Tue 15:15", "Tue 15:30", "Tue 15:45"]


def test_all_day_out_of_office_blocks_the_day_without_a_buffer():
    people = berlin_pair(
        lena_busy=[busy_day(TUE)],
        lena_ooo=[(at(BERLIN, WED, 0), at(BERLIN, THU, 12))],  # Wednesday and Thursday morning
    )
    slots = find_slots(weekly_request(ORIGINAL, people, BEFORE), BEFORE, limit=None).slots
    assert not any(s.start.astimezone(BERLIN).date() == WED for s in slots)
    # Thursday from 12:00 sharp: no buffer after an out-of-office span.
    assert local_starts(slots[:2], BERLIN) == ["Thu 12:00", "Thu 12:15"]


def test_working_hours_of_both_people_in_their_own_zones():
    # Maria in New York 09:00-17:00, Dev in Kolkata 11:00-20:00 (05:30-14:30 UTC):
    # in November they share 09:00-09:30 New York time, and only on weekdays of both.
    original = at(NEW_YORK, TUE, 9)
    maria = person("Maria", NEW_YORK, busy=(busy_day(TUE, NEW_YORK),))
    dev = person("Dev", KOLKATA, hours="Mon-Fri 11:00-20:00")
    now = original - timedelta(days=1)
    request = weekly_request(original, (maria, dev), now, duration=15 * MIN)
    slots = find_slots(request, now, limit=None).slots
    assert local_starts(slots, NEW_YORK) == [
        "Wed 09:00", "Wed 09:15",
        "Thu 09:00", "Thu 09:15",
        "Fri 09:00", "Fri 09:15",
        "Mon 09:00", "Mon 09:15",
    ]  # fmt: skip
    for slot in slots:
        assert maria.hours.contains(slot.start, slot.end, NEW_YORK)
        assert dev.hours.contains(slot.start, slot.end, KOLKATA)


# -- DST and zones -----------------------------------------------------------------------


def test_us_pair_across_the_november_dst_change_keeps_local_hours():
    # Maria (New York) and Sam (Los Angeles) share 12:00-17:00 New York time. Their
    # 1:1 is Thursday 29 October 2026 13:00 EDT; the clocks go back on Sunday 1 November.
    thu = date(2026, 10, 29)
    original = at(NEW_YORK, thu, 13)
    maria = person("Maria", NEW_YORK, busy=(busy_day(thu, NEW_YORK),))
    sam = person("Sam", LOS_ANGELES)
    now = original - timedelta(hours=4)
    request = weekly_request(original, (maria, sam), now)
    slots = find_slots(request, now, limit=None).slots
    by_day: dict[date, list[datetime]] = {}
    for slot in slots:
        assert maria.hours.contains(slot.start, slot.end, NEW_YORK)
        assert sam.hours.contains(slot.start, slot.end, LOS_ANGELES)
        by_day.setdefault(slot.start.astimezone(NEW_YORK).date(), []).append(slot.start)
    fri, mon = date(2026, 10, 30), date(2026, 11, 2)
    # In UTC the shared hours move an hour later after the change.
    assert (min(by_day[fri]).hour, max(by_day[fri]).strftime("%H:%M")) == (16, "20:30")
    assert (min(by_day[mon]).hour, max(by_day[mon]).strftime("%H:%M")) == (17, "21:30")
    # "Nearest to 13:00" is local: 13:00 EST on Monday is 18:00 UTC, not 17:00.
    first_monday = next(s for s in slots if s.start.astimezone(NEW_YORK).date() == mon)
    assert first_monday.start == datetime(2026, 11, 2, 18, 0, tzinfo=UTC)
    assert first_monday.reason == "Mon 2 Nov, at the regular time 13:00"


def test_berlin_new_york_pair_in_the_week_only_europe_has_changed():
    # Europe falls back on 25 October, the US on 1 November 2026: for one week the
    # overlap of 09:00-17:00 Berlin and 09:00-17:00 New York is three hours, not two.
    lena = person("Lena", BERLIN)
    maria = person("Maria", NEW_YORK)
    start = at(BERLIN, date(2026, 10, 19), 0)
    request = SlotRequest(
        original_start=at(BERLIN, date(2026, 10, 27), 15),
        duration=60 * MIN,
        min_duration=30 * MIN,
        window_start=start,
        window_end=start + timedelta(days=18),
        people=(lena, maria),
    )
    starts = candidate_starts(request, start)
    assert starts == tuple(
        s.start for s in sorted(find_slots(request, start, limit=None).slots, key=lambda s: s.start)
    )

    def on(day: date) -> list[str]:
        return [f"{s:%H:%M}" for s in starts if s.date() == day]

    assert on(date(2026, 10, 20)) == ["13:00", "13:15", "13:30", "13:45", "14:00"]
    assert on(date(2026, 10, 27)) == [
        "13:00", "13:15", "13:30", "13:45", "14:00", "14:15", "14:30", "14:45", "15:00",
    ]  # fmt: skip
    assert on(date(2026, 11, 3)) == ["14:00", "14:15", "14:30", "14:45", "15:00"]
    for s in starts:
        assert lena.hours.contains(s, s + 60 * MIN, BERLIN)
        assert maria.hours.contains(s, s + 60 * MIN, NEW_YORK)


def test_sydney_new_york_pair_across_the_date_line():
    # Ana in Sydney (09:00-17:00, UTC+11 in November), Maria in New York (08:00-18:00,
    # UTC-5): Maria's 17:00 is Ana's 09:00 the next day. Maria's Friday evening is Ana's
    # Saturday and Ana's Monday morning is Maria's Sunday, so only Mon-Thu (New York) work.
    ana = person("Ana", SYDNEY)
    original = at(SYDNEY, TUE, 9)  # Tuesday 09:00 Sydney = Monday 17:00 New York
    maria = person(
        "Maria", NEW_YORK, hours="Mon-Fri 08:00-18:00", busy=((original, original + 60 * MIN),)
    )
    now = original - timedelta(days=1)
    request = weekly_request(original, (ana, maria), now, duration=60 * MIN)
    slots = find_slots(request, now, limit=None).slots
    assert local_starts(slots, NEW_YORK) == ["Tue 17:00", "Wed 17:00", "Thu 17:00"]
    assert local_starts(slots, SYDNEY) == ["Wed 09:00", "Thu 09:00", "Fri 09:00"]
    assert slots[0].reason == "Wed 25 Nov, at the regular time 09:00"  # Ana's zone ranks
    # With Maria as the anchor, the same instant reads in New York terms.
    in_new_york = find_slots(replace(request, anchor_zone=NEW_YORK), now)
    assert in_new_york.slots[0].start == slots[0].start
    assert in_new_york.slots[0].reason == "Tue 24 Nov, at the regular time 17:00"


# -- shorter 1:1s and no slot -------------------------------------------------------------------


def shortened_setup(with_full_gap: bool) -> SlotRequest:
    lena_busy = [
        (at(BERLIN, TUE, 9), at(BERLIN, TUE, 14)),
        (at(BERLIN, TUE, 14, 45), at(BERLIN, TUE, 17)),  # a 45-minute gap at 14:00
    ]
    if with_full_gap:  # and a full hour on Wednesday 15:00-16:00
        lena_busy += [
            (at(BERLIN, WED, 9), at(BERLIN, WED, 15)),
            (at(BERLIN, WED, 16), at(BERLIN, WED, 17)),
        ]
    else:
        lena_busy += [(at(BERLIN, WED, 9), at(BERLIN, WED, 16, 30))]  # 30 minutes at 16:30
    return SlotRequest(
        original_start=ORIGINAL,
        duration=60 * MIN,
        min_duration=30 * MIN,
        window_start=BEFORE,
        window_end=at(BERLIN, THU, 0),
        people=berlin_pair(lena_busy=lena_busy),
        buffer=timedelta(0),
    )


def test_shorter_slot_when_no_full_slot_exists_anywhere():
    result = find_slots(shortened_setup(with_full_gap=False), BEFORE, limit=None)
    # The longest length that fits (60 - 15 = 45 minutes) wins over the 30-minute gap.
    assert [(s.start, s.end - s.start, s.shortened) for s in result.slots] == [
        (at(BERLIN, TUE, 14), 45 * MIN, True)
    ]
    assert result.slots[0].reason == "same day, 4 h later, shortened to 45m"
    assert result.finding is None


def test_a_full_slot_anywhere_beats_a_shorter_one_on_the_same_day():
    result = find_slots(shortened_setup(with_full_gap=True), BEFORE, limit=None)
    assert [(s.start, s.shortened) for s in result.slots] == [(at(BERLIN, WED, 15), False)]
    assert result.slots[0].end - result.slots[0].start == 60 * MIN


def test_only_min_duration_fits():
    people = berlin_pair(
        lena_busy=[
            (at(BERLIN, TUE, 9), at(BERLIN, TUE, 11)),
            (at(BERLIN, TUE, 11, 20), at(BERLIN, TUE, 17)),
        ]
    )
    request = SlotRequest(
        original_start=ORIGINAL,
        duration=30 * MIN,
        min_duration=15 * MIN,
        window_start=BEFORE,
        window_end=at(BERLIN, WED, 0),
        people=people,
        buffer=timedelta(0),
    )
    result = find_slots(request, BEFORE)
    assert [(s.start, s.end, s.shortened) for s in result.slots] == [
        (at(BERLIN, TUE, 11), at(BERLIN, TUE, 11, 15), True)
    ]


def test_no_slot_names_the_nearest_misses_with_person_and_reason():
    people = berlin_pair(
        lena_busy=[(at(BERLIN, TUE, 10), at(BERLIN, TUE, 12))],
        tom_busy=[(at(BERLIN, TUE, 12), at(BERLIN, TUE, 17))],
    )
    request = replace(
        weekly_request(ORIGINAL, people, BEFORE),
        window_start=ORIGINAL,
        window_end=at(BERLIN, TUE, 17),
    )
    result = find_slots(request, BEFORE)
    assert result.slots == ()
    # One problem beats two; then the usual ranking; one line per day and cause.
    assert result.near_misses == (
        "Tue 24 Nov 10:00: Lena busy",
        "Tue 24 Nov 12:15: Tom busy",
        "Tue 24 Nov 11:45: Lena busy, less than 10m from Tom's other meeting",
    )
    assert result.finding is not None
    assert result.finding.kind == "no_slot"
    assert result.finding.evidence == (ORIGINAL,)
    assert "no free 15m for Lena and Tom" in result.finding.message
    assert "Tue 24 Nov 10:00: Lena busy; Tue 24 Nov 12:15: Tom busy" in result.finding.message


def test_no_shared_working_hours_is_a_no_slot_naming_whose_hours():
    # New York 09:00-17:00 and Kolkata 10:00-18:30 do not overlap at all.
    original = at(NEW_YORK, TUE, 9)
    maria = person("Maria", NEW_YORK)
    dev = person("Dev", KOLKATA, hours="Mon-Fri 10:00-18:30")
    now = original - timedelta(days=1)
    result = find_slots(weekly_request(original, (maria, dev), now), now)
    assert result.slots == ()
    assert result.finding is not None and result.finding.kind == "no_slot"
    assert result.near_misses
    for miss in result.near_misses:
        assert "outside Dev's working hours" in miss or "outside Maria's working hours" in miss
    assert result.near_misses[0] == "Tue 24 Nov 09:00: outside Dev's working hours"


def test_a_closed_window_is_a_no_slot():
    late = ORIGINAL + timedelta(days=8)
    result = find_slots(weekly_request(ORIGINAL, berlin_pair(), late), late)
    assert result.slots == () and result.near_misses == ()
    assert result.finding is not None
    assert "window has already closed" in result.finding.message


def test_window_end_keeps_clear_of_the_next_regular_occurrence():
    # Free only on Monday, the day before the next 1:1 (Tuesday 1 December 10:00).
    people = berlin_pair(
        lena_busy=[busy_day(TUE + timedelta(days=n)) for n in range(4)],
    )
    request = weekly_request(ORIGINAL, people, BEFORE)
    assert request.window_end == at(BERLIN, MON, 10)
    slots = find_slots(request, BEFORE, limit=None).slots
    assert local_starts(slots, BERLIN) == ["Mon 09:30", "Mon 09:15", "Mon 09:00"]
    assert all(s.end <= request.window_end for s in slots)


# -- input ------------------------------------------------------------------------------------


def test_busy_order_does_not_matter_and_results_are_deterministic():
    rng = random.Random(3)
    blocks = []
    for _ in range(40):
        start = at(BERLIN, TUE, 8) + timedelta(minutes=15 * rng.randrange(0, 6 * 96))
        blocks.append((start, start + timedelta(minutes=rng.choice([15, 30, 45, 60, 90]))))
    lena, tom = blocks[:20], blocks[20:]
    request = weekly_request(ORIGINAL, berlin_pair(lena_busy=lena, tom_busy=tom), BEFORE)
    reordered = weekly_request(
        ORIGINAL, berlin_pair(lena_busy=lena[::-1], tom_busy=sorted(tom)), BEFORE
    )
    first = find_slots(request, BEFORE, limit=None)
    assert first.slots
    assert first == find_slots(request, BEFORE, limit=None)
    assert first == find_slots(reordered, BEFORE, limit=None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_duration": 45 * MIN}, "min_duration 45m is longer than duration 30m"),
        ({"step": 7 * MIN}, "must divide a day"),
        ({"window_end": datetime(2026, 12, 1, 9, 0)}, "window_end 2026-12-01T09:00:00 has no"),
        ({"people": ()}, "at least one person"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(change, message):
    request = replace(weekly_request(ORIGINAL, berlin_pair(), BEFORE), **change)
    with pytest.raises(ValueError, match=message):
        find_slots(request, BEFORE)


# -- properties ------------------------------------------------------------------------------

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "Europe/Berlin",
        "Europe/London",
        "America/New_York",
        "America/Los_Angeles",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Sydney",
        "Pacific/Chatham",
    )
]
HOURS = [
    "Mon-Fri 09:00-17:00",
    "Mon-Fri 10:00-18:30",
    "Mon-Thu 08:00-16:00, Fri 08:00-12:00",
    "Mon-Fri 09:00-12:00, Mon-Fri 11:00-15:45",  # overlapping spans
    "Mon-Fri 07:00-11:00, Mon-Fri 13:00-19:00",
    "Sun-Thu 09:00-17:00",
    "Mon-Sun 00:00-24:00",
    "Mon-Fri 01:00-04:00",  # the small hours, where DST changes happen
]
# Days around 2026's DST changes: US (Mar 8, Nov 1), EU (Mar 29, Oct 25), Sydney
# (Apr 5, Oct 4), Chatham (Apr 5, Sep 27).
DAYS = [
    date(2026, m, d)
    for m, d in ((3, 6), (3, 27), (4, 3), (9, 25), (10, 2), (10, 23), (10, 30), (7, 1))
]


@st.composite
def availability(draw, index: int, base: datetime) -> Availability:
    """A person with busy blocks and out-of-office spans around ``base``."""
    blocks = draw(
        st.lists(st.tuples(st.integers(-12 * 60, 8 * 24 * 60), st.integers(5, 240)), max_size=60)
    )
    ooo = draw(
        st.lists(st.tuples(st.integers(-24 * 60, 8 * 24 * 60), st.integers(60, 2880)), max_size=2)
    )
    return Availability(
        email=f"p{index}@example.com",
        zone=draw(st.sampled_from(ZONES)),
        hours=WorkingHours.parse(draw(st.sampled_from(HOURS))),
        busy=tuple((base + s * MIN, base + (s + n) * MIN) for s, n in blocks),
        out_of_office=tuple((base + s * MIN, base + (s + n) * MIN) for s, n in ooo),
        name=f"P{index}",
    )


@st.composite
def requests(draw) -> tuple[SlotRequest, datetime]:
    base = datetime.combine(draw(st.sampled_from(DAYS)), time(0), UTC)
    first = draw(availability(0, base))
    second = draw(availability(1, base))
    if draw(st.booleans()):  # half the pairs share a zone and hours: more slots to check
        second = replace(second, zone=first.zone, hours=first.hours)
    window_start = base + draw(st.integers(0, 5 * 24 * 60)) * MIN
    window_start += draw(st.integers(0, 59)) * timedelta(seconds=1)  # not on a step
    # Mostly windows of days (room for slots), sometimes tiny or empty ones.
    length = st.one_of(st.integers(0, 6 * 24 * 60), st.integers(2 * 24 * 60, 6 * 24 * 60))
    window_end = window_start + draw(length) * MIN
    now = window_start + draw(st.integers(-2 * 24 * 60, 12 * 60)) * MIN
    original = window_start + draw(st.integers(-24 * 60, 3 * 24 * 60)) * MIN
    duration = draw(st.integers(1, 24)) * 5 * MIN
    min_duration = min(duration, draw(st.integers(1, 12)) * 5 * MIN)
    people = (first, second)
    request = SlotRequest(
        original_start=original,
        duration=duration,
        min_duration=min_duration,
        window_start=window_start,
        window_end=window_end,
        people=people,
        buffer=draw(st.integers(0, 30)) * MIN,
        step=draw(st.sampled_from([10, 15, 30])) * MIN,
        anchor_zone=draw(st.sampled_from([None, *ZONES])),
    )
    return request, now


def overlaps(lo: datetime, hi: datetime, spans, pad: timedelta = timedelta(0)) -> bool:
    return any(s - pad < hi and lo < e + pad for s, e in spans if e > s)


def valid(request: SlotRequest, now: datetime, start: datetime, length: timedelta) -> bool:
    """The definition of a valid slot, written independently of the finder."""
    end = start + length
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        (start - midnight) % request.step == timedelta(0)
        and start >= max(now, request.window_start)
        and end <= request.window_end
        and all(
            p.hours.contains(start, end, p.zone)
            and not overlaps(start, end, p.busy, request.buffer)
            and not overlaps(start, end, p.out_of_office)
            for p in request.people
        )
    )


def oracle_rank(request: SlotRequest, start: datetime) -> tuple[int, int, int, int]:
    """The documented ranking, with plain zone arithmetic."""
    zone = request.anchor_zone or request.people[0].zone
    local, regular = start.astimezone(zone), request.original_start.astimezone(zone)
    seconds = int(start.timestamp())
    if local.date() == regular.date():
        return (0, 0, 0, seconds) if start >= request.original_start else (2, 0, 0, -seconds)

    def time_of_day(value: datetime) -> int:
        return value.hour * 3600 + value.minute * 60 + value.second

    distance = abs(time_of_day(local) - time_of_day(regular))
    day = local.date().toordinal()
    if day > regular.toordinal():
        return (1, day, distance, seconds)
    return (3, -day, distance, seconds)


def brute_force(request: SlotRequest, now: datetime, length: timedelta) -> set[datetime]:
    lo = max(now, request.window_start)
    start = lo.replace(hour=0, minute=0, second=0, microsecond=0)
    out = set()
    while start + length <= request.window_end:
        if start >= lo and valid(request, now, start, length):
            out.add(start)
        start += request.step
    return out


@settings(max_examples=150, deadline=None)
@given(requests())
def test_property_every_slot_is_valid(case):
    request, now = case
    result = find_slots(request, now, limit=None)
    for slot in result.slots:
        assert valid(request, now, slot.start, slot.end - slot.start)
        assert request.min_duration <= slot.end - slot.start <= request.duration
        assert slot.shortened == (slot.end - slot.start < request.duration)
    if result.slots:
        assert result.finding is None
    else:
        assert result.finding is not None and result.finding.kind == "no_slot"
    # Shortened only when no full slot exists anywhere in the window.
    full = candidate_starts(request, now)
    assert bool(full) == bool(result.slots and not result.slots[0].shortened)
    assert len({s.start for s in result.slots}) == len(result.slots)
    keys = [oracle_rank(request, slot.start) for slot in result.slots]
    assert keys == sorted(keys)
    assert find_slots(request, now, limit=2).slots == result.slots[:2]


@settings(max_examples=150, deadline=None)
@given(requests())
def test_property_finds_exactly_the_valid_starts(case):
    request, now = case
    assert set(candidate_starts(request, now)) == brute_force(request, now, request.duration)
    if request.min_duration < request.duration:
        found = set(candidate_starts(request, now, request.min_duration))
        assert found == brute_force(request, now, request.min_duration)


@settings(max_examples=150, deadline=None)
@given(requests(), st.integers(0, 2 * 24 * 60), st.integers(0, 2 * 24 * 60))
def test_property_widening_the_window_never_removes_a_slot(case, earlier, later):
    request, now = case
    wide = replace(
        request,
        window_start=request.window_start - earlier * MIN,
        window_end=request.window_end + later * MIN,
    )
    narrow_starts = set(candidate_starts(request, now))
    assert narrow_starts <= set(candidate_starts(wide, now))
    narrow = find_slots(request, now, limit=None)
    if narrow.slots and not narrow.slots[0].shortened:
        wide_slots = find_slots(wide, now, limit=None).slots
        assert {(s.start, s.end) for s in narrow.slots} <= {(s.start, s.end) for s in wide_slots}


@settings(max_examples=100, deadline=None)
@given(requests(), st.randoms(use_true_random=False))
def test_property_deterministic_whatever_the_order_of_busy_blocks(case, rng):
    request, now = case
    shuffled = []
    for who in request.people:
        busy = list(who.busy)
        rng.shuffle(busy)
        shuffled.append(replace(who, busy=tuple(busy)))
    other = replace(request, people=tuple(shuffled))
    assert find_slots(request, now, limit=None) == find_slots(other, now, limit=None)


def label(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def true_problems(request: SlotRequest, start: datetime, length: timedelta) -> set[str]:
    """Every problem of a slot, worded like the finder (which may leave some out)."""
    end = start + length
    out = set()
    for p in request.people:
        if overlaps(start, end, p.out_of_office):
            out.add(f"{p.name} out of office")
        if overlaps(start, end, p.busy):
            out.add(f"{p.name} busy")
        if overlaps(start, end, p.busy, request.buffer):
            out.add(f"less than {request.buffer.seconds // 60}m from {p.name}'s other meeting")
        if not p.hours.contains(start, end, p.zone):
            out.add(f"outside {p.name}'s working hours")
    return out


@settings(max_examples=150, deadline=None)
@given(requests())
def test_property_no_near_misses_beside_slots(case):
    request, now = case
    result = find_slots(request, now)
    assume(result.slots)  # roughly half the drawn requests find slots
    assert result.near_misses == ()


@settings(max_examples=150, deadline=None)
@given(requests())
def test_property_near_misses_are_true(case):
    request, now = case
    result = find_slots(request, now)
    assume(not result.slots)  # and roughly half find none
    zone = request.anchor_zone or request.people[0].zone
    length = request.min_duration
    starts = brute_force_all(request, now, length)
    assert bool(result.near_misses) == bool(starts)
    assert len(result.near_misses) <= 3
    for miss in result.near_misses:
        when, _, reasons = miss.partition(": ")
        assert reasons
        # The label names a start in the window (twice, when the clocks go back).
        matching = [s for s in starts if label(s, zone) == when]
        assert matching, miss
        assert any(set(reasons.split(", ")) <= true_problems(request, s, length) for s in matching)


def brute_force_all(request: SlotRequest, now: datetime, length: timedelta) -> list[datetime]:
    """Every aligned start in the window, valid or not."""
    lo = max(now, request.window_start)
    start = lo.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while start + length <= request.window_end:
        if start >= lo:
            out.append(start)
        start += request.step
    return out


def test_a_window_too_short_for_min_duration_says_so():
    request = replace(
        weekly_request(ORIGINAL, berlin_pair(), BEFORE),
        window_start=at(BERLIN, TUE, 11, 7),
        window_end=at(BERLIN, TUE, 11, 25),
    )
    result = find_slots(request, BEFORE)
    assert result.slots == () and result.near_misses == ()
    assert result.finding is not None
    assert result.finding.message.endswith("the window is too short for 15m on the 15m grid")


def lena_alone(original: datetime, start: datetime, end: datetime, busy) -> SlotRequest:
    return SlotRequest(
        original_start=original,
        duration=30 * MIN,
        min_duration=15 * MIN,
        window_start=start,
        window_end=end,
        people=(person("Lena", BERLIN, busy=tuple(busy)),),
    )


def test_near_misses_prefer_fewer_problems():
    request = lena_alone(
        at(BERLIN, TUE, 8), at(BERLIN, TUE, 8), at(BERLIN, TUE, 10),
        [(at(BERLIN, TUE, 8), at(BERLIN, TUE, 9, 50))],
    )  # fmt: skip
    assert find_slots(request, BEFORE).near_misses == (
        "Tue 24 Nov 09:00: Lena busy",
        "Tue 24 Nov 08:00: Lena busy, outside Lena's working hours",
    )


def test_a_near_miss_ending_with_the_working_day_is_inside_working_hours():
    request = lena_alone(
        ORIGINAL, at(BERLIN, TUE, 16), at(BERLIN, TUE, 17),
        [(at(BERLIN, TUE, 16), at(BERLIN, TUE, 16, 45))],
    )  # fmt: skip
    assert find_slots(request, BEFORE).near_misses == (
        "Tue 24 Nov 16:00: Lena busy",
        "Tue 24 Nov 16:45: less than 10m from Lena's other meeting",
    )


def test_a_near_miss_on_a_following_day_is_the_one_nearest_the_time_of_day():
    request = lena_alone(ORIGINAL, at(BERLIN, WED, 0), at(BERLIN, THU, 0), [busy_day(WED)])
    assert find_slots(request, BEFORE).near_misses == (
        "Wed 25 Nov 10:00: Lena busy",
        "Wed 25 Nov 08:45: Lena busy, outside Lena's working hours",
    )


def test_nearest_time_of_day_on_the_day_the_clocks_go_back():
    # Working every day; Friday and Saturday are taken, so Sunday 1 November (EDT -> EST
    # at 02:00) is the first day: 13:00 that day is 18:00 UTC, not 17:00.
    thu, sun = date(2026, 10, 29), date(2026, 11, 1)
    maria = person(
        "Maria",
        NEW_YORK,
        hours="Mon-Sun 09:00-17:00",
        busy=tuple(busy_day(thu + timedelta(days=n), NEW_YORK) for n in range(3)),
    )
    original = at(NEW_YORK, thu, 13)
    now = original - timedelta(hours=1)
    result = find_slots(weekly_request(original, (maria,), now), now, limit=2)
    assert [s.start for s in result.slots] == [
        datetime(2026, 11, 1, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 17, 45, tzinfo=UTC),
    ]
    assert result.slots[0].reason == "Sun 1 Nov, at the regular time 13:00"
    assert result.slots[0].start.astimezone(NEW_YORK).date() == sun


def test_earlier_days_rank_nearest_day_first():
    # A biweekly 1:1 on Thursday 26 November may move back to Thursday 19th 10:00;
    # Lena is away from the 26th on, so only the days before are left.
    original = at(BERLIN, THU, 10)
    now = original - timedelta(days=30)
    window_start, window_end = cadence_slot_window(
        original, original + timedelta(weeks=2), now, Cadence(weeks=2)
    )
    people = berlin_pair(lena_ooo=[(at(BERLIN, THU, 0), window_end)])
    request = weekly_request(
        original, people, now, window_start=window_start, window_end=window_end
    )
    slots = find_slots(request, now, limit=None).slots
    days = list(dict.fromkeys(f"{s.start.astimezone(BERLIN):%a %d}" for s in slots))
    assert days == ["Wed 25", "Tue 24", "Mon 23", "Fri 20", "Thu 19"]
    assert slots[0].reason == "Wed 25 Nov (before the regular day), at the regular time 10:00"
    thursday = [s for s in slots if s.start.astimezone(BERLIN).date() == date(2026, 11, 19)]
    assert local_starts(thursday[:2], BERLIN) == ["Thu 10:00", "Thu 10:15"]  # window opens 10:00
