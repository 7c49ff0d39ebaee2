"""Perform the queued calendar writes, each key once.

A worker claims pending rows with a lease, decodes each into its typed action
(:mod:`calsync.engine.actions`), performs it through the provider's writer
port and marks it done. The writer itself looks for the key on the remote
calendar before creating anything, so a crash between the write and
``mark_done`` (or a second worker after a lease ran out) finds the event
instead of making another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

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
from calsync.secrets import shown_calendar
from calsync.store import Store

log = logging.getLogger(__name__)

#: Attempts at one calendar write before it is given up (a person retries then).
MAX_WRITE_ATTEMPTS = 5
LEASE = timedelta(minutes=10)
BATCH = 50
MAX_BATCHES = 40  # 2,000 writes a cycle at most; the rest wait for the next one


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one queued write in this run."""

    key: str
    kind: str
    outcome: Literal["done", "retry", "failed"]

    @property
    def booked_make_up(self) -> bool:
        return self.outcome == "done" and self.kind == CreateMakeUp.KIND


def execute(
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    lease: timedelta = LEASE,
) -> list[WriteOutcome]:
    """Claim and perform pending writes, batch by batch; the outcome of each.

    Drains the queue (bounded by ``MAX_BATCHES``): a bump made up now should
    not wait a poll interval because other writes came first. A row that fails
    is retried in a later cycle, not in this one.
    """
    outcomes: list[WriteOutcome] = []
    for _ in range(MAX_BATCHES):
        batch = _perform(store, readers, now, lease)
        outcomes += batch
        if len(batch) < BATCH or all(o.outcome != "done" for o in batch):
            break
    return outcomes


def _perform(
    store: Store, readers: Mapping[str, CalendarReader], now: datetime, lease: timedelta
) -> list[WriteOutcome]:
    outcomes = []
    for item in store.claim(now, lease, limit=BATCH):
        try:
            action = decode(item.action, item.payload)
        except BadAction as exc:
            log.error("outbox row %s cannot be performed: %s", item.key, exc)
            store.mark_failed(item.key, str(exc), retry=False, now=now)
            outcomes.append(WriteOutcome(item.key, item.action, "failed"))
            continue
        try:
            remote_id = _write(item.key, action, readers.get(action.provider))
            crash_point("after-write")
            before, after = audit_texts(action)
            # Recorded before mark_done: a crash in between re-runs the write,
            # which finds its event, and the record is idempotent on the key.
            store.record_write(
                key=item.key, kind=item.action, pair_id=item.pair_id, provider=action.provider,
                calendar=shown_calendar(action.calendar), remote_id=remote_id, why=action.why,
                before=before, after=after, dry_run=False, now=now,
            )
            store.mark_done(item.key, remote_id, now=now)
            outcomes.append(WriteOutcome(item.key, item.action, "done"))
        except ProviderError as exc:
            retry = item.attempts + 1 < MAX_WRITE_ATTEMPTS
            log.warning("write %s failed (%s): %s", item.key, "will retry" if retry else "gave up",
                        exc)
            store.mark_failed(item.key, str(exc), retry=retry, now=now)
            outcomes.append(WriteOutcome(item.key, item.action, "retry" if retry else "failed"))
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
