"""What the 1:1 pages keep: page ids, topics, notes, action items, sign-in links.

Rows are keyed to (pair, occurrence regular start), never to a provider's
event id. Where a topic shows (carried over or not) is not stored: it is
computed from the record each time (``calsync.policies.meeting``), so a
cancelled, moved or made-up 1:1 can never strand one.

Who may change what is the web layer's business; every change here records
who made it (``author``, ``updated_by``, ``discussed_by``, ``done_by``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, update

from calsync.store import codec
from calsync.store.base import Database, insert_if_absent, utc
from calsync.store.models import (
    ActionItemRow,
    NoteRow,
    PairPageRow,
    PairRow,
    SignInTokenRow,
    TopicRow,
)
from calsync.store.pairs import find_pair

SHARED = ""  # the ``owner`` of a shared note


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    occurrence: datetime
    title: str
    position: int
    author: str
    created_at: datetime
    updated_at: datetime
    discussed_in: datetime | None
    discussed_by: str | None
    discussed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Note:
    occurrence: datetime
    owner: str  # '' for the shared note, else the private note's author
    body: str
    created_by: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ActionItem:
    id: int
    occurrence: datetime
    title: str
    owner: str
    due: date | None
    author: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True, slots=True)
class PairRef:
    manager: str
    report: str
    page_id: str


# -- page ids -----------------------------------------------------------------------


def page_id(store: Database, manager: str, report: str, now: datetime) -> str:
    """The pair's opaque page id, made once (random) and never changed."""
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        insert_if_absent(
            session, PairPageRow,
            {"pair_id": pair.id, "page_id": secrets.token_urlsafe(12), "created_at": utc(now)},
            ("pair_id",),
        )
        return session.scalars(
            select(PairPageRow.page_id).where(PairPageRow.pair_id == pair.id)
        ).one()


def pair_of_page(store: Database, page: str) -> PairRef | None:
    """The pair a page id belongs to (active or not), or None."""
    with store.transaction() as session:
        row = session.execute(
            select(PairRow.manager, PairRow.report)
            .join(PairPageRow, PairPageRow.pair_id == PairRow.id)
            .where(PairPageRow.page_id == page)
        ).first()
        return None if row is None else PairRef(row.manager, row.report, page)


# -- topics -------------------------------------------------------------------------


def topics_of(store: Database, manager: str, report: str) -> list[Topic]:
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        rows = session.scalars(
            select(TopicRow).where(TopicRow.pair_id == pair.id)
            .order_by(TopicRow.position, TopicRow.id)
        )
        return [_topic(row) for row in rows]


