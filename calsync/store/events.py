"""Reading stored events back, by owner, as neutral ``calsync.model.Event`` values.

Events are written by ``calendars.apply_changes``, together with the cursor
that covers them; this module only reads. Rows are read with SQLAlchemy Core
and decoded by ``codec.RowDecoder`` (JSON decoded once per distinct text,
emails interned, times parsed without the ORM's type machinery).

``events_of`` reads everything an owner has; ``events_for_pairs`` reads only
what evaluating some pairs needs, which on a year of history is a fraction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.sql.elements import ColumnElement

from calsync.model import Event, normalize_email
from calsync.store import codec
from calsync.store.base import CHUNK, Database
from calsync.store.models import CalendarRow, EventRow

_E = EventRow.__table__.c


def events_of(store: Database, owner_emails: Iterable[str]) -> dict[str, list[Event]]:
    """Each owner's events across all their calendars, in start order.

    Every requested owner is a key, with an empty list when nothing is stored.
    """
    owners = list(dict.fromkeys(normalize_email(email) for email in owner_emails))
    result: dict[str, list[Event]] = {owner: [] for owner in owners}
    decoder = codec.RowDecoder(store.engine.dialect.name)
    for start in range(0, len(owners), CHUNK):
        chunk = owners[start : start + CHUNK]
        _collect(store, decoder, result, CalendarRow.owner.in_(chunk))
    return result


def all_events(store: Database) -> dict[str, list[Event]]:
    """Every stored event, by owner, in start order (one query)."""
    result: dict[str, list[Event]] = {}
    _collect(store, codec.RowDecoder(store.engine.dialect.name), result, None)
    return result


def events_for_pairs(
    store: Database,
    owner_emails: Iterable[str],
    pairs: Collection[tuple[str, str]],
    since: datetime,
) -> dict[str, list[Event]]:
    """What evaluating ``pairs`` reads from the owners' calendars, in start order.

    - every series master (any of them may be a pair's 1:1, and its agenda
      block and scheduling-tool markers are read from it);
    - every occurrence, past or not, of the series whose people are exactly
      one of ``pairs`` (the pair's history: its first and last occurrence
      chain split series, its last held one dates a cadence gap);
    - every event calsync tagged (make-ups), past or not;
    - anything else only when it ends at or after ``since``: busy times and
      conflicts are only ever looked for from ``now`` on.

    Every requested owner is a key, with an empty list when nothing is stored.
    """
    owners = list(dict.fromkeys(normalize_email(email) for email in owner_emails))
    result: dict[str, list[Event]] = {owner: [] for owner in owners}
    decoder = codec.RowDecoder(store.engine.dialect.name)
    people = {frozenset((normalize_email(a), normalize_email(b))) for a, b in pairs}
    for start in range(0, len(owners), CHUNK):
        chunk = owners[start : start + CHUNK]
        _collect(store, decoder, result, pairs_filter(store, chunk, people, since))
    return result


def pairs_filter(
    store: Database, owners: list[str], people: set[frozenset[str]], since: datetime
) -> ColumnElement[bool]:
    """The WHERE clause of ``events_for_pairs`` for these owners (it reads their masters).

    Apart so a benchmark can run a plain SELECT of exactly the same rows.
    """
    uids = _pair_series(store, owners, people)
    wanted: ColumnElement[bool] = or_(
        cast(_E.recurrence, Text) != "[]",
        cast(_E.tags, Text) != "{}",
        _E.end >= since,
    )
    if uids:
        # Small by construction: the few series of a manager's group.
        wanted = or_(wanted, _E.uid.in_(sorted(uids)))
    return and_(CalendarRow.owner.in_(owners), wanted)


def _pair_series(store: Database, owners: list[str], people: set[frozenset[str]]) -> set[str]:
    """Uids of the series masters on these calendars whose people are one of the pairs."""
    query = (
        select(_E.uid, _E.organizer, cast(_E.attendees, Text).label("attendees"))
        .join(CalendarRow, _E.calendar_id == CalendarRow.id)
        .where(CalendarRow.owner.in_(owners), cast(_E.recurrence, Text) != "[]")
    )
    found = set()
    with store.engine.connect() as connection:
        for uid, organizer, attendees in connection.execute(query):
            emails = {a["email"] for a in json.loads(attendees)}
            if organizer:
                emails.add(organizer)
            if frozenset(emails) in people:
                found.add(uid)
    return found


def _collect(
    store: Database, decoder: codec.RowDecoder, into: dict[str, list[Event]], where: Any
) -> None:
    query = select(CalendarRow.owner, *decoder.columns(_E)).join(
        CalendarRow, _E.calendar_id == CalendarRow.id
    )
    if where is not None:
        query = query.where(where)
    query = query.order_by(CalendarRow.owner, _E.start, _E.key)
    decode = decoder.event
    with store.engine.connect() as connection:
        owner = None
        events: list[Event] = []
        for row in connection.execute(query):
            if row[0] != owner:
                owner = row[0]
                events = into.setdefault(decoder.intern(owner), [])
            events.append(decode(row))
