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
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import emulator_process  # bench/ is on sys.path when run as a script
from provider_figures import print_sync_figures

from calsync.config import GoogleProvider
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar

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
        with emulator_process.running("calsync_emulators.google", seed, folder) as url:
            settings = GoogleProvider(kind="google", auth="none", api_endpoint=url)
            google = GoogleCalendar("bench", settings, NoCredentials(), lambda _c: ZoneInfo("UTC"))
            print_sync_figures(
                google, url, {"kind": "google", "auth": "none", "api_endpoint": url}, NOW,
                folder, big=BIG, events=args.events, owners=[c for c in calendars if c != BIG],
                noun=("calendar", "calendars"), batch=50,
            )
    emulator_process.print_peak_memory()


if __name__ == "__main__":
    main()
