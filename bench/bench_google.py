"""Benchmark the Google provider against the emulator: prints figures, asserts nothing.

    .venv/bin/python bench/bench_google.py [--events 5000] [--calendars 1000]

The emulator runs in its own process (seeded from a generated JSON file), so
the peak memory printed is calsync's alone. Figures: a full sync of one big
calendar (events/s), the first sync of many calendars, and an idle cycle over
all of them (HTTP requests per cycle, seconds).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import emulator_process  # bench/ is on sys.path when run as a script

from calsync.config import GoogleProvider, settings_from_dict
from calsync.engine.sync import sync_all
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar
from calsync.store import open_store

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
BIG = "big@example.com"


def big_calendar(count: int) -> list[dict]:
    """``count`` events: mostly one-offs over the past year, plus weekly series with exceptions."""
    events: list[dict] = []
    start = NOW - timedelta(days=360)
    series = count // 100
    for index in range(series):
        first = start + timedelta(hours=index % 40)
        events.append({
            "id": f"series{index:05d}",
            "summary": f"Weekly {index}",
            "start": {"dateTime": first.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (first + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=60"],
            "attendees": [{"email": BIG}, {"email": f"peer{index}@example.com"}],
        })
    for index in range(count - series):
        when = start + timedelta(minutes=37 * index)
        events.append({
            "summary": f"Meeting {index}",
            "start": {"dateTime": when.isoformat()},
            "end": {"dateTime": (when + timedelta(minutes=30)).isoformat()},
            "attendees": [{"email": BIG, "responseStatus": "accepted"}],
        })
    return events


def many_calendars(count: int) -> dict[str, list[dict]]:
    out = {}
    for index in range(count):
        when = NOW + timedelta(days=1 + index % 10, hours=index % 8)
        out[f"person{index:04d}@example.com"] = [{
            "summary": "Planning",
            "start": {"dateTime": when.isoformat()},
            "end": {"dateTime": (when + timedelta(hours=1)).isoformat()},
        }]
    return out






def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--calendars", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = folder / "seed.json"
        calendars = {BIG: big_calendar(args.events), **many_calendars(args.calendars)}
        seed.write_text(json.dumps({"calendars": calendars}))
        process, url = emulator_process.start("calsync_emulators.google", seed, folder)
        try:
            settings = GoogleProvider(kind="google", auth="none", api_endpoint=url)
            google = GoogleCalendar("bench", settings, NoCredentials(), lambda _c: ZoneInfo("UTC"))

            before = emulator_process.requests_served(url)
            started = time.perf_counter()
            changes = google.fetch_changes(BIG, None, NOW)
            elapsed = time.perf_counter() - started
            calls = emulator_process.requests_served(url) - before
            print(f"full sync, 1 calendar of {args.events} events: {len(changes.events)} neutral "
                  f"events (occurrences expanded) in {elapsed:.2f}s = "
                  f"{len(changes.events) / elapsed:,.0f} events/s, {calls} HTTP requests")

            people = [{"email": c, "provider": "bench"} for c in calendars if c != BIG]
            config = settings_from_dict({
                "providers": {"bench": {"kind": "google", "auth": "none", "api_endpoint": url}},
                "people": people,
            }, folder / "c.toml")
            store = open_store(f"sqlite:///{folder / 'bench.db'}")
            started = time.perf_counter()
            before = emulator_process.requests_served(url)
            results = sync_all(config, store, {"bench": google}, NOW)
            first = time.perf_counter() - started
            ok = sum(r.ok for r in results)
            print(f"first sync, {args.calendars} calendars: {first:.2f}s, "
                  f"{emulator_process.requests_served(url) - before} HTTP requests, {ok} ok")

            cycles = 3
            for cycle in range(cycles):
                before = emulator_process.requests_served(url)
                started = time.perf_counter()
                results = sync_all(config, store, {"bench": google}, NOW)
                idle = time.perf_counter() - started
                requests = emulator_process.requests_served(url) - before
                unchanged = sum(r.unchanged for r in results)
                print(f"idle cycle {cycle + 1}, {args.calendars} calendars: {idle:.2f}s, "
                      f"{requests} HTTP requests (bound ceil(C/50) = {-(-args.calendars // 50)}), "
                      f"{unchanged} unchanged")
            store.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of calsync (emulator excluded): {peak:.0f} MiB (max RSS)")


if __name__ == "__main__":
    main()
