"""Benchmark `calsync check` over a generated team: prints figures, asserts nothing.

    .venv/bin/python bench/bench_check.py [--pairs 1000] [--seed 7]

Figures: events/s through the ICS reader, sync into SQLite, policy
evaluations/s, the whole check, and peak memory (max RSS of this process).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from generate_team import write_big_team  # bench/ is on sys.path when run as a script

from calsync.config import load_settings
from calsync.engine.evaluate import evaluate_all, pair_params, policy_params
from calsync.engine.sync import sync_all
from calsync.model import Window
from calsync.policies import evaluate_pair
from calsync.providers.expand import parse_calendar
from calsync.providers.factory import build_readers
from calsync.store import open_store

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        config_path = write_big_team(folder, args.pairs, NOW, args.seed)
        generated = time.perf_counter() - started
        settings = load_settings(config_path)
        files = sorted((folder).rglob("*.ics"))
        size = sum(f.stat().st_size for f in files)
        print(f"team: {args.pairs} pairs, {len(settings.people)} people, {len(files)} calendars, "
              f"{size / 2**20:.1f} MiB of ICS (generated in {generated:.1f}s)")

        # 1. The ICS reader alone.
        window = Window(NOW - timedelta(days=400), NOW + timedelta(days=120))
        started = time.perf_counter()
        events = 0
        for path in files:
            data = path.read_bytes()
            parsed, _warnings = parse_calendar(data, path.name, window, ZoneInfo("UTC"))
            events += len(parsed)
        read_s = time.perf_counter() - started
        print(f"ics reader:   {events} neutral events in {read_s:.2f}s "
              f"= {events / read_s:,.0f} events/s")

        # 2. Sync into SQLite (reader + store), then the policies over the store.
        store = open_store(f"sqlite:///{folder / 'bench.db'}")
        started = time.perf_counter()
        sync_all(settings, store, build_readers(settings), NOW)
        sync_s = time.perf_counter() - started
        print(f"sync:         {sync_s:.2f}s for {len(files)} calendars "
              f"= {events / sync_s:,.0f} events/s into the store")

        emails = {p.email for p in settings.people}
        calendars = store.events_of(emails)
        policy = policy_params(settings.policy)
        started = time.perf_counter()
        for pair in settings.pairs:
            evaluate_pair(
                {pair.manager: calendars.get(pair.manager, []),
                 pair.report: calendars.get(pair.report, [])},
                pair_params(settings, pair), policy, NOW,
            )
        policy_s = time.perf_counter() - started
        print(f"policies:     {len(settings.pairs)} pair evaluations in {policy_s:.2f}s "
              f"= {len(settings.pairs) / policy_s:,.0f} evaluations/s")

        # 3. The whole check as the CLI runs it (sync of unchanged feeds + evaluate + save).
        started = time.perf_counter()
        sync_all(settings, store, build_readers(settings), NOW)
        evaluate_all(settings, store, NOW)
        check_s = time.perf_counter() - started
        print(f"check:        {check_s:.2f}s end to end (second run: feeds unchanged)")
        store.close()
    print(f"peak memory:  {peak_mib():.0f} MiB (max RSS)")


if __name__ == "__main__":
    main()
