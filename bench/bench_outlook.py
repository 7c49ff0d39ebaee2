"""Benchmark the Microsoft 365 provider against the Graph emulator: prints figures, asserts nothing.

    .venv/bin/python bench/bench_outlook.py [--events 5000] [--mailboxes 1000]

The emulator runs in its own process (seeded from a generated JSON file), so
the peak memory printed is calsync's alone. Figures: a full sync of one big
mailbox (events/s), the first sync of many mailboxes, and an idle cycle over
all of them (HTTP requests per cycle against the bound ceil(C / 20), seconds).
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

from calsync.config import OutlookProvider, settings_from_dict
from calsync.engine.sync import sync_all
from calsync.providers.outlook.auth import NoTokens
from calsync.providers.outlook.calendar import OutlookCalendar
from calsync.store import open_store

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
BIG = "big@example.com"


def _when(instant: datetime) -> dict[str, str]:
    return {"dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def big_mailbox(count: int) -> list[dict]:
    """``count`` events: mostly one-offs over the past year, plus weekly series."""
    events: list[dict] = []
    start = NOW - timedelta(days=360)
    series = count // 100
    for index in range(series):
        first = start + timedelta(days=index % 7, hours=index % 10)
        events.append({
            "subject": f"Weekly {index}",
            "start": _when(first),
            "end": _when(first + timedelta(minutes=30)),
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1,
                            "daysOfWeek": [first.strftime("%A").lower()]},
                "range": {"type": "numbered", "startDate": first.date().isoformat(),
                          "numberOfOccurrences": 60},
            },
            "attendees": [{"type": "required",
                           "emailAddress": {"address": f"peer{index}@example.com"}}],
        })
    for index in range(count - series):
        when = start + timedelta(minutes=37 * index)
        events.append({
            "subject": f"Meeting {index}",
            "start": _when(when),
            "end": _when(when + timedelta(minutes=30)),
        })
    return events


def many_mailboxes(count: int) -> dict[str, list[dict]]:
    out = {}
    for index in range(count):
        when = NOW + timedelta(days=1 + index % 10, hours=index % 8)
        out[f"person{index:04d}@example.com"] = [{
            "subject": "Planning",
            "start": _when(when),
            "end": _when(when + timedelta(hours=1)),
        }]
    return out






def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--mailboxes", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = folder / "seed.json"
        mailboxes = {BIG: big_mailbox(args.events), **many_mailboxes(args.mailboxes)}
        seed.write_text(json.dumps({"mailboxes": mailboxes}))
        process, url = emulator_process.start("calsync_emulators.graph", seed, folder, "--no-auth")
        try:
            settings = OutlookProvider(kind="outlook", auth="none", graph_endpoint=url)
            outlook = OutlookCalendar("bench", settings, NoTokens(), lambda _c: ZoneInfo("UTC"))

            before = emulator_process.requests_served(url)
            started = time.perf_counter()
            changes = outlook.fetch_changes(BIG, None, NOW)
            elapsed = time.perf_counter() - started
            calls = emulator_process.requests_served(url) - before
            print(f"full sync, 1 mailbox of {args.events} events: {len(changes.events)} neutral "
                  f"events (occurrences expanded) in {elapsed:.2f}s = "
                  f"{len(changes.events) / elapsed:,.0f} events/s, {calls} HTTP requests")

            people = [{"email": m, "provider": "bench"} for m in mailboxes if m != BIG]
            config = settings_from_dict({
                "providers": {"bench": {"kind": "outlook", "auth": "none",
                                        "graph_endpoint": url}},
                "people": people,
            }, folder / "c.toml")
            store = open_store(f"sqlite:///{folder / 'bench.db'}")
            started = time.perf_counter()
            before = emulator_process.requests_served(url)
            results = sync_all(config, store, {"bench": outlook}, NOW)
            first = time.perf_counter() - started
            ok = sum(r.ok for r in results)
            print(f"first sync, {args.mailboxes} mailboxes: {first:.2f}s, "
                  f"{emulator_process.requests_served(url) - before} HTTP requests, {ok} ok")

            cycles = 3
            for cycle in range(cycles):
                before = emulator_process.requests_served(url)
                started = time.perf_counter()
                results = sync_all(config, store, {"bench": outlook}, NOW)
                idle = time.perf_counter() - started
                requests = emulator_process.requests_served(url) - before
                unchanged = sum(r.unchanged for r in results)
                print(f"idle cycle {cycle + 1}, {args.mailboxes} mailboxes: {idle:.2f}s, "
                      f"{requests} HTTP requests (bound ceil(C/20) = "
                      f"{-(-args.mailboxes // 20)}), {unchanged} unchanged")
            store.close()
            outlook.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of calsync (emulator excluded): {peak:.0f} MiB (max RSS)")


if __name__ == "__main__":
    main()
