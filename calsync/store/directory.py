"""The directory's roster: who each source listed, and the pairs it gave, with their dates.

Nothing is deleted. A person who leaves a source keeps their row with
``left_at``; a pair that ends (the report left or changed manager, or fell out
of every scope) keeps its row with ``ended_at`` and the reason, so its history
stays readable and ``check`` can show it as ended. A source's changes are
applied in one transaction: a read is applied whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from calsync.store.base import Database
from calsync.store.models import (
    DirectoryPairRow,
    DirectoryPersonRow,
    FindingRow,
    OutboxRow,
    PairRow,
)


@dataclass(frozen=True, slots=True)
class RosterPerson:
    source: str
    email: str
    name: str
    manager: str | None
    timezone: str | None
    working_hours: str | None  # as the source wrote it, parsed by the engine
    left_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RosterPair:
    source: str
    manager: str
    report: str
    scope: int
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Roster:
    """Everything the directory sources gave, as last applied."""

    people: tuple[RosterPerson, ...] = ()
    pairs: tuple[RosterPair, ...] = ()

    def of(self, source: str) -> Roster:
        return Roster(tuple(p for p in self.people if p.source == source),
                      tuple(p for p in self.pairs if p.source == source))


@dataclass(frozen=True, slots=True)
class RosterUpdate:
    """What one complete (or failed-safe) read of a source changes."""

    source: str
    people: tuple[RosterPerson, ...] = ()  # listed now: inserted or refreshed
    left: tuple[str, ...] = ()  # emails no longer listed
    started: tuple[tuple[str, str, int], ...] = ()  # (manager, report, scope)
    ended: tuple[tuple[str, str, str], ...] = ()  # (manager, report, reason)
    rescoped: tuple[tuple[str, str, int], ...] = field(default=())


def directory_roster(store: Database) -> Roster:
    """Every stored person and pair of every source, oldest pair stretch first."""
    with store.transaction() as session:
        people = tuple(
            RosterPerson(r.source, r.email, r.name, r.manager, r.timezone, r.working_hours,
                         r.left_at)
            for r in session.scalars(
                select(DirectoryPersonRow).order_by(DirectoryPersonRow.source,
                                                    DirectoryPersonRow.email))
        )
        pairs = tuple(
            RosterPair(r.source, r.manager, r.report, r.scope, r.started_at, r.ended_at,
                       r.end_reason)
            for r in session.scalars(select(DirectoryPairRow).order_by(DirectoryPairRow.id))
        )
    return Roster(people, pairs)


def apply_directory(store: Database, change: RosterUpdate, now: datetime) -> None:
    """Apply one source's update in one transaction."""
    with store.transaction() as session:
        rows = {
            r.email: r
            for r in session.scalars(
                select(DirectoryPersonRow).where(DirectoryPersonRow.source == change.source))
        }
        for person in change.people:
            row = rows.get(person.email)
            if row is None:
                row = DirectoryPersonRow(source=change.source, email=person.email,
                                         first_seen=now)
                session.add(row)
            row.name = person.name
            row.manager = person.manager
            row.timezone = person.timezone
            row.working_hours = person.working_hours
            row.last_seen = now
            row.left_at = None  # back (a rehire keeps the first_seen of the first stretch)
        for email in change.left:
            if email in rows and rows[email].left_at is None:
                rows[email].left_at = now
        open_pairs = {
            (r.manager, r.report): r
            for r in session.scalars(
                select(DirectoryPairRow).where(DirectoryPairRow.source == change.source,
                                               DirectoryPairRow.ended_at.is_(None)))
        }
        for manager, report, reason in change.ended:
            pair = open_pairs.pop((manager, report), None)
            if pair is not None:
                pair.ended_at = now
                pair.end_reason = reason
                _close_pair(session, manager, report, reason, now)
        session.flush()  # an ended stretch frees its slot in the open-pair index
        for manager, report, scope in change.rescoped:
            if (manager, report) in open_pairs:
                open_pairs[(manager, report)].scope = scope
        for manager, report, scope in change.started:
            if (manager, report) not in open_pairs:
                session.add(DirectoryPairRow(source=change.source, manager=manager,
                                             report=report, scope=scope, started_at=now))


def _close_pair(session: Session, manager: str, report: str, reason: str,
                now: datetime) -> None:
    """An ended pair raises no more flags and gets nothing booked.

    Its open findings close, and its writes still waiting in the outbox (a
    make-up planned before the news) are dropped as failed, with the reason;
    one a worker is performing right now (under its lease) finishes.
    """
    pair_id = session.scalars(
        select(PairRow.id).where(PairRow.manager == manager, PairRow.report == report)
    ).one_or_none()
    if pair_id is None:
        return
    session.execute(
        update(FindingRow)
        .where(FindingRow.pair_id == pair_id, FindingRow.resolved_at.is_(None))
        .values(resolved_at=now)
    )
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.pair_id == pair_id, OutboxRow.state == "pending",
               or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now))
        .values(state="failed", last_error=f"not written: the pair ended ({reason})",
                updated_at=now)
    )
