"""The audit log: each calendar write calsync made, or a dry run would have made.

A row says what (kind), where (provider, calendar as shown, remote id), why
(the pair and the reason), when, and the description before and after. A
write is recorded once per key and mode (``insert_if_absent``): a retry or a
second worker never records it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calsync.store import codec
from calsync.store.base import Database, insert_if_absent, utc
from calsync.store.models import PairRow, WriteRow


@dataclass(frozen=True, slots=True)
class WriteRecord:
    id: int
    key: str
    kind: str
    manager: str | None
    report: str | None
    provider: str
    calendar: str
    remote_id: str | None
    why: str
    before: str
    after: str
    dry_run: bool
    at: datetime


def record_write(store: Database, **fields: Any) -> bool:
    """Record one write (or would-be write); False when its key is already recorded.

    ``fields`` are ``audit_values``'s.
    """
    with store.transaction() as session:
        return insert_audit(session, audit_values(**fields))


def audit_values(
    *,
    key: str,
    kind: str,
    pair_id: int | None,
    provider: str,
    calendar: str,
    remote_id: str | None,
    why: str,
    before: str,
    after: str,
    dry_run: bool,
    now: datetime,
) -> dict[str, Any]:
    """The audit row of one write, as stored."""
    return {
        "key": key, "kind": kind, "pair_id": pair_id, "provider": provider,
        "calendar": codec.clean(calendar), "remote_id": remote_id, "why": codec.clean(why),
        "before": codec.clean(before), "after": codec.clean(after), "dry_run": dry_run,
        "at": utc(now),
    }


def insert_audit(session: Session, values: dict[str, Any]) -> bool:
    """Insert one audit row inside the caller's transaction; False if its key is there."""
    return insert_if_absent(session, WriteRow, values, ("key", "dry_run"))


def writes(
    store: Database,
    *,
    pair: tuple[str, str] | None = None,
    since: datetime | None = None,
) -> list[WriteRecord]:
    """The recorded writes, oldest first; of one (manager, report) pair, from ``since``."""
    query = (
        select(WriteRow, PairRow.manager, PairRow.report)
        .outerjoin(PairRow, WriteRow.pair_id == PairRow.id)
        .order_by(WriteRow.at, WriteRow.id)
    )
    if pair is not None:
        query = query.where(PairRow.manager == pair[0], PairRow.report == pair[1])
    if since is not None:
        query = query.where(WriteRow.at >= utc(since))
    with store.transaction() as session:
        return [
            WriteRecord(
                row.id, row.key, row.kind, manager, report, row.provider, row.calendar,
                row.remote_id, row.why, row.before, row.after, row.dry_run, row.at,
            )
            for row, manager, report in session.execute(query)
        ]
