"""A pair's living agenda, put together from the record and what the pages keep.

The store keeps topics, notes and action items keyed to (pair, occurrence
regular start); the record (the last evaluation, what ``check`` shows) says
which 1:1s happened, moved, were cancelled or made up; the pure rules in
:mod:`calsync.policies.meeting` say where each topic shows. This module joins
the three for the pair page, the JSON API, ``calsync agenda export`` and the
weekly email's counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from calsync.engine.evaluate import stored_occurrences
from calsync.policies.meeting import (
    TopicState,
    current_occurrence,
    overdue,
    past_occurrences,
    place_topics,
    waiting_topics,
)
from calsync.policies.types import Occurrence
from calsync.store import Store
from calsync.store.agenda import SHARED, ActionItem, Note, Topic


@dataclass(frozen=True, slots=True)
class TopicView:
    topic: Topic
    carried_since: datetime | None = None
    discussed: bool = False


@dataclass(frozen=True, slots=True)
class ActionView:
    item: ActionItem
    overdue: bool = False

    @property
    def done(self) -> bool:
        return self.item.done_at is not None


@dataclass(slots=True)
class Meeting:
    """One 1:1 of the pair: its record entry (None when outside the record) and its agenda."""

    key: datetime | None
    occurrence: Occurrence | None
    topics: list[TopicView] = field(default_factory=list)
    shared_note: Note | None = None
    private_note: Note | None = None
    actions: list[ActionView] = field(default_factory=list)  # raised in this 1:1

    @property
    def empty(self) -> bool:
        return not (self.topics or self.shared_note or self.private_note or self.actions)


@dataclass(slots=True)
class PairAgenda:
    manager: str
    report: str
    current: Meeting  # key None: nothing is on the books
    open_actions: list[ActionView]
    done_actions: list[ActionView]
    history: list[Meeting]  # newest first
    occurrences: list[Occurrence]


@dataclass(frozen=True, slots=True)
class AgendaCounts:
    waiting_topics: int
    open_actions: int
    oldest_open: datetime | None  # when the oldest open action item was raised


def _views(topics: Sequence[Topic], occurrences: Sequence[Occurrence],
           now: datetime) -> dict[datetime | None, list[TopicView]]:
    by_id = {t.id: t for t in topics}
    states = [TopicState(t.id, t.occurrence, t.discussed_in, t.position) for t in topics]
    placed: dict[datetime | None, list[TopicView]] = {}
    for placement in place_topics(states, occurrences, now):
        view = TopicView(by_id[placement.topic_id], placement.carried_since, placement.discussed)
        placed.setdefault(placement.occurrence, []).append(view)
    for views in placed.values():  # open topics first, in their order; discussed after
        views.sort(key=lambda v: v.discussed)
    return placed


def pair_agenda(store: Store, manager: str, report: str, reader: str, now: datetime,
                today: date) -> PairAgenda:
    """The whole page for ``reader`` (their private notes only) at ``now``."""
    occurrences = stored_occurrences(store, manager, report)
    current = current_occurrence(occurrences, now)
    placed = _views(store.topics_of(manager, report), occurrences, now)
    notes = store.notes_of(manager, report, reader)
    actions = [ActionView(a, overdue(a.due, a.done_at is not None, today))
               for a in store.actions_of(manager, report)]

    def meeting(key: datetime | None, occurrence: Occurrence | None) -> Meeting:
        here = Meeting(key, occurrence, placed.get(key, []))
        for note in notes:
            if note.occurrence == key:
                if note.owner == SHARED:
                    here.shared_note = note
                else:
                    here.private_note = note
        here.actions = [a for a in actions if a.item.occurrence == key]
        return here

    current_key = current.original_start if current is not None else None
    head = meeting(current_key, current)
    if current_key is not None:
        head.topics = placed.get(None, []) + head.topics  # (none: a current 1:1 takes them all)
    past = past_occurrences(occurrences, now)
    history = [meeting(o.original_start, o) for o in past]
    known = {current_key, *(o.original_start for o in occurrences)}
    stray = {t.topic.discussed_in for views in placed.values() for t in views if t.discussed}
    stray |= {n.occurrence for n in notes} | {a.item.occurrence for a in actions}
    for key in sorted(k for k in stray - known if k is not None and k <= now):
        history.append(meeting(key, None))  # before the record's horizon: kept, shown
    history.sort(key=lambda m: m.occurrence.start if m.occurrence else m.key, reverse=True)
    open_actions = [a for a in actions if not a.done]
    open_actions.sort(key=lambda a: (not a.overdue, a.item.due or date.max, a.item.created_at))
    done = sorted((a for a in actions if a.done), key=lambda a: a.item.done_at, reverse=True)
    return PairAgenda(manager, report, head, open_actions, done, history, occurrences)


def agenda_counts(store: Store, manager: str, report: str, now: datetime) -> AgendaCounts:
    """What the weekly email says about a pair's agenda."""
    occurrences = stored_occurrences(store, manager, report)
    topics = store.topics_of(manager, report)
    states = [TopicState(t.id, t.occurrence, t.discussed_in, t.position) for t in topics]
    waiting = waiting_topics(place_topics(states, occurrences, now),
                             current_occurrence(occurrences, now))
    open_items = [a for a in store.actions_of(manager, report) if a.done_at is None]
    oldest = min((a.created_at for a in open_items), default=None)
    return AgendaCounts(waiting, len(open_items), oldest)
