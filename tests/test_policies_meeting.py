"""The living agenda, in plain data: which 1:1 is current, where topics show, carry-over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.policies.meeting import (
    Placement,
    TopicState,
    current_occurrence,
    discussion_key,
    new_topic_key,
    overdue,
    past_occurrences,
    place_topics,
    waiting_topics,
)
from calsync.policies.types import NOT_HELD, Occurrence, Status

MON = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
HALF = timedelta(minutes=30)


def occ(week: int, status: Status = Status.HELD, shift: timedelta = timedelta(0)) -> Occurrence:
    key = MON + week * WEEK
    return Occurrence(key, key + shift, key + shift + HALF, status)


def weeks(*statuses: Status) -> list[Occurrence]:
    return [occ(i, s) for i, s in enumerate(statuses)]


def test_current_is_the_one_in_progress_then_the_next_going_ahead() -> None:
    record = weeks(Status.HELD, Status.CANCELLED, Status.UPCOMING, Status.UPCOMING)
    assert current_occurrence(record, MON + timedelta(minutes=10)) == record[0]  # in progress
    # Week 1 is cancelled: after week 0 the agenda is for week 2.
    assert current_occurrence(record, MON + HALF) == record[2]
    assert current_occurrence(record, MON + 4 * WEEK) is None


def test_a_made_up_occurrence_carries_its_key_to_the_make_up_time() -> None:
    made_up = occ(1, Status.MADE_UP, shift=timedelta(days=2))
    record = [occ(0), made_up, occ(2, Status.UPCOMING)]
    now = MON + WEEK + timedelta(hours=1)  # the regular time has passed, the make-up has not
    assert current_occurrence(record, now) == made_up
    topics = [TopicState(1, raised_for=made_up.original_start)]
    assert place_topics(topics, record, now) == [Placement(1, made_up.original_start)]


def test_undiscussed_topics_carry_over_with_since_when_and_discussed_ones_stay() -> None:
    record = weeks(Status.HELD, Status.UPCOMING, Status.UPCOMING)
    now = MON + WEEK - timedelta(days=1)  # week 0 is over, week 1 is next
    topics = [
        TopicState(1, raised_for=occ(0).original_start),  # not discussed in week 0
        TopicState(2, raised_for=occ(0).original_start, discussed_in=occ(0).original_start),
        TopicState(3, raised_for=occ(1).original_start),
        TopicState(4, raised_for=occ(2).original_start),  # raised ahead: waits for week 2
    ]
    placed = {p.topic_id: p for p in place_topics(topics, record, now)}
    assert placed[1] == Placement(1, occ(1).original_start, carried_since=occ(0).original_start)
    assert placed[2] == Placement(2, occ(0).original_start, discussed=True)
    assert placed[3] == Placement(3, occ(1).original_start)
    assert placed[4] == Placement(4, occ(2).original_start)
    assert waiting_topics(placed.values(), current_occurrence(record, now)) == 2


def test_a_cancelled_one_on_ones_topics_move_to_the_next_and_say_since_when() -> None:
    record = weeks(Status.HELD, Status.CANCELLED, Status.UPCOMING)
    now = MON + timedelta(days=3)  # week 1 is already cancelled, ahead of time
    topics = [TopicState(1, raised_for=occ(1).original_start)]
    assert place_topics(topics, record, now) == [
        Placement(1, occ(2).original_start, carried_since=occ(1).original_start)
    ]


def test_with_nothing_on_the_books_topics_wait_for_whatever_comes_next() -> None:
    record = weeks(Status.HELD, Status.CANCELLED)
    now = MON + 3 * WEEK
    placed = place_topics([TopicState(7, raised_for=occ(0).original_start)], record, now)
    assert placed == [Placement(7, None, carried_since=occ(0).original_start)]
    assert waiting_topics(placed, None) == 1
    assert new_topic_key(record, now) == now


def test_discussion_is_filed_under_the_one_just_over_else_current_else_last_held() -> None:
    record = weeks(Status.HELD, Status.UPCOMING)
    assert discussion_key(record, MON + WEEK + timedelta(minutes=5), MON) == occ(1).original_start
    # Ticked off the evening after the 1:1: filed under that 1:1, not the next.
    assert discussion_key(record, MON + timedelta(hours=6), MON) == occ(0).original_start
    assert discussion_key(record, MON + timedelta(days=2), MON) == occ(1).original_start
    late = MON + 2 * WEEK
    assert discussion_key(record, late, MON) == occ(1).original_start
    assert discussion_key([], late, MON) == MON


def test_history_is_what_is_over_newest_first() -> None:
    record = weeks(Status.HELD, Status.CANCELLED, Status.UPCOMING, Status.CANCELLED)
    now = MON + WEEK + timedelta(days=1)
    assert past_occurrences(record, now) == [record[1], record[0]]


def test_overdue_from_the_day_after_the_due_date_until_done() -> None:
    today = date(2026, 11, 20)
    assert overdue(date(2026, 11, 19), False, today)
    assert not overdue(date(2026, 11, 20), False, today)
    assert not overdue(date(2026, 11, 19), True, today)
    assert not overdue(None, False, today)


# -- nothing is ever lost ---------------------------------------------------------------

STATUSES = st.sampled_from(list(Status))


@st.composite
def records(draw: st.DrawFn) -> list[Occurrence]:
    count = draw(st.integers(1, 8))
    out = []
    for week in range(count):
        status = draw(STATUSES)
        shift = timedelta(0)
        if status in (Status.MOVED, Status.MADE_UP):
            shift = timedelta(hours=draw(st.integers(-60, 120)))
        out.append(occ(week, status, shift))
    return out


@given(
    record=records(),
    raised=st.lists(st.tuples(st.integers(0, 9), st.one_of(st.none(), st.integers(0, 9))),
                    max_size=12),
    hours=st.integers(-24, 24 * 7 * 10),
)
def test_every_topic_is_placed_once_and_no_open_topic_is_left_behind(
    record: list[Occurrence], raised: list[tuple[int, int | None]], hours: int
) -> None:
    now = MON + timedelta(hours=hours)
    topics = [
        TopicState(i, raised_for=MON + r * WEEK,
                   discussed_in=None if d is None else MON + d * WEEK, position=-i)
        for i, (r, d) in enumerate(raised)
    ]
    placed = place_topics(topics, record, now)
    assert sorted(p.topic_id for p in placed) == list(range(len(topics)))  # none lost, no twins
    current = current_occurrence(record, now)
    by_key = {o.original_start: o for o in record}
    for placement, topic in zip(placed, sorted(topics, key=lambda t: (t.position, t.id)),
                                strict=True):
        assert placement.topic_id == topic.id
        if topic.discussed_in is not None:
            assert placement.occurrence == topic.discussed_in and placement.discussed
            continue
        # An open topic never sits on a 1:1 that is over or will not happen.
        if current is None:
            assert placement.occurrence is None or by_key[placement.occurrence].end > now
        else:
            assert placement.occurrence is not None
            shown = by_key[placement.occurrence]
            assert shown.status not in NOT_HELD and shown.end > now
            assert shown.start >= current.start
        # Carried topics say since when; topics on their own 1:1 do not.
        assert (placement.carried_since is None) == (placement.occurrence == topic.raised_for)
