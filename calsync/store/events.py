"""Reading stored events back, by owner, as neutral ``calsync.model.Event`` values.

Events are written by ``calendars.apply_changes``, together with the cursor
that covers them; this module only reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from calsync.model import Event, normalize_email
from calsync.store import codec
from calsync.store.base import CHUNK, Database
from calsync.store.models import CalendarRow, EventRow


def events_of(store: Database, owner_emails: Iterable[str]) -> dict[str, list[Event]]:
    """Each owner's events across all their calendars, in start order (one query).

    Every requested owner is a key, with an empty list when nothing is stored.
    """
    owners = list(dict.fromkeys(normalize_email(email) for email in owner_emails))
    result: dict[str, list[Event]] = {owner: [] for owner in owners}
    for start in range(0, len(owners), CHUNK):
        chunk = owners[start : start + CHUNK]
        _collect(store, result, CalendarRow.owner.in_(chunk))
    return result


def all_events(store: Database) -> dict[str, list[Event]]:
    """Every stored event, by owner, in start order (one query)."""
    result: dict[str, list[Event]] = {}
    _collect(store, result, None)
    return result


def _collect(store: Database, into: dict[str, list[Event]], where: Any) -> None:
    query = select(CalendarRow.owner, *EventRow.__table__.c).join(
        CalendarRow, EventRow.calendar_id == CalendarRow.id
    )
    if where is not None:
        query = query.where(where)
    query = query.order_by(CalendarRow.owner, EventRow.start, EventRow.key)
    with store.transaction() as session:
        for row in session.execute(query):
            into.setdefault(row.owner, []).append(codec.event_from_row(row))
