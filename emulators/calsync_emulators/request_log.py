"""The request log both emulators keep, so tests can count what a client sent.

``len(log)`` counts HTTP requests, a batch envelope once; ``log.calls`` has one
record per API call, every call inside a batch included. ``log.max_in_flight``
is the most requests the emulator was answering at once (latency included),
and ``log.max_in_flight_per(key)`` the same for one mailbox: what proves a
client overlaps its requests, and keeps within a per-mailbox limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request, or one call inside a batch (``batch`` = the envelope's number).

    ``path`` is percent-decoded (``/calendar/v3/calendars/bob@example.com/events``).
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    status: int
    batch: int | None = None
    parts: int = 0


class RequestLog:
    """What clients sent. ``len(log)`` counts HTTP requests: a batch envelope once.

    ``log.http`` has one record per HTTP request; ``log.calls`` one per API
    call (plain requests and every call inside a batch). Control requests
    (``/_emulator/...``) are not logged.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._http: list[RequestRecord] = []
        self._calls: list[RequestRecord] = []
        self._batches = 0
        self._flying = 0
        self._flying_per: Counter[str] = Counter()
        self._max_flying = 0
        self._max_flying_per: Counter[str] = Counter()

    @contextmanager
    def in_flight(self, keys: Iterable[str] = ()) -> Iterator[None]:
        """Count one request as being answered (for each of ``keys`` too) while it runs."""
        keys = set(keys)
        with self._lock:
            self._flying += 1
            self._max_flying = max(self._max_flying, self._flying)
            for key in keys:
                self._flying_per[key] += 1
                self._max_flying_per[key] = max(self._max_flying_per[key], self._flying_per[key])
        try:
            yield
        finally:
            with self._lock:
                self._flying -= 1
                for key in keys:
                    self._flying_per[key] -= 1

    @property
    def max_in_flight(self) -> int:
        """The most requests answered at the same time since the last ``clear``."""
        with self._lock:
            return self._max_flying

    def max_in_flight_per(self, key: str) -> int:
        """The most requests for ``key`` (a mailbox) answered at the same time."""
        with self._lock:
            return self._max_flying_per[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._http)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.http)

    @property
    def http(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._http)

    @property
    def calls(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._calls)

    def count(
        self, method: str | None = None, path: str | None = None, *, calls: bool = False
    ) -> int:
        """How many requests (or API calls) match ``method`` and contain ``path``."""
        records = self.calls if calls else self.http
        return sum(
            1
            for r in records
            if (method is None or r.method == method.upper()) and (path is None or path in r.path)
        )

    def clear(self) -> None:
        with self._lock:
            self._http.clear()
            self._calls.clear()
            self._max_flying = self._flying
            self._max_flying_per = Counter(+self._flying_per)

    def _next_batch(self) -> int:
        with self._lock:
            self._batches += 1
            return self._batches

    def _add(self, record: RequestRecord, *, http: bool, call: bool) -> None:
        with self._lock:
            if http:
                self._http.append(record)
            if call:
                self._calls.append(record)

    def summary(self) -> Json:
        with self._lock:
            return {
                "http": len(self._http),
                "calls": len(self._calls),
                "max_in_flight": self._max_flying,
                "log": [
                    {"method": r.method, "path": r.path, "status": r.status, "batch": r.batch}
                    for r in self._http
                ],
            }
