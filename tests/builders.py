"""Plain-data builders for policy tests: a pair's 1:1 as both calendars hold it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from calsync.model import Attendee, Event, EventStatus, Response
from calsync.policies.types import PairParams, PolicyParams
from calsync.timeutil import Cadence

MANAGER = "maria@example.com"
REPORT = "dev@example.com"
# A Monday, 14:00 UTC (09:00 in New York before the DST change).
FIRST = datetime(2026, 8, 3, 14, 0, tzinfo=UTC)


def pair_params(cadence: str = "weekly", **overrides: object) -> PairParams:
    values: dict[str, object] = {
        "manager": MANAGER,
        "report": REPORT,
        "cadence": Cadence.parse(cadence),
        "duration": timedelta(minutes=30),
        "min_duration": timedelta(minutes=15),
        "manager_name": "Maria",
        "report_name": "Dev",
        "manager_zone": "America/New_York",
    }
    values.update(overrides)
    return PairParams(**values)  # type: ignore[arg-type]


POLICY = PolicyParams()


def _attendees(manager: Response, report: Response) -> tuple[Attendee, ...]:
    return (Attendee(MANAGER, manager), Attendee(REPORT, report))


def series(
    outcomes: list[str],
    *,
    uid: str = "one-on-one-1",
    title: str = "Maria / Dev 1:1",
    first: datetime = FIRST,
    step: timedelta = timedelta(weeks=1),
    rrule: str = "RRULE:FREQ=WEEKLY;BYDAY=MO",
    organizer: str = MANAGER,
    length: timedelta = timedelta(minutes=30),
) -> dict[str, list[Event]]:
    """Both calendars' copies of a series, one outcome per occurrence.

    Outcomes: ``held``, ``cancelled`` (organizer cancelled), ``declined_report``,
    ``declined_manager``, ``dropped_report`` (removed from the report's calendar
    only), ``moved:<hours>``, ``short:<minutes>``.
    """
    master = Event(
        uid=uid,
        start=first,
        end=first + length,
        title=title,
        organizer=organizer,
        attendees=_attendees(Response.ACCEPTED, Response.ACCEPTED),
        recurrence=(rrule,),
        timezone="America/New_York",
    )
    manager_copy: list[Event] = [master]
    report_copy: list[Event] = [master]
    for index, outcome in enumerate(outcomes):
        original = first + step * index
        base = replace(master, recurrence=(), original_start=original, start=original,
                       end=original + length)
        mine, theirs = base, base
        kind, _, arg = outcome.partition(":")
        if kind == "cancelled":
            mine = theirs = replace(base, status=EventStatus.CANCELLED)
        elif kind == "declined_report":
            mine = theirs = replace(
                base, attendees=_attendees(Response.ACCEPTED, Response.DECLINED)
            )
        elif kind == "declined_manager":
            mine = theirs = replace(
                base, attendees=_attendees(Response.DECLINED, Response.ACCEPTED)
            )
        elif kind == "dropped_report":
            theirs = replace(base, status=EventStatus.CANCELLED)
        elif kind == "moved":
            shift = timedelta(hours=float(arg))
            mine = theirs = replace(base, start=original + shift, end=original + shift + length)
        elif kind == "short":
            mine = theirs = replace(base, end=original + timedelta(minutes=int(arg)))
        elif kind != "held":
            raise ValueError(outcome)
        manager_copy.append(mine)
        report_copy.append(theirs)
    return {MANAGER: manager_copy, REPORT: report_copy}


def merge(*calendars: dict[str, list[Event]]) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {}
    for calendar in calendars:
        for owner, events in calendar.items():
            out.setdefault(owner, [])
            out[owner] = [e for e in out[owner] if not (e.is_series and e in events)] + events
    return out


def week(index: int) -> datetime:
    return FIRST + timedelta(weeks=index)
