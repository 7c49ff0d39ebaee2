"""The living agenda of a pair's 1:1s: which 1:1 is next, where each topic shows. Pure.

Everything is keyed to the record's occurrences (their regular start,
``Occurrence.original_start``): a moved 1:1 keeps its key, and a bumped one that
was made up carries its key to the make-up's time (``Status.MADE_UP``), so its
agenda follows it.

The rules, for a given ``now``:

- the **current** 1:1 is the earliest one going ahead (not cancelled, declined
  or missed) that has not ended yet: the one in progress, else the next;
- a topic marked discussed stays with the 1:1 it was discussed in;
- a topic not discussed shows on the current 1:1; if it was raised for an
  earlier (or a cancelled) one, it is *carried over since* that one. A topic
  raised ahead for a later 1:1 still on the books waits there. With nothing on
  the books, it waits for whatever comes next (``occurrence`` None): nothing
  is ever lost when a 1:1 is cancelled or moved;
- an action item stays open, on every later 1:1, until it is done; it is
  overdue from the day after its due date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from calsync.policies.types import NOT_HELD, Occurrence, Status


@dataclass(frozen=True, slots=True)
class TopicState:
    """What placing a topic needs to know about it."""

    id: int
    raised_for: datetime  # the occurrence key it was added to
    discussed_in: datetime | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a topic shows: on ``occurrence`` (a key; None = the next 1:1 once booked)."""

    topic_id: int
    occurrence: datetime | None
    carried_since: datetime | None = None  # the 1:1 it was first raised for, when carried
    discussed: bool = False


def going_ahead(occurrence: Occurrence) -> bool:
    # An excused 1:1 (someone away) does not take place: topics wait for the next.
    return occurrence.status not in NOT_HELD and occurrence.status is not Status.EXCUSED


def current_occurrence(occurrences: Iterable[Occurrence], now: datetime) -> Occurrence | None:
    """The 1:1 in progress, else the next one going ahead; None when nothing is booked."""
    ahead = [o for o in occurrences if going_ahead(o) and o.end > now]
    return min(ahead, key=lambda o: (o.start, o.original_start), default=None)


def past_occurrences(occurrences: Iterable[Occurrence], now: datetime) -> list[Occurrence]:
    """The record's 1:1s that are over (ended, or not going ahead and due), newest first."""
    past = [
        o for o in occurrences
        if o.end <= now or (not going_ahead(o) and o.original_start <= now)
    ]
    return sorted(past, key=lambda o: o.start, reverse=True)


def place_topics(
    topics: Iterable[TopicState], occurrences: Sequence[Occurrence], now: datetime
) -> list[Placement]:
    """One placement per topic, in agenda order (position, then id)."""
    current = current_occurrence(occurrences, now)
    by_key = {o.original_start: o for o in occurrences}
    out = []
    for topic in sorted(topics, key=lambda t: (t.position, t.id)):
        if topic.discussed_in is not None:
            out.append(Placement(topic.id, topic.discussed_in, discussed=True))
            continue
        raised = by_key.get(topic.raised_for)
        waiting_ahead = (
            raised is not None and going_ahead(raised) and raised.end > now
            and (current is None or raised.start >= current.start)
        )
        if waiting_ahead:
            out.append(Placement(topic.id, topic.raised_for))
        elif current is None:
            out.append(Placement(topic.id, None, topic.raised_for))
        else:
            since = None if topic.raised_for == current.original_start else topic.raised_for
            out.append(Placement(topic.id, current.original_start, since))
    return out


#: Ticking a topic off this long after a 1:1 ended still files it under that 1:1.
DISCUSSION_GRACE = timedelta(hours=12)


def discussion_key(occurrences: Sequence[Occurrence], now: datetime,
                   raised_for: datetime) -> datetime:
    """Which 1:1 a topic marked discussed now was discussed in.

    The 1:1 that ended less than ``DISCUSSION_GRACE`` ago (people tick topics
    off right after the meeting), else the current one (during or before it),
    else the last one held, else the one it was raised for.
    """
    held = [o for o in occurrences if going_ahead(o) and o.end <= now]
    last = max(held, key=lambda o: o.start, default=None)
    if last is not None and now - last.end < DISCUSSION_GRACE:
        return last.original_start
    current = current_occurrence(occurrences, now)
    if current is not None:
        return current.original_start
    if last is not None:
        return last.original_start
    return raised_for


def new_topic_key(occurrences: Sequence[Occurrence], now: datetime) -> datetime:
    """The occurrence key a topic added now is raised for: the current 1:1, else now."""
    current = current_occurrence(occurrences, now)
    return current.original_start if current is not None else now


def overdue(due: date | None, done: bool, today: date) -> bool:
    """An open action item past its due date (``today`` in the reader's zone)."""
    return due is not None and not done and due < today


def waiting_topics(placements: Iterable[Placement], current: Occurrence | None) -> int:
    """How many topics wait for the next 1:1 (the weekly email's count)."""
    key = current.original_start if current is not None else None
    return sum(1 for p in placements if not p.discussed and p.occurrence in (key, None))
