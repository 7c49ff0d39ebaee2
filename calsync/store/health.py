"""Evaluation results of each pair: its occurrences, and its findings over time.

Occurrences are replaced wholesale by every evaluation (they are recomputed
from events every time). Findings keep their history: one row per (pair,
kind) stays open while the finding persists and is updated in place, it is
resolved when the kind disappears, and a new row opens if it returns, so
reports can say since when a flag has been open.

The store keeps rows, not policy values: ``StoredOccurrence`` and
``FindingRecord`` have plain fields (a status is its string), and the engine
translates them from and to ``calsync.policies`` (``calsync.engine.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from calsync.model import normalize_email
from calsync.store import codec
from calsync.store.base import Database, utc
from calsync.store.models import FindingRow, OccurrenceRow, PairRow
from calsync.store.pairs import find_pair


@dataclass(frozen=True, slots=True)
class StoredOccurrence:
    """One expected 1:1 of a pair as its last evaluation classified it."""

    original_start: datetime  # the regular time its period is keyed by
    start: datetime
    end: datetime
    status: str  # a ``calsync.policies.Status`` value: "held", "cancelled", ...
    by: str | None = None
    in_window: bool | None = None
    uid: str | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """A finding of one evaluation, as the store takes it."""

    kind: str
    message: str
    evidence: tuple[datetime, ...] = ()
    severity: str = "warning"


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A finding that holds (or held at the instant asked about) for an active pair.

    ``first_seen`` is the evaluation that opened it: since when the flag is open.
    """

    manager: str
    report: str
    kind: str
    message: str
    evidence: tuple[datetime, ...]
    severity: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None  # None while it still holds


def save_evaluation(
    store: Database,
    manager: str,
    report: str,
    occurrences: Iterable[StoredOccurrence],
    findings: Iterable[FindingRecord],
    now: datetime,
) -> None:
    """Store a pair's latest evaluation (see the module docstring); LookupError if no pair."""
    now = utc(now)
    with store.transaction() as session:
        # Two workers evaluating the same pair take turns: otherwise both could
        # delete the old occurrences and insert the same new ones, or both open
        # the same finding, and one would fail on a unique key.
        pair = find_pair(session, manager, report, lock=True)

        session.execute(delete(OccurrenceRow).where(OccurrenceRow.pair_id == pair.id))
        # Keyed by original start, the table's primary key: a duplicate keeps the last.
        by_start = {o.original_start: o for o in occurrences}
        if by_start:
            session.execute(
                insert(OccurrenceRow),
                [_occurrence_values(pair.id, o, now) for o in by_start.values()],
            )

        open_rows = {
            row.kind: row
            for row in session.scalars(
                select(FindingRow).where(
                    FindingRow.pair_id == pair.id, FindingRow.resolved_at.is_(None)
                )
            )
        }
        current = {finding.kind: finding for finding in findings}
        for kind, finding in current.items():
            row = open_rows.get(kind)
            if row is None:
                row = FindingRow(pair_id=pair.id, kind=kind, first_seen=now)
                session.add(row)
            row.message = codec.clean(finding.message)
            row.evidence = codec.instants_to_json(finding.evidence)
            row.severity = finding.severity
            row.last_seen = now
        for kind, row in open_rows.items():
            if kind not in current:
                row.resolved_at = now


def occurrences_of(store: Database, manager: str, report: str) -> list[StoredOccurrence]:
    """The occurrences of the pair's last saved evaluation, oldest first."""
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        rows = session.scalars(
            select(OccurrenceRow)
            .where(OccurrenceRow.pair_id == pair.id)
            .order_by(OccurrenceRow.original_start)
        )
        return [
            StoredOccurrence(
                original_start=r.original_start,
                start=r.start,
                end=r.end,
                status=r.status,
                by=r.by,
                in_window=r.in_window,
                uid=r.uid,
                title=r.title,
            )
            for r in rows
        ]


def open_findings(
    store: Database, manager: str | None = None, *, at: datetime | None = None
) -> list[OpenFinding]:
    """Findings that hold for active pairs, optionally of one manager.

    Without ``at``: the ones still open. With ``at``: the ones that were open
    at that instant (opened at or before it, resolved after it or not yet),
    which is what a report of a past week asks.
    """
    if at is None:
        held = FindingRow.resolved_at.is_(None)
    else:
        at = utc(at)
        held = (FindingRow.first_seen <= at) & (
            FindingRow.resolved_at.is_(None) | (FindingRow.resolved_at > at)
        )
    query = (
        select(PairRow.manager, PairRow.report, FindingRow)
        .join(PairRow, FindingRow.pair_id == PairRow.id)
        .where(held, PairRow.active.is_(True))
        .order_by(PairRow.manager, PairRow.report, FindingRow.kind)
    )
    if manager is not None:
        query = query.where(PairRow.manager == normalize_email(manager))
    with store.transaction() as session:
        return [
            OpenFinding(
                manager=pair_manager,
                report=report,
                kind=row.kind,
                message=row.message,
                evidence=codec.instants_from_json(row.evidence),
                severity=row.severity,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                resolved_at=row.resolved_at,
            )
            for pair_manager, report, row in session.execute(query)
        ]


def _occurrence_values(
    pair_id: int, occurrence: StoredOccurrence, now: datetime
) -> dict[str, Any]:
    return {
        "pair_id": pair_id,
        "original_start": occurrence.original_start,
        "start": occurrence.start,
        "end": occurrence.end,
        "status": occurrence.status,
        "by": occurrence.by,
        "in_window": occurrence.in_window,
        "uid": occurrence.uid,
        "title": codec.clean(occurrence.title),
        "evaluated_at": now,
    }
