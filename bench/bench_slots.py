"""Benchmark the slot finder: one bump, two calendars of a busy fortnight. Asserts nothing.

    .venv/bin/python bench/bench_slots.py [--runs 1000] [--blocks 150] [--seed 7]

Each person gets ``--blocks`` busy blocks (seeded random, 15-90 minutes, mostly in
the working day, overlaps allowed) over 14 days. The 1:1 is biweekly, so the
window is the whole fortnight. Twenty such pairs of calendars are generated and the
searches cycle through them. Figures: p50, p99 and mean milliseconds per search,
for the usual case and for a pair with no shared hours (the ``no_slot`` path,
which also looks for the nearest misses).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.policies.slots import (
    Availability,
    SlotRequest,
    SlotResult,
    cadence_slot_window,
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
        started = time.perf_counter()
        result = find_slots(request, NOW)
        timings.append((time.perf_counter() - started) * 1000)
        outcomes[outcome(result)] += 1
    return timings, outcomes


def report(label: str, timings: list[float], outcomes: Counter[str]) -> None:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    mean = statistics.fmean(ordered)
    found = ", ".join(f"{key} {value}" for key, value in sorted(outcomes.items()))
    print(f"{label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {mean:.3f} ms ({found})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=150, help="busy blocks per person")
    parser.add_argument("--seed", type=int, default=7)
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
    measure(usual, 50)  # warm up
    print(
        f"slot search: 2 people x {args.blocks} busy blocks over 14 days, step 15 min, "
        f"{args.runs} runs"
    )
    report("Berlin/London, busy fortnight", *measure(usual, args.runs))
    report("New York/Kolkata, no shared hours (no_slot + near misses)", *measure(apart, args.runs))


if __name__ == "__main__":
    main()
