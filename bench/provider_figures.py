"""The figures both provider benchmarks print, for a provider against its emulator.

``bench_google.py`` and ``bench_outlook.py`` build their own seed and adapter;
what they measure is the same: a full sync of one big calendar (events/s), the
first sync of many calendars, and idle cycles over them (HTTP requests per
cycle against the batch bound, seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator_process import measured  # bench/ is on sys.path when run as a script

from calsync.config import settings_from_dict
from calsync.engine.sync import CalendarResult, sync_all
from calsync.providers.base import CalendarReader
from calsync.store import open_store

IDLE_CYCLES = 3


def print_sync_figures(
    adapter: CalendarReader,
    url: str,
    provider: dict[str, Any],
    now: datetime,
    folder: Path,
    *,
    big: str,
    events: int,
    owners: Sequence[str],
    noun: tuple[str, str],
    batch: int,
) -> None:
    """Sync ``big`` (``events`` seeded) in full, then ``owners`` first and idle.

    ``provider`` is the ``[providers.bench]`` table the sync reads; ``noun``
    names a calendar (singular, plural) as the provider does; ``batch`` is how
    many calendars one batched request checks, the idle cycle's bound.
    """
    one, many = noun
    changes, elapsed, calls = measured(url, lambda: adapter.fetch_changes(big, None, now))
    print(f"full sync, 1 {one} of {events} events: {len(changes.events)} neutral "
          f"events (occurrences expanded) in {elapsed:.2f}s = "
          f"{len(changes.events) / elapsed:,.0f} events/s, {calls} HTTP requests")

    config = settings_from_dict({
        "providers": {"bench": provider},
        "people": [{"email": owner, "provider": "bench"} for owner in owners],
    }, folder / "c.toml")
    with open_store(f"sqlite:///{folder / 'bench.db'}") as store:
        def cycle() -> list[CalendarResult]:
            return sync_all(config, store, {"bench": adapter}, now)

        results, first, requests = measured(url, cycle)
        print(f"first sync, {len(owners)} {many}: {first:.2f}s, {requests} HTTP requests, "
              f"{sum(r.ok for r in results)} ok")
        for number in range(1, IDLE_CYCLES + 1):
            results, idle, requests = measured(url, cycle)
            print(f"idle cycle {number}, {len(owners)} {many}: {idle:.2f}s, {requests} HTTP "
                  f"requests (bound ceil(C/{batch}) = {-(-len(owners) // batch)}), "
                  f"{sum(r.unchanged for r in results)} unchanged")
