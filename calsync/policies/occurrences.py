"""Turn the copies of a pair's 1:1 on both calendars into classified occurrences.

The manager's and the report's calendars each hold a copy of every occurrence.
The organizer's copy is authoritative for times and cancellation; each person's
own copy is authoritative for their response. A copy cancelled only on the
attendee's side means the attendee dropped it: a decline, not a cancellation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.model import Event, EventStatus, Response
from calsync.policies.types import Occurrence, PairParams, Status
from calsync.timeutil import Cadence


def cadence_window(original_start: datetime, cadence: Cadence) -> tuple[datetime, datetime]:
    """Where an occurrence may move and still count for its period.

    From half a period before its regular time until a seventh of a period
    (a day, for a weekly 1:1) before the next regular one, so a move never
    stacks two 1:1s against each other.
    """
    period = cadence.period
    return original_start - period / 2, original_start + period - period / 7


def in_window(original_start: datetime, start: datetime, cadence: Cadence) -> bool:
    lo, hi = cadence_window(original_start, cadence)
    return lo <= start < hi


def merge_copies(
    copies: Sequence[tuple[str, Event]], pair: PairParams
) -> tuple[Event, str | None, str | None]:
    """(authoritative copy, cancelled_by, declined_by) for one occurrence."""
    # A stripped copy (Google's cancelled instance) may not name the organizer.
    organizer = next((e.organizer for _, e in copies if e.organizer), None)
    organizer_copy = next((e for owner, e in copies if owner == organizer), None)
    main = organizer_copy or copies[0][1]
    cancelled_by = None
    declined_by = None
    if organizer_copy is not None:
        if organizer_copy.status is EventStatus.CANCELLED:
            cancelled_by = organizer
        else:
            for owner, event in copies:
                if owner != organizer and event.status is EventStatus.CANCELLED:
                    declined_by = owner
    elif any(e.status is EventStatus.CANCELLED for _, e in copies):
        cancelled_by = organizer
    if cancelled_by is None and declined_by is None:
        for person in (pair.manager, pair.report):
            own = next((e for owner, e in copies if owner == person), None)
            response = (own or main).response_of(person)
            if response is None and own is not main:
                response = main.response_of(person)
            if response is Response.DECLINED:
                declined_by = person
                break
    return main, cancelled_by, declined_by


def classify(
    grouped: Mapping[tuple[str, datetime], Sequence[tuple[str, Event]]],
    scheduled: Mapping[str, timedelta],
    pair: PairParams,
    now: datetime,
) -> list[Occurrence]:
    """One classified Occurrence per expected occurrence, oldest first.

    ``scheduled`` maps a series uid to its regular duration, so a shorter
    occurrence reads as shortened even when the pair's agreed length differs.
    """
    out = []
    for copies in grouped.values():
        main, cancelled_by, declined_by = merge_copies(copies, pair)
        assert main.original_start is not None
        original = main.original_start
        length = scheduled.get(main.uid, pair.duration)
        moved = main.start != original
        window_ok = in_window(original, main.start, pair.cadence) if moved else None
        if cancelled_by is not None:
            status, by = Status.CANCELLED, cancelled_by
            # A cancelled copy keeps whatever time it had; report the regular slot.
            start, end = original, original + length
            window_ok = None
        elif declined_by is not None:
            status, by = Status.DECLINED, declined_by
            start, end = main.start, main.end
        else:
            by = None
            start, end = main.start, main.end
            if moved:
                status = Status.MOVED
            elif end - start < length:
                status = Status.SHORTENED
            elif end <= now:
                status = Status.HELD
            else:
                status = Status.UPCOMING
        out.append(
            Occurrence(
                original_start=original,
                start=start,
                end=end,
                status=status,
                by=by,
                in_window=window_ok,
                uid=main.uid,
                title=main.title,
            )
        )
    out.sort(key=lambda o: o.original_start)
    return out


def missed_after(
    occurrences: Sequence[Occurrence],
    cadence: Cadence,
    zone: ZoneInfo,
    length: timedelta,
    now: datetime,
) -> list[Occurrence]:
    """Expected periods after the last series occurrence, up to now, with nothing held.

    When a series ends and nothing replaces it, the cadence still expects a
    1:1 each period: those periods are 'missed', not silently absent.
    """
    if not occurrences:
        return []
    last = occurrences[-1].original_start
    out = []
    for count in range(1, 1000):
        expected = cadence.advance(last, count, zone)
        if expected >= now:
            break
        out.append(
            Occurrence(
                original_start=expected,
                start=expected,
                end=expected + length,
                status=Status.MISSED,
            )
        )
    return out
