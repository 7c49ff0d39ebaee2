"""People and manager/report pairs, as the config last described them.

Nothing here is deleted: a person or pair that leaves the config stays (a pair
becomes inactive), so its history remains for reports, and the same row comes
back to life if the config names it again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from calsync.config import Settings
from calsync.model import normalize_email
from calsync.secrets import stored_calendar
from calsync.store.base import Database
from calsync.store.models import PairRow, PersonRow

_CONFIG_LOCK = 0x63616C63  # any constant, distinct from the migration lock


def sync_config(store: Database, settings: Settings) -> None:
    """Make people and pairs match the config; a pair that left it becomes inactive."""
    with store.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Workers starting together apply the config in turn: the second then
            # finds the first one's rows instead of inserting them again.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CONFIG_LOCK})
        people = {row.email: row for row in session.scalars(select(PersonRow))}
        for person in settings.people:
            row = people.get(person.email)
            if row is None:
                row = PersonRow(email=person.email)
                session.add(row)
            row.name = person.name
            row.timezone = person.timezone
            row.working_hours = person.working_hours.text
            row.provider = person.provider
            # A feed URL is a secret: kept as its digest, like the calendars table.
            row.calendar = stored_calendar(person.calendar) if person.calendar else None
        session.flush()  # people first: pairs refer to them

        pairs = {(row.manager, row.report): row for row in session.scalars(select(PairRow))}
        configured = set()
        for pair in settings.pairs:
            configured.add((pair.manager, pair.report))
            pair_row = pairs.get((pair.manager, pair.report))
            if pair_row is None:
                pair_row = PairRow(manager=pair.manager, report=pair.report)
                session.add(pair_row)
            pair_row.cadence = pair.cadence.label
            pair_row.duration_minutes = _minutes(pair.duration)
            pair_row.min_duration_minutes = _minutes(pair.min_duration)
            pair_row.rebook = pair.rebook
            pair_row.title = pair.title
            pair_row.active = True
        for key, pair_row in pairs.items():
            if key not in configured:
                pair_row.active = False


def pair_id(store: Database, manager: str, report: str) -> int:
    """The id of a configured pair (for outbox rows); LookupError if unknown."""
    with store.transaction() as session:
        return find_pair(session, manager, report).id


def pair_people(store: Database, ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """(manager, report) of each of these pair ids."""
    if not ids:
        return {}
    with store.transaction() as session:
        rows = session.execute(
            select(PairRow.id, PairRow.manager, PairRow.report).where(PairRow.id.in_(sorted(ids)))
        )
        return {row.id: (row.manager, row.report) for row in rows}


def find_pair(session: Session, manager: str, report: str, *, lock: bool = False) -> PairRow:
    """The pair's row inside an open transaction; LookupError if unknown.

    ``lock`` holds the row until the transaction ends (PostgreSQL; SQLite has
    one writer anyway): writers of the same pair's rows then take turns.
    """
    manager, report = normalize_email(manager), normalize_email(report)
    query = select(PairRow).where(PairRow.manager == manager, PairRow.report == report)
    if lock:
        # FOR NO KEY UPDATE: writers of the pair wait, rows that refer to it do not.
        query = query.with_for_update(key_share=True)
    row = session.scalars(query).one_or_none()
    if row is None:
        raise LookupError(f"no pair {manager} / {report} (is it in the config?)")
    return row


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)
