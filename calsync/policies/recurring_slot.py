"""A recurring slot for a pair with no 1:1 series: same weekday, same local time.

Pure: both people's working hours and busy times, the cadence and ``now`` come
in as values; a :class:`~calsync.policies.types.SeriesProposal` (or None) comes
out.

Whose zone rules: the first person's (the manager's). The series is created
on the manager's calendar with the manager's zone, so its wall time is fixed
there and moves for the other person when their zone changes offset on a
different date (New York and Berlin switch two or three weeks apart in March,
one week apart in October/November). That is why every checked occurrence is
converted on its own, never by adding a fixed offset.

A candidate ``(weekday, local start)`` in the manager's zone is kept when, for
each of the next :func:`occurrences_checked` occurrences (the first from
tomorrow on):

- it lies inside both people's working hours, each in their own zone, on
  **every** occurrence, including the weeks between the two DST switches (a
  slot that is fine in winter and summer but not in between is refused);
- it is free on both calendars (no overlap with a busy interval or an
  all-day out-of-office span) on at least ``min_free`` of them; the others
  are reported as conflicts.

Ranking: earlier in the week first (the manager's Monday to Sunday: a 1:1
early in the week sets up the week), then fewer conflicts, then nearest the
middle of both people's working days (the largest distance between the slot's
middle and the middle of either person's working span, over all checked
occurrences), then the earlier time.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calsync.policies.slots import Availability
from calsync.policies.types import SeriesProposal
from calsync.timeutil import Cadence

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ORDINALS = ("1st", "2nd", "3rd", "4th")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SHOWN_CONFLICTS = 3


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    """What the search needs: the manager first (their zone is the series' zone)."""

    people: tuple[Availability, ...]
    duration: timedelta
    cadence: Cadence
    occurrences: int | None = None  # how many to check; default occurrences_checked(cadence)
    min_free: float = 0.75  # the share of checked occurrences that must be free
    step: timedelta = timedelta(minutes=15)  # local start times aligned to this


def occurrences_checked(cadence: Cadence) -> int:
    """About eight weeks ahead, never fewer than four occurrences (8 weekly, 4 biweekly)."""
    if cadence.monthly:
        return 4
    return max(4, math.ceil(8 / cadence.weeks))


def required_free(request: SeriesRequest) -> tuple[int, int]:
    """(free occurrences needed, occurrences checked)."""
    total = request.occurrences or occurrences_checked(request.cadence)
    return math.ceil(request.min_free * total - 1e-9), total


def propose_series(request: SeriesRequest, now: datetime) -> SeriesProposal | None:
    """The best recurring slot for the pair, or None when none fits (see the module doc)."""
    if not request.people:
        raise ValueError("a series proposal needs at least one person")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if request.duration <= timedelta(0) or request.step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    need, total = required_free(request)
    anchor = request.people[0].zone
    tomorrow = now.astimezone(anchor).date() + timedelta(days=1)
    horizon = (now, now + request.cadence.period * (total + 1) + timedelta(weeks=1))
    busy = [_busy(person, horizon) for person in request.people]
    best: tuple[tuple[int, int, float, time], SeriesProposal] | None = None
    for offset in range(7):
        first = _first_date(tomorrow + timedelta(days=offset), request.cadence)
        dates = _dates(first, request.cadence, total)
        for local in _local_starts(request.step, request.duration):
            starts = [_instant(day, local, anchor) for day in dates]
            if starts[0] <= now:
                continue
            distance = _fits_hours(request.people, starts, request.duration)
            if distance is None:
                continue
            conflicts = tuple(
                start for start in starts
                if any(spans.overlaps(start, start + request.duration) for spans in busy)
            )
            if total - len(conflicts) < need:
                continue
            rank = (first.weekday(), len(conflicts), distance, local)
            if best is None or rank < best[0]:
                best = (rank, _proposal(request, first, local, starts, conflicts))
    return None if best is None else best[1]


def no_proposal_text(request: SeriesRequest) -> str:
    """Why nothing is proposed, in the finding's words."""
    need, total = required_free(request)
    unit = "weeks" if request.cadence == Cadence(weeks=1) else "occurrences"
    return (
        "no recurring slot that fits both people's working hours on every one of the next "
        f"{total} {unit} and is free on both calendars in at least {need} of them"
    )


# -- candidates -----------------------------------------------------------------------------


def _first_date(day: date, cadence: Cadence) -> date:
    """A monthly series repeats on the nth weekday: a 5th weekday is not in every month."""
    if cadence.monthly and (day.day - 1) // 7 >= len(_ORDINALS):
        return day + timedelta(days=7)
    return day


def _dates(first: date, cadence: Cadence, count: int) -> list[date]:
    if not cadence.monthly:
        return [first + timedelta(weeks=cadence.weeks * k) for k in range(count)]
    nth = (first.day - 1) // 7
    out = []
    year, month = first.year, first.month
    for _ in range(count):
        start = date(year, month, 1)
        shift = (first.weekday() - start.weekday()) % 7
        out.append(start + timedelta(days=shift + 7 * nth))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _local_starts(step: timedelta, duration: timedelta) -> list[time]:
    """Wall-clock starts of one day, aligned to ``step``, the slot ending by midnight."""
    out = []
    moment = timedelta(0)
    while moment + duration <= timedelta(days=1):
        seconds = int(moment.total_seconds())
        out.append(time(seconds // 3600, seconds % 3600 // 60))
        moment += step
    return out


def _instant(day: date, local: time, zone: ZoneInfo) -> datetime:
    """The wall time in ``zone`` as a UTC instant (each date converted on its own: DST)."""
    return datetime.combine(day, local, zone).astimezone(UTC)


# -- checks ---------------------------------------------------------------------------------


def _fits_hours(
    people: Sequence[Availability], starts: Sequence[datetime], duration: timedelta
) -> float | None:
    """None when an occurrence leaves someone's working hours; else the distance from the
    middle of their working spans (the largest over people and occurrences, in minutes)."""
    worst = 0.0
    for start in starts:
        end = start + duration
        middle = start + duration / 2
        for person in people:
            local_day = start.astimezone(person.zone).date()
            span = next(
                ((lo, hi) for lo, hi in person.hours.intervals(local_day, person.zone)
                 if lo <= start and end <= hi),
                None,
            )
            if span is None:
                return None
            centre = span[0] + (span[1] - span[0]) / 2
            worst = max(worst, abs((middle - centre).total_seconds()) / 60)
    return worst


class _Busy:
    """One person's busy spans inside the horizon, merged: an overlap test is a bisect."""

    def __init__(self, spans: list[tuple[datetime, datetime]]) -> None:
        merged: list[tuple[datetime, datetime]] = []
        for lo, hi in sorted(spans):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.starts = [lo for lo, _ in merged]
        self.spans = merged

    def overlaps(self, start: datetime, end: datetime) -> bool:
        index = bisect_left(self.starts, end)  # spans starting before ``end``
        return index > 0 and self.spans[index - 1][1] > start


def _busy(person: Availability, horizon: tuple[datetime, datetime]) -> _Busy:
    lo, hi = horizon
    return _Busy([(a, b) for a, b in (*person.busy, *person.out_of_office) if a < hi and b > lo])


# -- the proposal ---------------------------------------------------------------------------


def _proposal(
    request: SeriesRequest,
    first: date,
    local: time,
    starts: Sequence[datetime],
    conflicts: tuple[datetime, ...],
) -> SeriesProposal:
    manager = request.people[0]
    cadence = request.cadence
    zone = manager.zone.key
    return SeriesProposal(
        weekday=first.weekday(),
        local_start=local,
        zone=zone,
        duration=request.duration,
        cadence=cadence,
        starts=tuple(starts),
        conflicts=conflicts,
        rrule=_rrule(first, cadence),
        text=_text(request, first, starts, conflicts),
    )


def _rrule(first: date, cadence: Cadence) -> str:
    day = _BYDAY[first.weekday()]
    if cadence.monthly:
        return f"RRULE:FREQ=MONTHLY;BYDAY={(first.day - 1) // 7 + 1}{day}"
    interval = f";INTERVAL={cadence.weeks}" if cadence.weeks > 1 else ""
    return f"RRULE:FREQ=WEEKLY{interval};BYDAY={day}"


def city(zone: str) -> str:
    """'America/New_York' -> 'New York' (how people name a zone)."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _when(cadence: Cadence, first: date) -> str:
    name = _WEEKDAYS[first.weekday()]
    if cadence.monthly:
        return f"the {_ORDINALS[(first.day - 1) // 7]} {name} of each month"
    if cadence.weeks == 1:
        return name + "s"
    if cadence.weeks == 2:
        return f"every other {name}"
    return f"every {cadence.weeks} weeks on {name}"


def _text(
    request: SeriesRequest, first: date, starts: Sequence[datetime],
    conflicts: Sequence[datetime],
) -> str:
    manager = request.people[0]
    begin = starts[0].astimezone(manager.zone)
    end = (starts[0] + request.duration).astimezone(manager.zone)
    text = f"{_when(request.cadence, first)} {begin:%H:%M}–{end:%H:%M} {city(manager.zone.key)}"
    others = [
        f"{starts[0].astimezone(p.zone):%H:%M} {city(p.zone.key)}"
        for p in request.people[1:]
        if p.zone.key != manager.zone.key
    ]
    if others:
        text += f" ({', '.join(others)})"
    unit = "weeks" if request.cadence == Cadence(weeks=1) else "1:1s"
    text += f", free {len(starts) - len(conflicts)} of the next {len(starts)} {unit}"
    if conflicts:
        shown = ", ".join(_day(c.astimezone(manager.zone)) for c in conflicts[:_SHOWN_CONFLICTS])
        more = len(conflicts) - _SHOWN_CONFLICTS
        text += f" (busy {shown}{f' and {more} more' if more > 0 else ''})"
    return text


def _day(local: datetime) -> str:
    """'Tue 15 Dec' without the machine's locale."""
    return f"{_WEEKDAYS[local.weekday()][:3]} {local.day} {_MONTHS[local.month - 1]}"
