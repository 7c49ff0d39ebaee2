"""Undo: take back what calsync wrote, through the same outbox, each key once.

A booked make-up that is still ahead is deleted (only an event that carries
calsync's key for it), and so is a 1:1 series calsync created for a pair
(``setup = "auto"``), whole; an agenda block is taken out of the description,
leaving people's text byte for byte. Each undo is itself a queued write under
``undo|<key>``, so running undo twice, or a crash half-way, does nothing twice,
and it is recorded in the audit log like any write. The planner never books
the same make-up again: its key is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from calsync.engine.actions import (
    CreateMakeUp,
    CreateSeries,
    DeleteMakeUp,
    Queued,
    UpdateAgenda,
    decode,
    encode,
)
from calsync.store import Store, WriteRecord


@dataclass(frozen=True, slots=True)
class UndoPlan:
    queued: list[tuple[WriteRecord, Queued]]  # what is undone, by which write
    skipped: list[tuple[WriteRecord, str]]  # and why


def plan_undo(store: Store, records: Sequence[WriteRecord], now: datetime) -> UndoPlan:
    """The undo writes for ``records`` (what a dry run only recorded is skipped)."""
    queued: list[tuple[WriteRecord, Queued]] = []
    skipped: list[tuple[WriteRecord, str]] = []
    for record in records:
        if record.dry_run:
            skipped.append((record, "a dry run wrote nothing"))
            continue
        if record.key.startswith("undo|"):
            skipped.append((record, "an undo itself"))
            continue
        item = store.outbox_item(record.key)
        if item is None or item.state != "done" or not item.remote_id:
            skipped.append((record, "not written (or no longer in the outbox)"))
            continue
        action = decode(item.action, item.payload)
        why = f"undo of write #{record.id} ({record.why})"
        if isinstance(action, CreateMakeUp):
            if action.event.end <= now:
                skipped.append((record, "the make-up is over: history stays"))
                continue
            undo: DeleteMakeUp | UpdateAgenda = DeleteMakeUp(
                action.provider, action.calendar, item.remote_id, record.key, why
            )
        elif isinstance(action, CreateSeries):
            # The whole series goes, as a make-up would: calsync created it.
            undo = DeleteMakeUp(action.provider, action.calendar, item.remote_id, record.key, why)
        elif isinstance(action, UpdateAgenda):
            undo = UpdateAgenda(action.provider, action.calendar, action.remote_id,
                                replace(action.block, remove=True), why, before=record.after)
        else:
            skipped.append((record, "an undo itself"))
            continue
        queued.append((record, Queued(f"undo|{record.key}", undo)))
    return UndoPlan(queued, skipped)


def enqueue_undo(store: Store, plan: UndoPlan, now: datetime) -> int:
    """Queue the plan's writes; how many were new (an undo already queued is not)."""
    new = 0
    for record, queued in plan.queued:
        pair_id = (store.pair_id(record.manager, record.report)
                   if record.manager and record.report else None)
        kind, payload = encode(queued.action)
        if store.enqueue(queued.key, kind, payload, pair_id, now=now):
            new += 1
    return new
