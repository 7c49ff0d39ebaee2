"""Perform the queued calendar writes, each key once.

A worker claims pending rows with a lease, performs each through the
provider's writer port and marks it done. The writer itself looks for the key
on the remote calendar before creating anything, so a crash between the write
and ``mark_done`` (or a second worker after a lease ran out) finds the event
instead of making another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from calsync.engine.plan import AGENDA, CREATE_MAKEUP
from calsync.faults import crash_point
from calsync.policies.agenda import with_block
from calsync.providers.base import CalendarReader, CalendarWriter, NewEvent, ProviderError
from calsync.service import metrics
from calsync.store import Store
from calsync.timeutil import parse_instant

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=10)
BATCH = 50
MAX_BATCHES = 40  # 2,000 writes a cycle at most; the rest wait for the next one


def execute(
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    lease: timedelta = LEASE,
) -> list[tuple[str, str]]:
    """Claim and perform pending writes, batch by batch; (key, outcome) for each.

    Drains the queue (bounded by ``MAX_BATCHES``): a bump made up now should
    not wait a poll interval because other writes came first. A row that fails
    is retried in a later cycle, not in this one.
    """
    outcomes: list[tuple[str, str]] = []
    for _ in range(MAX_BATCHES):
        batch = _perform(store, readers, now, lease)
        outcomes += batch
        if len(batch) < BATCH or all(outcome != "done" for _, outcome in batch):
            break
    return outcomes


def _perform(
    store: Store, readers: Mapping[str, CalendarReader], now: datetime, lease: timedelta
) -> list[tuple[str, str]]:
    outcomes = []
    for item in store.claim(now, lease, limit=BATCH):
        payload = item.payload
        writer = readers.get(payload.get("provider", ""))
        try:
            if not isinstance(writer, CalendarWriter):
                raise ProviderError(payload.get("calendar", "?"), "provider cannot write")
            crash_point("before-write")
            if item.action == CREATE_MAKEUP:
                remote_id = writer.create_owned(payload["calendar"], _new_event(payload), item.key)
                metrics.record_rebook("booked")
            elif item.action == AGENDA:
                writer.update_description(
                    payload["calendar"], payload["remote_id"], _adding(str(payload["block"]))
                )
                remote_id = payload["remote_id"]
            else:
                raise ProviderError(payload.get("calendar", "?"), f"unknown action {item.action}")
            crash_point("after-write")
            store.mark_done(item.key, remote_id, now=now)
            outcomes.append((item.key, "done"))
        except ProviderError as exc:
            retry = item.attempts + 1 < MAX_ATTEMPTS
            log.warning("write %s failed (%s): %s", item.key, "will retry" if retry else "gave up",
                        exc)
            store.mark_failed(item.key, str(exc), retry=retry, now=now)
            if item.action == CREATE_MAKEUP:
                metrics.record_rebook("failed")
            outcomes.append((item.key, "retry" if retry else "failed"))
    return outcomes


def _adding(block: str) -> Callable[[str], str | None]:
    def change(description: str) -> str | None:
        return with_block(description, block)

    return change


def _new_event(payload: Mapping[str, object]) -> NewEvent:
    return NewEvent(
        title=str(payload["title"]),
        start=parse_instant(str(payload["start"])),
        end=parse_instant(str(payload["end"])),
        organizer=str(payload["organizer"]),
        attendees=tuple(str(a) for a in payload["attendees"]),  # type: ignore[union-attr]
        description=str(payload.get("description") or ""),
        timezone=str(payload.get("timezone") or "UTC"),
        tags=dict(payload.get("tags") or {}),  # type: ignore[arg-type]
    )
