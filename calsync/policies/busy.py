"""One person's busy and out-of-office time from their own calendar: free/busy only.

Shared by the make-up search (engine.plan) and the recurring-slot proposal
(engine.setup), so both read a calendar's busy time the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from calsync.model import Event, EventStatus, Response


def busy_of(events: Sequence[Event], person: str, skip_uids: set[str],
            skip_starts: set[datetime]) -> tuple[list[tuple[datetime, datetime]],
                                                  list[tuple[datetime, datetime]]]:
    """(busy, out-of-office) of one person from their own calendar: free/busy only.

    Only times are used: what blocks a slot is a confirmed, opaque event the
    person did not decline. Non-transparent all-day events are out-of-office.
    """
    busy, away = [], []
    for event in events:
        if event.is_series or event.status is EventStatus.CANCELLED or event.transparent:
            continue
        if event.response_of(person) is Response.DECLINED:
            continue
        if event.uid in skip_uids and event.original_start in skip_starts:
            continue  # the bumped occurrence itself
        (away if event.all_day else busy).append((event.start, event.end))
    return busy, away
