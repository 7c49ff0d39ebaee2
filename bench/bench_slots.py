"""Benchmark the slot finder: one bump, two calendars of a busy fortnight. Asserts nothing.

    .venv/bin/python bench/bench_slots.py [--runs 1000] [--blocks 150] [--seed 7]
                                          [--history 400] [--brute-runs 40]

Each person gets ``--blocks`` busy blocks (seeded random, 15-90 minutes, mostly in
the working day, overlaps allowed) over 14 days. The 1:1 is biweekly, so the
window is the whole fortnight. Twenty such pairs of calendars are generated and the
searches cycle through them. Figures: p50, p99 and mean milliseconds per search,
for the usual case and for a pair with no shared hours (the ``no_slot`` path,
which also looks for the nearest misses).

As the cycle runs it, each person's busy times are prepared once
(``BusyTimes``, here with ``--history`` more blocks over the past year, as a
calendar holds) and every search takes only what meets its window. Next to
it, in the same run, the same searches by a minute-grid brute force (every
minute of the window, each person's busy list scanned whole): its valid starts
are checked against the finder's, and the ratio is printed. Goals: p99 under
1 ms, at least 50 times the brute force.

Times are this thread's CPU time (``time.thread_time``): on a shared machine
wall time measures the neighbours' load, not the search.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.policies.slots import (
    Availability,
    BusyTimes,
    SlotRequest,
    SlotResult,
    cadence_slot_window,
    candidate_starts,
    find_slots,
)
from calsync.timeutil import Cadence, WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
# Monday 16 November 2026, 10:00 in Berlin: the bumped biweekly 1:1.
ORIGINAL = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NOW = ORIGINAL - timedelta(hours=2)
BIWEEKLY = Cadence(weeks=2)


def busy_fortnight(
    rng: random.Random, zone: ZoneInfo, blocks: int
) -> tuple[tuple[datetime, datetime], ...]:
    first_day = ORIGINAL.astimezone(zone).date()
    out = []
    for _ in range(blocks):
        day = first_day + timedelta(days=rng.randrange(14))
        local = datetime(day.year, day.month, day.day, 7, 0, tzinfo=zone) + timedelta(
            minutes=15 * rng.randrange(12 * 4)
        )
        start = local.astimezone(UTC)
        out.append((start, start + timedelta(minutes=rng.choice((15, 30, 30, 45, 60, 90)))))
    return tuple(out)


def make_request(
    rng: random.Random, blocks: int, zones: tuple[ZoneInfo, ZoneInfo], hours: tuple[str, str]
) -> SlotRequest:
    people = tuple(
        Availability(
            email=f"p{index}@example.com",
            zone=zone,
            hours=WorkingHours.parse(text),
            busy=busy_fortnight(rng, zone, blocks),
            name=f"P{index}",
        )
        for index, (zone, text) in enumerate(zip(zones, hours, strict=True))
    )
    window_start, window_end = cadence_slot_window(
        ORIGINAL, ORIGINAL + BIWEEKLY.period, NOW, BIWEEKLY
    )
    return SlotRequest(
        original_start=ORIGINAL,
        duration=timedelta(minutes=30),
        min_duration=timedelta(minutes=15),
        window_start=window_start,
        window_end=window_end,
        people=people,
    )


def outcome(result: SlotResult) -> str:
    if not result.slots:
        return "no_slot"
    return "shortened" if result.slots[0].shortened else "full"


def measure(requests: list[SlotRequest], runs: int) -> tuple[list[float], Counter[str]]:
    timings = []
    outcomes: Counter[str] = Counter()
    for index in range(runs):
        request = requests[index % len(requests)]
        started = time.thread_time()
        result = find_slots(request, NOW)
        timings.append((time.thread_time() - started) * 1000)
        outcomes[outcome(result)] += 1
    return timings, outcomes


def report(label: str, timings: list[float], outcomes: Counter[str]) -> tuple[float, float]:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    mean = statistics.fmean(ordered)
    found = ", ".join(f"{key} {value}" for key, value in sorted(outcomes.items()))
    print(f"{label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {mean:.3f} ms ({found})")
    return p50, p99


def with_history(rng: random.Random, request: SlotRequest, history: int) -> SlotRequest:
    """The request as the cycle makes it: busy times of a year, prepared once per person."""
    people = []
    for person in request.people:
        assert isinstance(person.busy, tuple)
        past = []
        for _ in range(history):
            start = NOW - timedelta(days=rng.randrange(1, 365), minutes=15 * rng.randrange(96))
            past.append((start, start + timedelta(minutes=rng.choice((30, 60)))))
        people.append(replace(person, busy=BusyTimes([*person.busy, *past])))
    return replace(request, people=tuple(people))


def brute_starts(request: SlotRequest, length: timedelta) -> list[datetime]:
    """Valid starts for ``length``, minute by minute, every busy interval scanned."""
    step = int(request.step.total_seconds() // 60)
    first = max(request.window_start, NOW).replace(second=0, microsecond=0)
    if first < max(request.window_start, NOW):
        first += timedelta(minutes=1)
    out = []
    start = first
    while start + length <= request.window_end:
        minutes = int((start - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 60)
        if minutes % step == 0 and all(_free(p, start, start + length, request.buffer)
                                       for p in request.people):
            out.append(start)
        start += timedelta(minutes=1)
    return out


def _free(person: Availability, start: datetime, end: datetime, buffer: timedelta) -> bool:
    if not person.hours.contains(start, end, person.zone):
        return False
    assert isinstance(person.busy, tuple) and isinstance(person.out_of_office, tuple)
    if any(lo - buffer < end and start < hi + buffer for lo, hi in person.busy):
        return False
    return not any(lo < end and start < hi for lo, hi in person.out_of_office)


def brute_force(request: SlotRequest) -> list[datetime]:
    """The brute force's slots: the longest length that fits, the first three starts."""
    length = request.duration
    while length >= request.min_duration:
        starts = brute_starts(request, length)
        if starts:
            return starts[:3]
        length -= request.step
    return []


