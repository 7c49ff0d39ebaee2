"""Events/s into the store on the Google, Graph and ICS paths, next to their floor.

    .venv/bin/python bench/bench_sync.py [--pairs 1000] [--calendars 0] [--seed 1]

On the generated team (``bench/generate_team.py``), for each path, a first
(full) sync of every calendar into a fresh SQLite store: events stored per
second. Next to it, measured in the same run, the floor of what the data
costs: the same input parsed (every JSON body calsync's client parsed in that
sync, recorded as it went, with ``json.loads``; the same ICS files with
``icalendar``) plus the same rows bulk-inserted with
SQLAlchemy Core ``executemany`` into the same schema in one transaction.
The ratio calsync / floor is printed with the goal (at least 0.5), twice: by
wall time, and by this process's CPU time. The emulators run in their own
processes at zero latency, so calsync's wall time includes their serving
(on a loaded machine, waiting for a core), which a real service does
elsewhere; its CPU time is calsync's own work. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import emulator_process  # bench/ is on sys.path when run as a script
import httpx
import icalendar
from generate_team import write_big_team
from googleapiclient.model import JsonModel
from sqlalchemy import insert, select

from calsync.config import settings_from_dict
from calsync.demo.sample import DEMO_NOW
from calsync.engine.sync import sync_all
from calsync.providers.factory import open_readers
from calsync.store import open_store
from calsync.store.models import CalendarRow, EventRow

GOAL = 0.5  # calsync's events/s at least half the floor's


@dataclass(frozen=True)
class Person:
    email: str
    timezone: str
    calendar_file: str


@dataclass(frozen=True)
class Clock:
    """Wall and CPU seconds of this process (the emulators' work is in theirs)."""

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> Clock:
        return cls(time.perf_counter(), time.process_time())

    def since(self, start: Clock) -> Clock:
        return Clock(self.wall - start.wall, self.cpu - start.cpu)

    def __add__(self, other: Clock) -> Clock:
        return Clock(self.wall + other.wall, self.cpu + other.cpu)


@dataclass(frozen=True)
class Figures:
    path: str
    calendars: int
    rows: int
    calsync: Clock
    parse: Clock
    insert: Clock

    def report(self) -> str:
        floor = self.parse + self.insert
        lines = [
            f"{self.path}: {self.calendars} calendars, {self.rows:,} events stored",
            f"  calsync: {self.calsync.wall:.2f}s = {self.rows / self.calsync.wall:,.0f} "
            f"events/s wall ({self.calsync.cpu:.2f}s CPU = "
            f"{self.rows / self.calsync.cpu:,.0f} events/s)",
            f"  floor:   parse {self.parse.wall:.2f}s + insert {self.insert.wall:.2f}s = "
            f"{self.rows / floor.wall:,.0f} events/s wall ({floor.cpu:.2f}s CPU = "
            f"{self.rows / floor.cpu:,.0f} events/s)",
        ]
        for what, mine, theirs in (
            ("wall", self.calsync.wall, floor.wall),
            ("CPU", self.calsync.cpu, floor.cpu),
        ):
            ratio = theirs / mine
            verdict = "reached" if ratio >= GOAL else "NOT reached"
            lines.append(f"  ratio ({what}): {ratio:.2f} of the floor (goal >= {GOAL}: {verdict})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# the team


def team_people(config: Path, limit: int) -> list[Person]:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    people = [
        Person(p["email"], p["timezone"], p["calendar"]) for p in data["people"]
    ]
    return people[:limit] if limit else people


def seed_folder(team: Path, people: Sequence[Person], folder: Path) -> Path:
    """The team's files named ``<email>.ics``: how the emulators name a seeded calendar."""
    folder.mkdir()
    for person in people:
        (folder / f"{person.email}.ics").symlink_to(team / "calendars" / person.calendar_file)
    return folder


def settings_for(provider: dict[str, Any], people: Sequence[Person], folder: Path, files: bool):
    rows = [
        {
            "email": p.email,
            "timezone": p.timezone,
            "provider": "bench",
            **({"calendar": p.calendar_file} if files else {}),
        }
        for p in people
    ]
    return settings_from_dict({"providers": {"bench": provider}, "people": rows}, folder / "c.toml")


# ---------------------------------------------------------------------------
# calsync and the floor


def calsync_sync(settings, database: Path) -> tuple[int, Clock]:
    """A first sync of every calendar into a fresh store: (events stored, time taken)."""
    store = open_store(f"sqlite:///{database}")
    try:
        with open_readers(settings) as readers:
            started = Clock.now()
            results = sync_all(settings, store, readers, DEMO_NOW)
            elapsed = Clock.now().since(started)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"{len(failed)} calendars failed, first: {failed[0]}")
        with store.engine.connect() as connection:
            rows = len(connection.execute(select(EventRow.id)).all())
    finally:
        store.close()
    return rows, elapsed


def insert_floor(database: Path, scratch: Path) -> Clock:
    """Time to bulk-insert ``database``'s event rows into a fresh store (Core executemany)."""
    source = open_store(f"sqlite:///{database}")
    with source.engine.connect() as connection:
        calendars = [dict(r._mapping) for r in connection.execute(select(CalendarRow.__table__))]
        events = [dict(r._mapping) for r in connection.execute(select(EventRow.__table__))]
    source.close()
    target = open_store(f"sqlite:///{scratch}")
    try:
        with target.engine.begin() as connection:
            connection.execute(insert(CalendarRow.__table__), calendars)
        started = Clock.now()
        with target.engine.begin() as connection:
            connection.execute(insert(EventRow.__table__), events)
        return Clock.now().since(started)
    finally:
        target.close()


def timed(parse: Callable[[], object]) -> Clock:
    started = Clock.now()
    parse()
    return Clock.now().since(started)


@contextmanager
def json_bodies_parsed() -> Iterator[list[bytes]]:
    """Every HTTP body calsync's Google or Graph client parses as JSON while open.

    A full read is more than the listing pages: Graph sends each series master
    again, in full, from ``$batch`` (20 at a time) and each mailbox's
    automatic replies from ``mailboxSettings``; Google reads the instances of
    series with exceptions. The floor parses exactly the bytes calsync did.
    """
    bodies: list[bytes] = []
    graph_parse = httpx.Response.json
    google_parse = JsonModel.deserialize

    def graph_recorded(response: httpx.Response, **kwargs: Any) -> Any:
        bodies.append(response.content)
        return graph_parse(response, **kwargs)

    def google_recorded(model: JsonModel, content: bytes | str) -> Any:
        bodies.append(content.encode() if isinstance(content, str) else content)
        return google_parse(model, content)

    httpx.Response.json = graph_recorded  # type: ignore[method-assign]
    JsonModel.deserialize = google_recorded  # type: ignore[method-assign]
    try:
        yield bodies
    finally:
        httpx.Response.json = graph_parse  # type: ignore[method-assign]
        JsonModel.deserialize = google_parse  # type: ignore[method-assign]


def parsed_floor(path: str, pages: list[bytes]) -> Clock:
    print(f"{path}: calsync parsed {len(pages):,} JSON bodies, "
          f"{sum(len(p) for p in pages) / 2**20:.1f} MiB (the floor parses the same)")
    return timed(lambda: [json.loads(page) for page in pages])


# ---------------------------------------------------------------------------
# the three paths


def bench_ics(team: Path, people: Sequence[Person], folder: Path) -> Figures:
    settings = settings_for({"kind": "ics", "path": str(team / "calendars")}, people, folder, True)
    database = folder / "ics.db"
    rows, spent = calsync_sync(settings, database)
    texts = [(team / "calendars" / p.calendar_file).read_bytes() for p in people]
    parse = timed(lambda: [icalendar.Calendar.from_ical(t) for t in texts])
    return Figures("ics", len(people), rows, spent, parse,
                   insert_floor(database, folder / "ics-floor.db"))


def bench_google(people: Sequence[Person], seeds: Path, folder: Path) -> Figures:
    with emulator_process.running("calsync_emulators.google", seeds, folder,
                                  "--latency", "0") as url:
        provider = {"kind": "google", "auth": "none", "api_endpoint": url}
        settings = settings_for(provider, people, folder, False)
        database = folder / "google.db"
        with json_bodies_parsed() as pages:
            rows, spent = calsync_sync(settings, database)
    return Figures("google", len(people), rows, spent, parsed_floor("google", pages),
                   insert_floor(database, folder / "google-floor.db"))


def bench_graph(people: Sequence[Person], seeds: Path, folder: Path) -> Figures:
    with emulator_process.running("calsync_emulators.graph", seeds, folder,
                                  "--no-auth", "--latency", "0") as url:
        provider = {"kind": "outlook", "auth": "none", "graph_endpoint": url}
        settings = settings_for(provider, people, folder, False)
        database = folder / "graph.db"
        with json_bodies_parsed() as pages:
            rows, spent = calsync_sync(settings, database)
    return Figures("graph", len(people), rows, spent, parsed_floor("graph", pages),
                   insert_floor(database, folder / "graph-floor.db"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--calendars", type=int, default=0,
                        help="sync only the first N calendars of the team (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--paths", default="google,graph,ics",
                        help="comma-separated subset of google,graph,ics")
    args = parser.parse_args()
    os.environ.pop("CALSYNC_EMULATOR_LATENCY", None)  # zero latency for this bench
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        config = write_big_team(folder / "team", args.pairs, DEMO_NOW.astimezone(UTC), args.seed)
        people = team_people(config, args.calendars)
        seeds = seed_folder(folder / "team", people, folder / "seeds")
        print(f"team of {args.pairs} pairs, {len(people)} calendars, generated in "
              f"{time.perf_counter() - started:.1f}s")
        benches = {
            "google": lambda: bench_google(people, seeds, folder),
            "graph": lambda: bench_graph(people, seeds, folder),
            "ics": lambda: bench_ics(folder / "team", people, folder),
        }
        for name in args.paths.split(","):
            print(benches[name.strip()]().report(), flush=True)


if __name__ == "__main__":
    main()
