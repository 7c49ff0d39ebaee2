"""A sync collects garbage less often while it runs, and leaves the thresholds as it found them."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from calsync.config import settings_from_dict
from calsync.demo.sample import DEMO_NOW
from calsync.engine.gc_tuning import BULK_THRESHOLD, fewer_collections
from calsync.engine.sync import sync_all
from calsync.model import ChangeSet
from calsync.store import Store, open_store


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_inside_the_young_generation_waits_longer_and_after_it_is_restored(thresholds) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds


def test_nested_and_concurrent_users_restore_only_when_the_last_leaves(thresholds) -> None:
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with fewer_collections():
        thread.start()
        assert entered.wait(10)
        with fewer_collections():
            pass
        assert gc.get_threshold()[0] == BULK_THRESHOLD
    assert gc.get_threshold()[0] == BULK_THRESHOLD  # the other thread is still inside
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == thresholds


def test_collection_switched_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)


def test_an_error_inside_restores_the_thresholds(thresholds) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == thresholds


class _Recording:
    """A reader that notes the collector's threshold while it is asked."""

    name = "feeds"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        self.seen.append(gc.get_threshold()[0])
        return ChangeSet(unchanged=True, cursor="c")

    def probe(self, calendar: str) -> str | None:
        return None


def test_a_sync_runs_with_fewer_collections(tmp_path: Path, thresholds) -> None:
    settings = settings_from_dict(
        {"providers": {"feeds": {"kind": "ics", "path": "feeds"}},
         "people": [{"email": "ann@example.com", "provider": "feeds"}]},
        source=tmp_path / "calsync.toml",
    )
    reader = _Recording()
    store: Store = open_store(f"sqlite:///{tmp_path / 'gc.db'}")
    try:
        results = sync_all(settings, store, {"feeds": reader}, DEMO_NOW)
    finally:
        store.close()
    assert [r.ok for r in results] == [True]
    assert reader.seen == [BULK_THRESHOLD]
    assert gc.get_threshold() == thresholds
