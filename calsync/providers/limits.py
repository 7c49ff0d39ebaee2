"""How many requests a provider may have in flight, and running its work concurrently.

Every HTTP client takes a slot from its provider's :class:`Throttle` around
each request: at most ``max_concurrency`` in flight for the provider, at most
``per_key`` for one key (Graph allows four concurrent requests per mailbox),
and, when a per-minute budget is set (Google's per-project and per-user
quotas), no more calls in any sliding minute than the budget allows. Retries
wait outside the slot, so a throttled request never holds one while it sleeps.

:func:`stream` runs a reader's tasks on a bounded thread pool and yields their
results as they finish, with only a few more tasks submitted than threads: a
consumer that stores each result (one database session, on its own thread)
holds back the fetching instead of letting finished results pile up in memory.
:func:`stream_spawning` does the same for tasks that hand back further tasks
(a batch of first pages, then each changed calendar's own reads): every
task, spawned or not, counts against the same bound, so what is held in
memory is a few calendars, not a few batches of fifty.

Readers keep the threads to I/O: a task returns what it read as a
:data:`Mapped` -- a call that turns it into the result -- and the consumer
runs it with :func:`finish`. Mapping and expanding events is CPU work under
the GIL; run on 50 threads at once it cost about half again the CPU it costs
on one (the threads contend for the GIL and for shared locks).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from calsync.providers.base import ProviderError

T = TypeVar("T")

#: What a reader's I/O task read, as the call that maps it (run on the consumer's thread).
Mapped = Callable[[], T]

WINDOW = 60.0  # seconds: Google's quotas are per minute, over a sliding window


class _Budget:
    """At most ``limit`` calls in any ``WINDOW`` seconds (a sliding log of call times)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: deque[float] = deque()

    def delay(self, count: int, now: float) -> float:
        """Seconds until ``count`` more calls fit (0: they fit now); records nothing."""
        while self.calls and self.calls[0] <= now - WINDOW:
            self.calls.popleft()
        count = min(count, self.limit)  # a batch bigger than the budget waits for all of it
        over = len(self.calls) + count - self.limit
        return 0.0 if over <= 0 else self.calls[over - 1] + WINDOW - now

    def record(self, count: int, now: float) -> None:
        self.calls.extend([now] * min(count, self.limit))


class Throttle:
    """Concurrency ceilings (overall and per key) and optional per-minute call budgets."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        per_key: int | None = None,
        per_minute: int | None = None,
        per_key_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self._overall = threading.BoundedSemaphore(max_concurrency)
        self._per_key = per_key
        self._keys: dict[str, threading.BoundedSemaphore] = {}
        self._budget = _Budget(per_minute) if per_minute else None
        self._key_budget_limit = per_key_per_minute
        self._key_budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def _key_slots(self, key: str) -> threading.BoundedSemaphore | None:
        if self._per_key is None:
            return None
        with self._lock:
            if key not in self._keys:
                self._keys[key] = threading.BoundedSemaphore(self._per_key)
            return self._keys[key]

    def _spend(self, key: str, calls: int) -> None:
        """Wait until ``calls`` more calls fit every per-minute budget, then record them."""
        while True:
            with self._lock:
                now = self._clock()
                budgets = [b for b in (self._budget, self._key_budget(key)) if b is not None]
                delay = max((b.delay(calls, now) for b in budgets), default=0.0)
                if delay <= 0:
                    for budget in budgets:
                        budget.record(calls, now)
                    return
            self._sleep(delay)

    def _key_budget(self, key: str) -> _Budget | None:
        if not self._key_budget_limit:
            return None
        if key not in self._key_budgets:
            self._key_budgets[key] = _Budget(self._key_budget_limit)
        return self._key_budgets[key]

    @contextmanager
    def slot(self, key: str = "", calls: int = 1, *, keys: Iterable[str] = ()) -> Iterator[None]:
        """Hold one request slot (overall, and one for ``key`` and each of ``keys``).

        ``calls``: API calls the request carries (a batch counts each of its calls
        against the per-minute quotas, which are charged to ``key``). ``keys``:
        more keys the request touches (the mailboxes of a Graph ``$batch``).
        """
        if self._budget is not None or self._key_budget_limit:
            self._spend(key, calls)
        # Always in the same order: two requests never each hold a key the other waits for.
        wanted = sorted({k for k in (key, *keys) if k})  # "" stands for no key
        held = [s for k in wanted if (s := self._key_slots(k)) is not None]
        for slots in held:
            slots.acquire()
        try:
            with self._overall:
                yield
        finally:
            for slots in held:
                slots.release()


def stream(tasks: Iterable[Callable[[], T]], workers: int) -> Iterator[T]:
    """Run ``tasks`` on ``workers`` threads; yield each result as soon as it is done.

    At most ``2 * workers`` tasks are submitted ahead of the consumer. With one
    worker the tasks simply run in order, on the caller's thread.
    """
    if workers <= 1:
        for task in tasks:
            yield task()
        return
    pending: set[Future[T]] = set()
    todo = iter(tasks)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="calsync-io") as pool:
        try:
            for task in todo:
                pending.add(pool.submit(task))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            # A consumer that stops early (or a task that raised): drop what has not started.
            for future in pending:
                future.cancel()


@dataclass(frozen=True, slots=True)
class Spawned(Generic[T]):
    """What a task of :func:`stream_spawning` hands back: results, and tasks to run next."""

    results: list[T] = field(default_factory=list)
    more: list[Callable[[], Spawned[T]]] = field(default_factory=list)


def stream_spawning(tasks: Iterable[Callable[[], Spawned[T]]], workers: int) -> Iterator[T]:
    """Like :func:`stream`, for tasks that spawn more tasks; yields every result.

    Spawned tasks go ahead of the tasks not yet started, and at most
    ``2 * workers`` tasks are submitted and not yet consumed, whoever made
    them: finished reads wait for the consumer a few at a time. (Each batch
    running its follow-ups on a pool of its own let dozens of batches of
    fifty calendars sit read in memory: a worker's peak grew with its share.)
    """
    queue: deque[Callable[[], Spawned[T]]] = deque(tasks)
    if workers <= 1:
        while queue:
            answer = queue.popleft()()
            queue.extendleft(reversed(answer.more))
            yield from answer.results
        return
    pending: set[Future[Spawned[T]]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="calsync-io") as pool:
        try:
            while queue or pending:
                while queue and len(pending) < 2 * workers:
                    pending.add(pool.submit(queue.popleft()))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    answer = future.result()
                    queue.extendleft(reversed(answer.more))
                    yield from answer.results
        finally:
            # A consumer that stops early (or a task that raised): drop what has not started.
            for future in pending:
                future.cancel()


def finish(read: Mapped[T] | ProviderError) -> T | ProviderError:
    """The result of a read (mapped now, on this thread), or the error that stopped it."""
    if isinstance(read, ProviderError):
        return read
    try:
        return read()
    except ProviderError as exc:
        return exc
