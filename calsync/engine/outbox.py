"""Perform the queued calendar writes, each key once.

A worker claims pending rows with a lease, decodes each into its typed action
(:mod:`calsync.engine.actions`), performs it through the provider's writer
port and marks it done. The writer itself looks for the key on the remote
calendar before creating anything, so a crash between the write and
``mark_done`` (or a second worker after a lease ran out) finds the event
instead of making another.

The writes go out concurrently, one pair's writes in order: a write to a
series master changes its occurrences' etags (Graph), so two writes to one
series at once would keep failing each other's ``If-Match``; a pair's writes
all touch its own series and make-ups, while two pairs' series are separate
events. Each provider's throttle bounds the requests in flight (Graph: four
per mailbox). Batches are claimed as the writes drain, not batch after batch:
a manager with many reports no longer holds up everyone behind one barrier.
The store is written on the caller's thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from calsync.engine.actions import (
    Action,
    BadAction,
    CreateMakeUp,
    CreateSeries,
    DeleteMakeUp,
    audit_texts,
    decode,
)
from calsync.faults import crash_point
from calsync.providers.base import CalendarReader, CalendarWriter, ProviderError
from calsync.providers.limits import stream
from calsync.secrets import shown_calendar
from calsync.store import Store
from calsync.store.outbox import OutboxItem
from calsync.store.writes import audit_values

log = logging.getLogger(__name__)

#: Attempts at one calendar write before it is given up (a person retries then).
MAX_WRITE_ATTEMPTS = 5
LEASE = timedelta(minutes=10)
BATCH = 50
MAX_WRITES = 10_000  # claimed in one cycle at most; the rest wait for the next one
CONCURRENT_WRITES = 32  # chains written at once (each provider's throttle still applies)


#: Writes that add or remove a meeting: the pair's history changes with them.
MEETING_KINDS = frozenset({CreateMakeUp.KIND, CreateSeries.KIND, DeleteMakeUp.KIND})


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one queued write in this run."""

    key: str
    kind: str
    outcome: Literal["done", "retry", "failed"]
    pair_id: int | None = None

    @property
    def booked_make_up(self) -> bool:
        return self.outcome == "done" and self.kind == CreateMakeUp.KIND

    @property
    def changed_meetings(self) -> bool:
        """A meeting was made or taken back (not just a description rewritten)."""
        return self.outcome == "done" and self.kind in MEETING_KINDS


def execute(
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    lease: timedelta = LEASE,
    managers: Collection[str] | None = None,
) -> list[WriteOutcome]:
    """Claim and perform pending writes; the outcome of each.

    Drains the queue (bounded by ``MAX_WRITES``): a bump made up now should
    not wait a poll interval because other writes came first. A row that fails
    is retried in a later cycle, not in this one; a batch in which nothing
    succeeded (a provider down) stops the claiming. ``managers``: only the
    writes of these managers' pairs (this worker's groups; None: every write).
    """
    outcomes: list[WriteOutcome] = []
    chains = _chains(store, readers, now, lease, managers, outcomes)
    for performed in stream(chains, CONCURRENT_WRITES):
        outcomes += _record(store, performed, now)
    return outcomes


Performed = list[tuple[OutboxItem, Action, str | ProviderError]]


def _chains(
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    lease: timedelta,
    managers: Collection[str] | None,
    outcomes: list[WriteOutcome],
) -> Iterator[Callable[[], Performed]]:
    """One task per pair and calendar, batch after batch as ``stream`` asks for more.

    Runs on the caller's thread (``stream`` pulls it there), between the
    results it records into ``outcomes``: what has finished so far decides
    whether another batch is worth claiming.
    """
    claimed = 0
    while claimed < MAX_WRITES:
        before = len(outcomes)
        limit = min(BATCH, MAX_WRITES - claimed)
        items = store.claim(now, lease, limit=limit, managers=managers)
        pairs = {item.pair_id for item in items if item.pair_id is not None}
        if len(items) == limit and pairs:
            # The rest of these pairs' writes too: one pair's writes split over two
            # batches would run as two chains at once and fail each other's etags.
            items += store.claim(now, lease, limit=None, managers=managers, pairs=pairs)
        claimed += len(items)
        chains: dict[tuple[int | None, str, str], list[tuple[OutboxItem, Action]]] = {}
        for item in items:
            try:
                action = decode(item.action, item.payload)
            except BadAction as exc:
                log.error("outbox row %s cannot be performed: %s", item.key, exc)
                store.mark_failed(item.key, str(exc), retry=False, now=now)
                outcomes.append(WriteOutcome(item.key, item.action, "failed"))
                continue
            chain = (item.pair_id, action.provider, action.calendar)
            chains.setdefault(chain, []).append((item, action))
        yield from (partial(_perform, writes, readers) for writes in chains.values())
        if len(items) < limit:
            return
        finished = outcomes[before:]
        if finished and all(o.outcome != "done" for o in finished):
            return


def _perform(
    writes: list[tuple[OutboxItem, Action]], readers: Mapping[str, CalendarReader]
) -> Performed:
    """One chain's writes in order, on an I/O thread (no store access here)."""
    done: Performed = []
    for item, action in writes:
        writer = readers.get(action.provider)
        try:
            done.append((item, action, _write(item.key, action, writer)))
        except ProviderError as exc:
            done.append((item, action, exc))
    return done


def _record(store: Store, performed: Performed, now: datetime) -> list[WriteOutcome]:
    """Store what became of one chain's writes: done (audit rows, outbox rows) or failed."""
    outcomes = []
    done: list[tuple[str, str | None, dict[str, Any]]] = []
    for item, action, remote_id in performed:
        if isinstance(remote_id, ProviderError):
            retry = item.attempts + 1 < MAX_WRITE_ATTEMPTS
            log.warning("write %s failed (%s): %s", item.key,
                        "will retry" if retry else "gave up", remote_id)
            store.mark_failed(item.key, str(remote_id), retry=retry, now=now)
            outcomes.append(WriteOutcome(item.key, item.action, "retry" if retry else "failed"))
            continue
        crash_point("after-write")
        before, after = audit_texts(action)
        audit = audit_values(
            key=item.key, kind=item.action, pair_id=item.pair_id, provider=action.provider,
            calendar=shown_calendar(action.calendar), remote_id=remote_id, why=action.why,
            before=before, after=after, dry_run=False, now=now,
        )
        done.append((item.key, remote_id, audit))
        outcomes.append(WriteOutcome(item.key, item.action, "done", item.pair_id))
    # A crash before this commit re-runs these writes, which find their events.
    store.complete_writes(done, now=now)
    return outcomes


def _write(key: str, action: Action, writer: CalendarReader | None) -> str:
    """Perform one action under its outbox key; the remote id of the event it wrote."""
    if not isinstance(writer, CalendarWriter):
        raise ProviderError(action.calendar, f"provider {action.provider} cannot write")
    crash_point("before-write")
    if isinstance(action, CreateMakeUp | CreateSeries):
        return writer.create_owned(action.calendar, action.event, key)
    if isinstance(action, DeleteMakeUp):
        writer.delete_owned(action.calendar, action.remote_id, action.made_key)
        return action.remote_id
    writer.update_description(action.calendar, action.remote_id, action.block)
    return action.remote_id
