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
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import emulator_process  # bench/ is on sys.path when run as a script
from provider_figures import print_sync_figures

from calsync.config import OutlookProvider
from calsync.providers.outlook.auth import NoTokens
from calsync.providers.outlook.calendar import OutlookCalendar

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
        with emulator_process.running("calsync_emulators.graph", seed, folder,
                                      "--no-auth") as url:
            settings = OutlookProvider(kind="outlook", auth="none", graph_endpoint=url)
            outlook = OutlookCalendar("bench", settings, NoTokens(), lambda _c: ZoneInfo("UTC"))
            try:
                print_sync_figures(
                    outlook, url, {"kind": "outlook", "auth": "none", "graph_endpoint": url},
                    NOW, folder, big=BIG, events=args.events,
                    owners=[m for m in mailboxes if m != BIG], noun=("mailbox", "mailboxes"),
                    batch=20,
                )
            finally:
                outlook.close()
    emulator_process.print_peak_memory()


if __name__ == "__main__":
    main()
