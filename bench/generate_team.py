"""Generate a large synthetic team for benchmarks and load tests.

N pairs: managers with up to eight reports each, every pair with a weekly 1:1
and a year (52 weeks) of history, with random deletions (EXDATE), cancelled
overrides, declines, moves and shortened occurrences; plus noise on every
calendar (team meetings, focus time, one-offs, some coffee-chat decoys). About
a fifth of the people export from Outlook (Windows TZIDs).

    python -m bench.generate_team OUTDIR --pairs 1000 [--seed 1]

writes OUTDIR/calendars/*.ics and OUTDIR/calsync.toml. The same seed and
``now`` give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from calsync.demo.builder import (
    CANCELLED,
    DELETED,
    WEEKDAYS,
    Change,
    Meeting,
    Person,
    Timeline,
    Writer,
    declined,
    moved,
    shortened,
)
from calsync.demo.sample import DEMO_NOW

REPORTS_PER_MANAGER = 8
HISTORY_WEEKS = 52

ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
FIRST_NAMES = (
    "Alex", "Amara", "Ben", "Chloe", "Diego", "Elif", "Femi", "Grace", "Hana", "Ivan", "Jonas",
    "Kai", "Leila", "Mateo", "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sven", "Tariq", "Uma",
    "Victor", "Wen", "Xena", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Adams", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Lopez", "Mensah", "Novak", "Okafor", "Petrov", "Quispe", "Rossi",
    "Sato", "Tanaka", "Ueda", "Vargas", "Weber", "Xu", "Yilmaz", "Zhou",
)
ONE_ON_ONE_TITLES = (
    "{m} / {r} 1:1",
    "1:1 {m} <> {r}",
    "{r} & {m} one-on-one",
    "1on1 {r} + {m}",
    "{m}/{r} weekly 1:1",
)
ONE_OFF_TITLES = (
    "Design review",
    "Incident review",
    "Roadmap planning",
    "Interview debrief",
    "Customer call",
    "Hiring sync",
)
# What happens to each past occurrence of a 1:1, and how often.
CHANGE_ODDS = {
    "held": 0.82,
    "deleted": 0.04,
    "cancelled": 0.03,
    "declined": 0.03,
    "moved": 0.03,
    "shortened": 0.05,
}


@dataclass(frozen=True, slots=True)
class _Pair:
    manager: Person
    report: Person
    minutes: int


def write_big_team(folder: Path, pairs: int, now: datetime, seed: int) -> Path:
    """Write ``folder/calendars/*.ics`` and ``folder/calsync.toml``; return the config path."""
    if pairs < 1:
        raise ValueError("pairs must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    managers, reports = _people(rng, pairs)
    team = [
        _Pair(managers[index // REPORTS_PER_MANAGER], report, rng.choice((30, 30, 30, 45, 60)))
        for index, report in enumerate(reports)
    ]
    everyone = [*managers, *reports]
    meetings = [_one_on_one(rng, pair) for pair in team]
    meetings += _noise(rng, managers, team, everyone)
    timeline = Timeline(now=now, home=ZoneInfo("UTC"))
    Writer(everyone, timeline).write(folder / "calendars", meetings)
    config = folder / "calsync.toml"
    config.write_text(_config(everyone, team), encoding="utf-8")
    return config


def _people(rng: random.Random, pairs: int) -> tuple[list[Person], list[Person]]:
    def person(key: str) -> Person:
        zone = rng.choice(ZONES)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        return Person(key, f"{key}@bench.example.com", name, zone, outlook=rng.random() < 0.2)

    count = math.ceil(pairs / REPORTS_PER_MANAGER)
    managers = [person(f"m{index:04d}") for index in range(count)]
    reports = [person(f"r{index:05d}") for index in range(pairs)]
    return managers, reports


def _one_on_one(rng: random.Random, pair: _Pair) -> Meeting:
    manager, report = pair.manager, pair.report
    organizer, guest = (manager, report) if rng.random() < 0.85 else (report, manager)
    weekday = rng.randrange(5)
    title = rng.choice(ONE_ON_ONE_TITLES).format(
        m=manager.name.split()[0], r=report.name.split()[0]
    )
    changes = {
        period: change
        for period in range(-HISTORY_WEEKS, 1)
        if (change := _random_change(rng, pair, weekday)) is not None
    }
    return Meeting(
        uid=f"bench-1on1-{manager.key}-{report.key}",
        title=title,
        organizer=organizer.key,
        guests=(guest.key,),
        first=-HISTORY_WEEKS,
        day=WEEKDAYS[weekday],
        at=_working_time(rng),
        minutes=pair.minutes,
        every=1,
        changes=changes,
    )


def _random_change(rng: random.Random, pair: _Pair, weekday: int) -> Change | None:
    """What happened to one past occurrence, or None when it was held as planned."""
    (kind,) = rng.choices(list(CHANGE_ODDS), weights=list(CHANGE_ODDS.values()))
    if kind == "held":
        return None
    if kind == "deleted":
        return DELETED
    if kind == "cancelled":
        return CANCELLED
    if kind == "declined":
        return declined(rng.choice((pair.manager.key, pair.report.key)))
    if kind == "moved":
        # To another weekday of the same week.
        return moved(rng.choice([d for d in range(-weekday, 5 - weekday) if d]))
    return shortened(rng.choice([m for m in (10, 15, 20, 25) if m < pair.minutes]))


def _working_time(rng: random.Random) -> time:
    slot = rng.randrange(9 * 2, 16 * 2)
    return time(slot // 2, 30 * (slot % 2))


def _noise(
    rng: random.Random,
    managers: Sequence[Person],
    team: Sequence[_Pair],
    everyone: Sequence[Person],
) -> list[Meeting]:
    meetings = []
    for manager in managers:
        reports = tuple(p.report.key for p in team if p.manager is manager)
        if len(reports) >= 2:  # a two-person "team sync" would be another 1:1
            meetings.append(
                Meeting(uid=f"bench-team-{manager.key}", title="Team sync",
                        organizer=manager.key, guests=reports, first=-HISTORY_WEEKS,
                        day=rng.choice(WEEKDAYS[:5]), at=_working_time(rng), minutes=45, every=1)
            )
    for pair in team:
        if rng.random() < 0.1:
            # Only the two of them and recurring, but every four weeks: not the 1:1.
            meetings.append(
                Meeting(uid=f"bench-coffee-{pair.report.key}", title="Coffee",
                        organizer=pair.report.key, guests=(pair.manager.key,),
                        first=-HISTORY_WEEKS // 2, day=rng.choice(WEEKDAYS[:5]),
                        at=_working_time(rng), minutes=30, every=4)
            )
    for person in everyone:
        meetings.append(
            Meeting(uid=f"bench-focus-{person.key}", title="Focus time", organizer=person.key,
                    private=True, first=-HISTORY_WEEKS, day=rng.choice(WEEKDAYS[:5]),
                    at=_working_time(rng), minutes=120, every=1)
        )
        for index in range(2):
            others = rng.sample(everyone, 2)
            guests = (*(p.key for p in others if p is not person), "guest@example.org")
            meetings.append(
                Meeting(uid=f"bench-oneoff-{person.key}-{index}",
                        title=rng.choice(ONE_OFF_TITLES), organizer=person.key, guests=guests,
                        first=rng.randrange(-HISTORY_WEEKS, 4), day=rng.choice(WEEKDAYS[:5]),
                        at=_working_time(rng), minutes=rng.choice((30, 60)))
            )
    return meetings


def _config(people: Sequence[Person], team: Sequence[_Pair]) -> str:
    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    lines = [
        "# Generated by bench/generate_team.py: a synthetic team for benchmarks.",
        'database = "sqlite:///calsync.db"',
        "",
        "[providers.feeds]",
        'kind = "ics"',
        'path = "calendars"',
    ]
    for person in people:
        lines += [
            "",
            "[[people]]",
            f"email = {q(person.email)}",
            f"name = {q(person.name)}",
            f"timezone = {q(person.timezone)}",
            f"working_hours = {q(person.working_hours)}",
            'provider = "feeds"',
            f"calendar = {q(person.key + '.ics')}",
        ]
    for pair in team:
        lines += [
            "",
            "[[pairs]]",
            f"manager = {q(pair.manager.email)}",
            f"report = {q(pair.report.email)}",
            'cadence = "weekly"',
            f'duration = "{pair.minutes}m"',
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--now", type=datetime.fromisoformat, default=DEMO_NOW,
        help=f"ISO instant with offset the history ends at (default {DEMO_NOW.isoformat()})",
    )
    args = parser.parse_args(argv)
    started = clock.perf_counter()
    config = write_big_team(args.folder, args.pairs, args.now, args.seed)
    print(f"wrote {config} ({args.pairs} pairs) in {clock.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