def measure_brute(requests: list[SlotRequest], runs: int) -> list[float]:
    timings = []
    for index in range(runs):
        request = requests[index % len(requests)]
        started = time.thread_time()
        brute_force(request)
        timings.append((time.thread_time() - started) * 1000)
        if index < len(requests):  # the same searches: the same valid starts
            expected = list(candidate_starts(request, NOW))
            if brute_starts(request, request.duration) != expected:
                raise SystemExit("brute force and slot finder disagree: a bug in one of them")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=150, help="busy blocks per person")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--history", type=int, default=400,
                        help="past busy blocks per person in the prepared case")
    parser.add_argument("--brute-runs", type=int, default=40)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    usual = [
        make_request(
            rng, args.blocks, (BERLIN, LONDON), ("Mon-Fri 09:00-17:00", "Mon-Fri 08:30-17:30")
        )
        for _ in range(20)
    ]
    apart = [
        make_request(
            rng, args.blocks, (NEW_YORK, KOLKATA), ("Mon-Fri 09:00-17:00", "Mon-Fri 10:00-18:30")
        )
        for _ in range(20)
    ]
    prepared = [with_history(rng, request, args.history) for request in usual]
    measure(usual, 50)  # warm up
    print(
        f"slot search: 2 people x {args.blocks} busy blocks over 14 days, step 15 min, "
        f"{args.runs} runs"
    )
    report("Berlin/London, busy fortnight, busy times as pairs", *measure(usual, args.runs))
    _p50, p99 = report(
        f"Berlin/London, busy times prepared once (+{args.history} past blocks each)",
        *measure(prepared, args.runs),
    )
    report("New York/Kolkata, no shared hours (no_slot + near misses)", *measure(apart, args.runs))
    brute = sorted(measure_brute(usual, args.brute_runs))
    brute_p50 = statistics.median(brute)
    prepared_p50 = statistics.median(sorted(measure(prepared, args.runs)[0]))
    ratio = brute_p50 / prepared_p50
    print(f"minute-grid brute force of the same searches: p50 {brute_p50:.1f} ms "
          f"({args.brute_runs} runs; valid starts identical to the finder's)")
    print(f"p99 {p99:.3f} ms (goal < 1 ms: {'goal reached' if p99 < 1 else 'goal NOT reached'}); "
          f"{ratio:,.0f}x faster than the brute force at p50 "
          f"(goal >= 50x: {'goal reached' if ratio >= 50 else 'goal NOT reached'})")


if __name__ == "__main__":
    main()