def add_topic(store: Database, manager: str, report: str, occurrence: datetime, title: str,
              author: str, now: datetime) -> int:
    """A new topic at the end of the agenda; its id."""
    now = utc(now)
    with store.transaction() as session:
        pair = find_pair(session, manager, report, lock=True)
        last = session.scalar(
            select(func.max(TopicRow.position)).where(TopicRow.pair_id == pair.id)
        )
        row = TopicRow(
            pair_id=pair.id, occurrence=utc(occurrence), title=codec.clean(title),
            position=(last or 0) + 1, author=author, created_at=now, updated_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def edit_topic(store: Database, manager: str, report: str, topic_id: int, title: str,
               now: datetime) -> None:
    with store.transaction() as session:
        row = _own(session, TopicRow, manager, report, topic_id)
        row.title = codec.clean(title)
        row.updated_at = utc(now)


def remove_topic(store: Database, manager: str, report: str, topic_id: int) -> None:
    with store.transaction() as session:
        session.delete(_own(session, TopicRow, manager, report, topic_id))


def set_discussed(store: Database, manager: str, report: str, topic_id: int,
                  occurrence: datetime | None, who: str, now: datetime) -> None:
    """Mark discussed in ``occurrence``, or (None) open again."""
    with store.transaction() as session:
        row = _own(session, TopicRow, manager, report, topic_id)
        row.discussed_in = None if occurrence is None else utc(occurrence)
        row.discussed_by = None if occurrence is None else who
        row.discussed_at = None if occurrence is None else utc(now)
        row.updated_at = utc(now)


def move_topic(store: Database, manager: str, report: str, topic_id: int,
               among: list[int], step: int) -> None:
    """Move a topic ``step`` places (-1 up, +1 down) within the shown order ``among``."""
    with store.transaction() as session:
        pair = find_pair(session, manager, report, lock=True)
        if topic_id not in among:
            raise LookupError(f"no topic {topic_id} on this agenda")
        order = list(among)
        index = order.index(topic_id)
        target = max(0, min(len(order) - 1, index + step))
        order.insert(target, order.pop(index))
        rows = {
            row.id: row for row in session.scalars(
                select(TopicRow).where(TopicRow.pair_id == pair.id, TopicRow.id.in_(order))
            )
        }
        if set(rows) != set(order):
            raise LookupError("the agenda changed meanwhile: reload it")
        # The shown topics trade places among their own positions: others stay put.
        positions = sorted(row.position for row in rows.values())
        if len(set(positions)) != len(positions):
            positions = list(range(positions[0], positions[0] + len(order)))
        for position, ident in zip(positions, order, strict=True):
            rows[ident].position = position


# -- notes ----------------------------------------------------------------------------


def notes_of(store: Database, manager: str, report: str, reader: str) -> list[Note]:
    """The shared notes, and ``reader``'s own private notes: never anyone else's."""
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        rows = session.scalars(
            select(NoteRow).where(NoteRow.pair_id == pair.id,
                                  NoteRow.owner.in_([SHARED, reader]))
            .order_by(NoteRow.occurrence)
        )
        return [Note(r.occurrence, r.owner, r.body, r.created_by, r.updated_by, r.updated_at)
                for r in rows]


def save_note(store: Database, manager: str, report: str, occurrence: datetime, owner: str,
              body: str, who: str, now: datetime) -> None:
    """Write one occurrence's shared (``owner`` '') or private note; empty deletes it."""
    now, occurrence = utc(now), utc(occurrence)
    with store.transaction() as session:
        pair = find_pair(session, manager, report, lock=True)
        where = (NoteRow.pair_id == pair.id, NoteRow.occurrence == occurrence,
                 NoteRow.owner == owner)
        row = session.scalars(select(NoteRow).where(*where)).one_or_none()
        if not body.strip():
            if row is not None:
                session.delete(row)
            return
        if row is None:
            row = NoteRow(pair_id=pair.id, occurrence=occurrence, owner=owner,
                          created_by=who, created_at=now)
            session.add(row)
        row.body = codec.clean(body)
        row.updated_by = who
        row.updated_at = now


# -- action items ---------------------------------------------------------------------


def actions_of(store: Database, manager: str, report: str) -> list[ActionItem]:
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        rows = session.scalars(
            select(ActionItemRow).where(ActionItemRow.pair_id == pair.id)
            .order_by(ActionItemRow.created_at, ActionItemRow.id)
        )
        return [_action(row) for row in rows]


def add_action(store: Database, manager: str, report: str, occurrence: datetime, title: str,
               owner: str, due: date | None, author: str, now: datetime) -> int:
    now = utc(now)
    with store.transaction() as session:
        pair = find_pair(session, manager, report)
        row = ActionItemRow(
            pair_id=pair.id, occurrence=utc(occurrence), title=codec.clean(title), owner=owner,
            due=None if due is None else due.isoformat(), author=author,
            created_at=now, updated_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def set_action_done(store: Database, manager: str, report: str, action_id: int, done: bool,
                    who: str, now: datetime) -> None:
    with store.transaction() as session:
        row = _own(session, ActionItemRow, manager, report, action_id)
        row.done_at = utc(now) if done else None
        row.done_by = who if done else None
        row.updated_at = utc(now)


def remove_action(store: Database, manager: str, report: str, action_id: int) -> None:
    with store.transaction() as session:
        session.delete(_own(session, ActionItemRow, manager, report, action_id))


# -- one-time sign-in links -------------------------------------------------------------


def add_signin_token(store: Database, email: str, token_hash: str, now: datetime,
                     lifetime: timedelta) -> None:
    now = utc(now)
    with store.transaction() as session:
        session.add(SignInTokenRow(token_hash=token_hash, email=email, created_at=now,
                                   expires_at=now + lifetime))


def signin_requests_since(store: Database, email: str, since: datetime) -> int:
    """How many links were sent to ``email`` since ``since`` (for the rate limit)."""
    with store.transaction() as session:
        return session.scalar(
            select(func.count()).select_from(SignInTokenRow)
            .where(SignInTokenRow.email == email, SignInTokenRow.created_at >= utc(since))
        ) or 0


def use_signin_token(store: Database, token_hash: str, now: datetime) -> str | None:
    """The email of an unused, unexpired link, which is used up now; else None.

    One UPDATE ... WHERE used_at IS NULL: two requests racing with the same link
    cannot both succeed.
    """
    now = utc(now)
    with store.transaction() as session:
        email = session.execute(
            update(SignInTokenRow)
            .where(SignInTokenRow.token_hash == token_hash, SignInTokenRow.used_at.is_(None),
                   SignInTokenRow.expires_at > now)
            .values(used_at=now)
            .returning(SignInTokenRow.email)
        ).scalar_one_or_none()
        # Expired links are of no use to anyone: drop them as we go.
        session.execute(delete(SignInTokenRow).where(
            SignInTokenRow.expires_at < now - timedelta(days=1)))
        return email


# -- helpers ------------------------------------------------------------------------------


def _own(session, model, manager: str, report: str, ident: int):  # type: ignore[no-untyped-def]
    """The pair's row ``ident`` of ``model``; LookupError if it is not this pair's."""
    pair = find_pair(session, manager, report, lock=True)
    row = session.get(model, ident)
    if row is None or row.pair_id != pair.id:
        raise LookupError(f"no such item {ident} for {manager} / {report}")
    return row


def _topic(row: TopicRow) -> Topic:
    return Topic(row.id, row.occurrence, row.title, row.position, row.author, row.created_at,
                 row.updated_at, row.discussed_in, row.discussed_by, row.discussed_at)


def _action(row: ActionItemRow) -> ActionItem:
    return ActionItem(row.id, row.occurrence, row.title, row.owner,
                      None if row.due is None else date.fromisoformat(row.due),
                      row.author, row.created_at, row.done_at, row.done_by)
