"""Benchmark one daemon cycle for a whole team on the Google emulator; prints, asserts nothing.

    .venv/bin/python bench/bench_daemon.py [--pairs 1000]

The generated team (bench/generate_team.py: a year of weekly 1:1s per pair,
with cancellations, declines, moves) is served by the Google emulator in its
own process; every pair has rebook = "auto" and an agenda template. Figures:
the first cycle (full sync of every calendar, evaluation, make-ups, agenda
blocks), then an idle cycle: seconds, HTTP requests, writes, peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from generate_team import write_big_team  # bench/ is on sys.path when run as a script

from calsync.config import AgendaSettings, GoogleProvider, load_settings
from calsync.daemon import Daemon
from calsync.demo.sample import DEMO_NOW
from calsync.store import open_store
from calsync.sync import build_readers, close_readers


def emulator(seed: Path, folder: Path) -> tuple[subprocess.Popen, str]:
    url_file = folder / "url"
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.emulators.google", "--seed", str(seed),
         "--url-file", str(url_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(3000):
        if url_file.exists() and url_file.read_text().strip():
            return process, url_file.read_text().strip()
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start")


def requests_served(url: str) -> int:
    with urllib.request.urlopen(url + "_emulator/requests", timeout=60) as response:
        return int(json.load(response)["http"])


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
        process, url = emulator(seed, folder)
        print(f"team: {args.pairs} pairs, {len(base.people)} calendars on the emulator "
              f"(seeded in {time.perf_counter() - started:.0f}s)")
        try:
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
            for label in ("first cycle (cold)", "second cycle (idle)"):
                before = requests_served(url)
                started = time.perf_counter()
                result = daemon.cycle()
                seconds = time.perf_counter() - started
                served = requests_served(url) - before
                makeups = sum(1 for k, o in result.writes if o == "done" and k.startswith("makeup"))
                agenda = sum(1 for k, o in result.writes if o == "done" and k.startswith("agenda"))
                failed = sum(1 for c in result.calendars if not c.ok)
                print(f"{label}: {seconds:.1f}s, {served} HTTP requests, {makeups} make-ups "
                      f"booked, {agenda} agenda blocks written, {failed} calendars failed")
            close_readers(readers)
            store.close()
        finally:
            process.terminate()
            process.wait(timeout=60)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of calsync (emulator excluded): {peak:.0f} MiB (max RSS)")


if __name__ == "__main__":
    main()
