"""When each person is nudged before a 1:1 (pure: the record, the people and ``now`` in).

A nudge is a short email a set time (``[web] nudge``) before each upcoming
1:1, to both people. The time is moved into each person's own working hours:
an email at 03:00 or on a Sunday is read at the same moment as one sent the
working day before, and is noise until then. Of the two working moments
around the wanted time, the next one is chosen when it still leaves at least
half the lead (a 1:1 at 08:30 is nudged at 09:00 the day before), else the
previous one, an hour before that working day ends (a Monday 1:1 is nudged
on Friday afternoon rather than an hour before it starts).

An optional second reminder (``[web] nudge_empty``) goes out a few hours
before a 1:1 whose agenda is still empty; whether it is empty is for the
caller to look up when the reminder is due. Outside working hours it moves
to the start of the working day when that is still before the 1:1 (a 10:00
1:1 with ``3h`` is reminded at 09:00), and it is dropped when it would come
no later than the nudge itself (which says "no topics yet" already).

What is nudged: every occurrence that is still to come and not cancelled,
declined or missed; a make-up is nudged under its own key (its bumped
original may have been nudged before it was cancelled). A moved 1:1 keeps the
key of its regular time: moving it after the nudge does not nudge again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.policies.meeting import going_ahead
from calsync.policies.types import Occurrence, Status
from calsync.timeutil import WorkingHours

NUDGE = "nudge"
EMPTY = "empty"
# How far back to look for a working moment (someone away for a fortnight has none).
SEARCH_DAYS = 14
# The previous working day's nudge goes out this long before that day ends.
BEFORE_DAY_ENDS = timedelta(hours=1)
# The empty-agenda reminder moves to the start of the working day when that still
# leaves this long to add a topic.
EMPTY_LEAST = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    zone: ZoneInfo
    hours: WorkingHours


@dataclass(frozen=True, slots=True)
class DueNudge:
    """One email to one person about one 1:1."""

    person: str
    kind: str  # NUDGE | EMPTY
    occurrence: Occurrence
    send_at: datetime
    key: str  # the send ledger's key: kind, pair and occurrence

    @property
    def made_up(self) -> bool:
        return self.occurrence.status is Status.MADE_UP


def nudge_key(kind: str, pair_key: str, occurrence: Occurrence) -> str:
    """The same key for the same 1:1 however often it is asked (restarts, workers)."""
    if occurrence.status is Status.MADE_UP:
        when = f"made_up@{occurrence.start.isoformat()}"
    else:
        when = occurrence.original_start.isoformat()
    prefix = "nudge" if kind == NUDGE else "nudge-empty"
    return f"{prefix}|{pair_key}|{when}"


def _working(hours: WorkingHours, zone: ZoneInfo, around: datetime,
             days: range) -> Iterable[tuple[datetime, datetime]]:
    local = around.astimezone(zone).date()
    for offset in days:
        yield from sorted(hours.intervals(local + timedelta(days=offset), zone))


def send_time(start: datetime, lead: timedelta, person: Recipient,
              least: timedelta | None = None) -> datetime:
    """When to nudge ``person`` about a 1:1 at ``start``: ``lead`` before, in working hours.

    Outside working hours, the next working moment is taken when it still
    leaves ``least`` before the 1:1 (default: half the lead), else the last
    working hour before the wanted time.
    """
    wanted = start - lead
    least = lead / 2 if least is None else least
    intervals = list(_working(person.hours, person.zone, wanted,
                              range(-SEARCH_DAYS, SEARCH_DAYS + 1)))
    if any(lo <= wanted < hi for lo, hi in intervals):
        return wanted
    later = [lo for lo, _ in intervals if wanted < lo]
    if later and min(later) <= start - least:
        return min(later)
    earlier = [(lo, hi) for lo, hi in intervals if hi <= wanted]
    if not earlier:
        return wanted  # no working hours anywhere near: the plain time
    lo, hi = max(earlier, key=lambda span: span[1])
    return max(lo, hi - BEFORE_DAY_ENDS)


def nudgeable(occurrence: Occurrence, now: datetime) -> bool:
    """Still to come and meant to happen (a cancelled or declined 1:1 gets no nudge)."""
    return occurrence.start > now and going_ahead(occurrence)


def due_nudges(
    occurrences: Sequence[Occurrence],
    pair_key: str,
    people: Sequence[Recipient],
    now: datetime,
    *,
    lead: timedelta | None,
    empty_lead: timedelta | None = None,
) -> list[DueNudge]:
    """The nudges whose time has come at ``now`` and whose 1:1 has not started yet.

    The caller sends each at most once (the send ledger, by ``key``); asking
    again later returns the same ones until the 1:1 starts.
    """
    due = []
    for occurrence in occurrences:
        if not nudgeable(occurrence, now):
            continue
        for person in people:
            first = None if lead is None else send_time(occurrence.start, lead, person)
            if first is not None and first <= now:
                due.append(DueNudge(person.email, NUDGE, occurrence, first,
                                    nudge_key(NUDGE, pair_key, occurrence)))
            if empty_lead is None:
                continue
            # Still empty a few hours before: said on the day, never the day before.
            again = send_time(occurrence.start, empty_lead, person, EMPTY_LEAST)
            if first is not None and again <= first:
                continue  # it would come with (or before) the nudge, which says so already
            if again <= now:
                due.append(DueNudge(person.email, EMPTY, occurrence, again,
                                    nudge_key(EMPTY, pair_key, occurrence)))
    due.sort(key=lambda n: (n.send_at, n.person, n.kind))
    return due
