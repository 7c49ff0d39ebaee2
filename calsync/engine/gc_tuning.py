"""Fewer garbage collections while a sync allocates in bulk.

A full sync turns every provider resource into components, occurrences and
rows: millions of short-lived containers, almost none of them in reference
cycles (reference counting frees them). CPython's cyclic collector still runs
a young-generation pass every 700 net allocations and, as survivors pile up
(pages in flight, the process's own modules and settings), full passes over
every live object: on the first 60 generated calendars that was 15-20 % of a
Google or Graph sync's CPU (bench_sync). Inside :func:`fewer_collections` the
young generation is collected every ``BULK_THRESHOLD`` allocations instead;
cyclic garbage is still collected, only in larger batches.

The thresholds are process-wide, so nested or concurrent users (a daemon's
sync beside the web app) share one raised setting: the first to enter raises
it, the last to leave restores what was there.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 50_000  # young-generation allocations between collections (CPython: 700)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young-generation threshold while inside (unless collection is off)."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            first, *older = _saved
            if first != 0:  # 0: automatic collection is off; leave it so
                gc.set_threshold(max(first, BULK_THRESHOLD), *older)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
