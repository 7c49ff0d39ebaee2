"""Bump detection and make-ups, on plain data."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from calsync.model import Attendee, Event, EventStatus, Response
from calsync.policies import evaluate_pair
from calsync.policies.bumps import (
    MAX_MAKEUP_ATTEMPTS,
    detect_bumps,
    makeup_key,
    makeups_of,
    managed_by_tool,
)
from calsync.policies.types import Status
from tests.builders import MANAGER, POLICY, REPORT, pair_params, series, week

# Friday of week 11; week 12's 1:1 is on Monday, three days ahead.
NOW = week(11) + timedelta(days=4)
PAIR = pair_params()


def health_of(events):
    return evaluate_pair(events, PAIR, POLICY, NOW)


def other_meeting(start, response: Response, owner: str = REPORT) -> Event:
    return Event(
        uid=f"other-{start:%H%M}",
        start=start,
        end=start + timedelta(hours=1),
        title="Incident review",
        organizer="boss@example.com",
        attendees=(Attendee(owner, response), Attendee("boss@example.com", Response.ACCEPTED)),
    )


def makeup(for_start, start, attempt=1, status=EventStatus.CONFIRMED,
           report_response=Response.ACCEPTED) -> Event:
    return Event(
        uid=f"makeup-{attempt}",
        start=start,
        end=start + timedelta(minutes=30),
        title="1:1 Maria / Dev (make-up)",
        status=status,
        organizer=MANAGER,
        attendees=(Attendee(MANAGER, Response.ACCEPTED), Attendee(REPORT, report_response)),
        tags={"pair": PAIR.key, "for": for_start.isoformat(), "attempt": str(attempt),
              "key": makeup_key(PAIR.key, for_start, attempt)},
    )


def test_a_meeting_accepted_over_an_upcoming_one_is_a_conflict():
    events = series(["held"] * 14)
    events[REPORT].append(other_meeting(week(12), Response.ACCEPTED))
    [bump] = detect_bumps(health_of(events).occurrences, events, PAIR, NOW)
    assert (bump.reason, bump.by, bump.original_start) == ("conflict", REPORT, week(12))
    assert "Incident review" in bump.detail


def test_a_declined_or_free_overlap_is_no_conflict():
    events = series(["held"] * 14)
    events[REPORT].append(other_meeting(week(12), Response.DECLINED))
    free = replace(other_meeting(week(12), Response.ACCEPTED), uid="free", transparent=True)
    events[REPORT].append(free)
    assert detect_bumps(health_of(events).occurrences, events, PAIR, NOW) == []


def test_cancelled_and_declined_ahead_are_bumps_a_move_inside_is_respected():
    events = series(["held"] * 12 + ["cancelled", "held"])
    [bump] = detect_bumps(health_of(events).occurrences, events, PAIR, NOW)
    assert (bump.reason, bump.by, bump.attempt) == ("cancelled", MANAGER, 1)

    moved_inside = series(["held"] * 12 + ["moved:24", "held"])
    assert detect_bumps(health_of(moved_inside).occurrences, moved_inside, PAIR, NOW) == []

    moved_out = series(["held"] * 12 + ["moved:150", "held"])
    [out] = detect_bumps(health_of(moved_out).occurrences, moved_out, PAIR, NOW)
    assert out.reason == "moved_out"


def test_only_recent_misses_are_acted_on():
    # Week 9's cancellation is two weeks old: history, not something to make up now.
    events = series(["held"] * 9 + ["cancelled"] + ["held"] * 4)
    assert detect_bumps(health_of(events).occurrences, events, PAIR, NOW) == []


def test_a_live_make_up_settles_the_bump_and_counts_as_kept():
    events = series(["held"] * 12 + ["cancelled", "held"])
    for owner in events:
        events[owner].append(makeup(week(12), week(12) + timedelta(days=1)))
    health = health_of(events)
    assert detect_bumps(health.occurrences, events, PAIR, NOW) == []
    occurrence = next(o for o in health.occurrences if o.original_start == week(12))
    assert occurrence.status is Status.MADE_UP and occurrence.by == MANAGER
    assert health.bumped_by == {MANAGER: 1}  # fairness still sees the bump


def test_a_bumped_make_up_is_rebooked_once_then_flagged():
    events = series(["held"] * 12 + ["cancelled", "held"])
    for owner in events:
        events[owner].append(makeup(week(12), week(12) + timedelta(days=1),
                                    report_response=Response.DECLINED))
    [bump] = detect_bumps(health_of(events).occurrences, events, PAIR, NOW)
    assert bump.attempt == 2 and "bumped too" in bump.detail

    for owner in events:
        events[owner].append(makeup(week(12), week(12) + timedelta(days=2), attempt=2,
                                    status=EventStatus.CANCELLED))
    assert len(makeups_of(events, PAIR)[week(12)]) == MAX_MAKEUP_ATTEMPTS
    health = health_of(events)
    [again] = detect_bumps(health.occurrences, events, PAIR, NOW)
    assert again.attempt == MAX_MAKEUP_ATTEMPTS + 1  # the planner stops here
    assert "makeup_bumped" in {f.kind for f in health.findings}


def test_other_scheduling_tools_are_recognised():
    managed = Event(uid="x", start=week(0), end=week(0) + timedelta(minutes=30),
                    description="Scheduled by Reclaim.ai Smart 1:1s")
    assert managed_by_tool(managed) == "Reclaim"
    plain = replace(managed, description="Our agenda doc")
    assert managed_by_tool(plain) is None


def test_keys_are_deterministic():
    assert makeup_key(PAIR.key, week(12), 1) == makeup_key(PAIR.key, week(12), 1)
    assert makeup_key(PAIR.key, week(12), 1) != makeup_key(PAIR.key, week(12), 2)
