"""Benchmark one daemon cycle for a whole team on the Google emulator; prints, asserts nothing.

    .venv/bin/python bench/bench_daemon.py [--pairs 1000]

The generated team (bench/generate_team.py: a year of weekly 1:1s per pair,
with cancellations, declines, moves) is served by the Google emulator in its
own process; every pair has rebook = "auto" and an agenda template. Figures:
the first cycle (full sync of every calendar, evaluation, make-ups, agenda
blocks), the second (it reads back the agenda blocks), then an idle cycle:
seconds, HTTP requests, writes, peak memory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import emulator_process  # bench/ is on sys.path when run as a script
from generate_team import write_big_team

from calsync.config import AgendaSettings, GoogleProvider, load_settings
from calsync.demo.sample import DEMO_NOW
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import Daemon
from calsync.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = load_settings(write_big_team(folder, args.pairs, DEMO_NOW, args.seed))
        seed = folder / "seed"
        seed.mkdir()
        for person in base.people:  # the emulator names a calendar after its file
            shutil.copyfile(folder / "calendars" / str(person.calendar),
                            seed / f"{person.email}.ics")
        started = time.perf_counter()
        with emulator_process.running("calsync_emulators.google", seed, folder) as url:
            print(f"team: {args.pairs} pairs, {len(base.people)} calendars on the emulator "
                  f"(seeded in {time.perf_counter() - started:.0f}s)")
            settings = base.model_copy(update={
                "database": f"sqlite:///{folder / 'daemon.db'}",
                "providers": {"work": GoogleProvider(kind="google", auth="none",
                                                     api_endpoint=url)},
                "people": [p.model_copy(update={"provider": "work", "calendar": None})
                           for p in base.people],
                "pairs": [p.model_copy(update={"rebook": "auto"}) for p in base.pairs],
                "agenda": AgendaSettings(url_template="https://docs.example.com/{pair}"),
            })
            store = open_store(settings.database_url())
            readers = build_readers(settings)
            daemon = Daemon(settings, store, readers, clock=lambda: DEMO_NOW)
            # The cycle after the cold one reads back the agenda blocks it wrote
            # (and writes any an exception did not take from its master); the
            # one after that is idle.
            for label in ("first cycle (cold)", "second cycle (read-back)", "third cycle (idle)"):
                result, seconds, served = emulator_process.measured(url, daemon.cycle)
                done = [w.key for w in result.writes if w.outcome == "done"]
                makeups = sum(1 for key in done if key.startswith("makeup"))
                agenda = sum(1 for key in done if key.startswith("agenda"))
                failed = sum(1 for c in result.calendars if not c.ok)
                changed = sum(1 for c in result.calendars if c.ok and not c.unchanged)
                print(f"{label}: {seconds:.1f}s, {served} HTTP requests, {changed} calendars "
                      f"changed, {makeups} make-ups booked, {agenda} agenda blocks written, "
                      f"{failed} calendars failed")
            close_readers(readers)
            store.close()
    emulator_process.print_peak_memory()

if __name__ == "__main__":
    main()
