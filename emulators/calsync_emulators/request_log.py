"""The request log both emulators keep, so tests can count what a client sent.

``len(log)`` counts HTTP requests, a batch envelope once; ``log.calls`` has one
record per API call, every call inside a batch included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
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
                "log": [
                    {"method": r.method, "path": r.path, "status": r.status, "batch": r.batch}
                    for r in self._http
                ],
            }
