"""Leases: how several workers on one database divide the calendars and manager groups.

Each worker renews a heartbeat row (kind "worker", key = its id) and its leases
every cycle (``heartbeat``), then ``claim``s its fair share of each kind of work:
with W live workers and K keys, ceil(K / W) keys. It gives back what it holds
beyond that (a worker joined), and takes free keys up to it: keys never leased,
released, or whose lease expired because their worker stopped renewing (it died).
Free rows are locked with ``FOR UPDATE SKIP LOCKED``, each worker trying them in
its own order, so workers claiming at the same moment never wait on each other
and never get the same key. SQLite has one process: the same code runs there, and
the only worker alive owns everything.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from calsync.store.base import CHUNK, Database, insert_if_absent, utc
from calsync.store.models import LeaseRow

#: ``expires_at`` of a free row: long past.
FREE = datetime(1970, 1, 1, tzinfo=UTC)
WORK_KINDS = ("calendar", "group")


@dataclass(frozen=True, slots=True)
class WorkerShare:
    """One worker's heartbeat and the keys it holds now, by kind."""

    worker: str
    alive: bool
    last_heartbeat: datetime | None
    expires_at: datetime
    calendars: frozenset[str]
    groups: frozenset[str]


def heartbeat(store: Database, worker: str, now: datetime, ttl: timedelta) -> None:
    """Say this worker is alive until ``now + ttl``, and renew every lease it still holds."""
    now = utc(now)
    until = now + ttl
    with store.transaction() as session:
        insert_if_absent(
            session,
            LeaseRow,
            {"kind": "worker", "key": worker, "worker": worker, "expires_at": until,
             "renewed_at": now},
            ("kind", "key"),
        )
        # Only leases still its own: one that expired and was taken is the other's now.
        session.execute(
            update(LeaseRow).where(LeaseRow.worker == worker)
            .values(expires_at=until, renewed_at=now)
        )


def claim(
    store: Database, worker: str, kind: str, keys: Iterable[str], now: datetime, ttl: timedelta
) -> set[str]:
    """This worker's share of ``keys`` of ``kind``: what it holds, trimmed or topped up.

    Call after :func:`heartbeat` in the same cycle (so this worker counts as alive).
    """
    if kind not in WORK_KINDS:
        raise ValueError(f"unknown lease kind {kind!r}")
    now = utc(now)
    wanted = set(keys)
    with store.transaction() as session:
        alive = session.scalar(
            select(func.count()).where(LeaseRow.kind == "worker", LeaseRow.expires_at > now)
        )
        fair = math.ceil(len(wanted) / max(1, alive or 0))
        rows = session.execute(
            select(LeaseRow.key, LeaseRow.worker, LeaseRow.expires_at).where(LeaseRow.kind == kind)
        ).all()
        known = {row.key for row in rows}
        stale = known - wanted  # people or managers no longer in the config
        for chunk in _chunks(sorted(stale)):
            session.execute(delete(LeaseRow).where(LeaseRow.kind == kind, LeaseRow.key.in_(chunk)))
        for chunk in _chunks(sorted(wanted - known)):  # sorted: concurrent inserts never deadlock
            _insert_free(session, kind, chunk)
        mine = {
            row.key for row in rows
            if row.key in wanted and row.worker == worker and utc(row.expires_at) > now
        }
        if len(mine) > fair:
            extra = sorted(mine, key=lambda k: _order(worker, k))[fair:]
            for chunk in _chunks(extra):
                session.execute(
                    update(LeaseRow)
                    .where(LeaseRow.kind == kind, LeaseRow.key.in_(chunk),
                           LeaseRow.worker == worker)
                    .values(worker=None, expires_at=FREE)
                )
            return mine - set(extra)
        held = {row.key for row in rows if row.key in wanted and utc(row.expires_at) > now}
        free = sorted(wanted - held, key=lambda k: _order(worker, k))
        need = fair - len(mine)
        taken: list[str] = []
        for chunk in _chunks(free):
            if len(taken) >= need:
                break
            query = (
                select(LeaseRow.key)
                .where(LeaseRow.kind == kind, LeaseRow.key.in_(chunk), LeaseRow.expires_at <= now)
                .limit(need - len(taken))
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            taken += session.scalars(query).all()
        for chunk in _chunks(taken):
            session.execute(
                update(LeaseRow)
                .where(LeaseRow.kind == kind, LeaseRow.key.in_(chunk))
                .values(worker=worker, expires_at=now + ttl, renewed_at=now)
            )
        return mine | set(taken)


def release(store: Database, worker: str) -> None:
    """A worker stopping cleanly: its share is free at once, its heartbeat gone."""
    with store.transaction() as session:
        session.execute(
            update(LeaseRow)
            .where(LeaseRow.worker == worker, LeaseRow.kind != "worker")
            .values(worker=None, expires_at=FREE)
        )
        session.execute(delete(LeaseRow).where(LeaseRow.kind == "worker", LeaseRow.key == worker))


def shares(store: Database, now: datetime) -> list[WorkerShare]:
    """Every worker with a heartbeat row, what it holds now, newest heartbeat first."""
    now = utc(now)
    with store.transaction() as session:
        workers = session.execute(
            select(LeaseRow.key, LeaseRow.expires_at, LeaseRow.renewed_at)
            .where(LeaseRow.kind == "worker")
        ).all()
        leases = session.execute(
            select(LeaseRow.worker, LeaseRow.kind, LeaseRow.key)
            .where(LeaseRow.kind != "worker", LeaseRow.worker.is_not(None),
                   LeaseRow.expires_at > now)
        ).all()
    held: dict[tuple[str, str], set[str]] = {}
    for worker, kind, key in leases:
        held.setdefault((worker, kind), set()).add(key)
    out = [
        WorkerShare(
            worker=row.key,
            alive=utc(row.expires_at) > now,
            last_heartbeat=row.renewed_at,
            expires_at=row.expires_at,
            calendars=frozenset(held.get((row.key, "calendar"), ())),
            groups=frozenset(held.get((row.key, "group"), ())),
        )
        for row in workers
    ]
    return sorted(out, key=lambda s: s.last_heartbeat or FREE, reverse=True)


def _insert_free(session: Session, kind: str, keys: list[str]) -> None:
    """Rows for new keys, free; keys another worker inserted meanwhile are left alone."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = [{"kind": kind, "key": key, "worker": None, "expires_at": FREE} for key in keys]
    session.execute(
        insert(LeaseRow).values(values).on_conflict_do_nothing(index_elements=["kind", "key"])
    )


def _order(worker: str, key: str) -> bytes:
    """A per-worker order of the keys: workers claiming together start in different places."""
    return hashlib.blake2b(f"{worker}\0{key}".encode(), digest_size=8).digest()


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
