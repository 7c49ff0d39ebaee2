"""When each person is away (leave, out of office, public holidays). Pure: no I/O, no clock.

A 1:1 that falls while either person is away is ``excused``: not a bump, not
counted in adherence, not a reason for a make-up. A cadence gap is measured
over the time both were present. The spans come from two places:

- the person's own calendar: events a provider marked ``tags["away"]``
  (Google out-of-office, Graph ``showAs = "oof"`` and scheduled automatic
  replies, ICS ``X-MICROSOFT-CDO-BUSYSTATUS:OOF`` or an all-day "PTO");
- the public holidays of the person's region (``holidays = "US-CA"``), each
  a whole local day in the person's own time zone, from the ``holidays``
  package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calsync.model import Event, EventStatus, Response, to_utc
from calsync.policies.types import Occurrence, PairParams, Status

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class AwaySpan:
    """One stretch of time a person is away, ``[start, end)``, and why."""

    start: datetime
    end: datetime
    reason: str  # "out of office", or the holiday's name
    holiday: bool = False
    zone: ZoneInfo | None = None  # the person's own: their days are read in it

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start, "away start"))
        object.__setattr__(self, "end", to_utc(self.end, "away end"))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


Away = Mapping[str, Sequence[AwaySpan]]  # email -> spans


def spans_from_events(events: Iterable[Event], person: str,
                      zone: ZoneInfo | None = None) -> list[AwaySpan]:
    """The away spans one person's own calendar shows.

    Series masters are skipped (their occurrences are rows of their own), and
    so are cancelled events and events the person declined.
    """
    out = []
    for event in events:
        reason = event.away
        if reason is None or event.is_series or event.status is EventStatus.CANCELLED:
            continue
        if event.response_of(person) is Response.DECLINED or event.end <= event.start:
            continue
        out.append(AwaySpan(event.start, event.end, reason, zone=zone))
    return out


def holiday_spans(region: str, zone: ZoneInfo, first: date, last: date) -> list[AwaySpan]:
    """The public holidays of ``region`` from ``first`` to ``last`` (inclusive), as local days."""
    # Imported here: the package takes a moment to load, and most teams never need it.
    import holidays as holiday_calendars

    country, _, subdivision = region.partition("-")
    calendar = holiday_calendars.country_holidays(
        country, subdiv=subdivision or None, years=range(first.year, last.year + 1)
    )
    out = []
    for day, name in sorted(calendar.items()):
        if first <= day <= last:
            start = datetime.combine(day, time(0), tzinfo=zone)
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            out.append(AwaySpan(start, end, name, holiday=True, zone=zone))
    return out


def merged(spans: Iterable[AwaySpan]) -> list[tuple[datetime, datetime]]:
    """The union of ``spans`` as sorted, disjoint intervals."""
    out: list[tuple[datetime, datetime]] = []
    for span in sorted(spans, key=lambda s: s.start):
        if out and span.start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], span.end))
        else:
            out.append((span.start, span.end))
    return out


def away_time(away: Away, start: datetime, end: datetime) -> timedelta:
    """How much of ``[start, end)`` either person was away."""
    total = timedelta(0)
    for lo, hi in merged(s for spans in away.values() for s in spans):
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            total += hi - lo
    return total


def away_days(spans: Iterable[AwaySpan], zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Every local day (in ``zone``) a span touches, whole: no make-up goes into them."""
    out = []
    for lo, hi in merged(spans):
        day = lo.astimezone(zone).date()
        last = (hi - timedelta(microseconds=1)).astimezone(zone).date()
        out.append((
            datetime.combine(day, time(0), tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
        ))
    return out


def _first_names(pair: PairParams) -> dict[str, str]:
    """How leave names people: by first name, as a team says it ("Ana away 16–27 Nov")."""
    out = {}
    for email, name in ((pair.manager, pair.manager_name), (pair.report, pair.report_name)):
        out[email] = name.split()[0] if name.split() else email.split("@", 1)[0]
    return out


def _why(hits: Sequence[tuple[str, AwaySpan]], pair: PairParams) -> str:
    """"Ana away (out of office)", "public holiday: Thanksgiving Day", or both."""
    names = _first_names(pair)
    parts: list[str] = []
    for person, span in hits:
        text = (f"public holiday: {span.reason}" if span.holiday
                else f"{names.get(person, person)} away ({span.reason})")
        if text not in parts:
            parts.append(text)
    return "; ".join(parts)


def excuse(occurrences: Sequence[Occurrence], away: Away, pair: PairParams) -> list[Occurrence]:
    """Occurrences that did not take place while either person was away become ``excused``.

    A 1:1 that took place anyway (held, shortened, moved inside its window,
    made up) stays what it was. The test is the occurrence's regular time:
    a cancelled 1:1 is reported at its regular slot too.
    """
    if not any(away.values()):
        return list(occurrences)
    out = []
    for occurrence in occurrences:
        if occurrence.kept:
            out.append(occurrence)
            continue
        start = occurrence.original_start
        end = start + max(occurrence.end - occurrence.start, timedelta(minutes=1))
        hits = [
            (person, span)
            for person in (pair.manager, pair.report)
            for span in away.get(person, ())
            if span.overlaps(start, end)
        ]
        if not hits:
            out.append(occurrence)
            continue
        out.append(replace(occurrence, status=Status.EXCUSED, by=None, in_window=None,
                           reason=_why(hits, pair)))
    return out


def day_range(spans: Sequence[AwaySpan], default_zone: ZoneInfo) -> str:
    """'16–27 Nov', '30 Nov–4 Dec', '26 Nov': the local days a stretch of leave covers.

    Days are the away person's own (their zone, else ``default_zone``): leave
    from Monday to Friday in Lisbon is not "Sun–Fri" for a manager in New York.
    """
    zone = next((s.zone for s in spans if s.zone is not None), default_zone)
    lo = min(s.start for s in spans).astimezone(zone).date()
    hi = (max(s.end for s in spans) - timedelta(microseconds=1)).astimezone(zone).date()
    if lo == hi:
        return f"{lo.day} {_MONTHS[lo.month - 1]}"
    if (lo.year, lo.month) == (hi.year, hi.month):
        return f"{lo.day}\u2013{hi.day} {_MONTHS[hi.month - 1]}"
    return f"{lo.day} {_MONTHS[lo.month - 1]}\u2013{hi.day} {_MONTHS[hi.month - 1]}"


def stretch_around(spans: Sequence[AwaySpan], instant: datetime,
                   gap: timedelta = timedelta(days=3)) -> list[AwaySpan]:
    """The spans of the stretch of leave that covers ``instant``.

    Spans less than ``gap`` apart belong to one stretch: two weeks of vacation
    blocked as two Mon–Fri events is one "away 16–27 Nov".
    """
    ordered = sorted(spans, key=lambda s: s.start)
    stretches: list[list[AwaySpan]] = []
    for span in ordered:
        if stretches and span.start - max(s.end for s in stretches[-1]) < gap:
            stretches[-1].append(span)
        else:
            stretches.append([span])
    for stretch in stretches:
        if min(s.start for s in stretch) <= instant < max(s.end for s in stretch):
            return stretch
    return []


def away_notes(
    occurrences: Sequence[Occurrence], away: Away, pair: PairParams
) -> tuple[str, ...]:
    """What a report says instead of a flag: "Ana away 16–27 Nov", "Thanksgiving Day (26 Nov)".

    One note per stretch of leave (or holiday) that excused one of ``occurrences``,
    dates in the manager's zone.
    """
    zone = ZoneInfo(pair.manager_zone)
    names = _first_names(pair)
    notes: list[str] = []
    for occurrence in occurrences:
        if occurrence.status is not Status.EXCUSED:
            continue
        start = occurrence.original_start
        end = start + max(occurrence.end - occurrence.start, timedelta(minutes=1))
        for person in (pair.manager, pair.report):
            spans = away.get(person, ())
            for span in spans:
                if not span.overlaps(start, end):
                    continue
                if span.holiday:
                    note = f"{span.reason} ({day_range([span], zone)})"
                else:
                    stretch = stretch_around([s for s in spans if not s.holiday], start)
                    note = f"{names[person]} away {day_range(stretch or [span], zone)}"
                if note not in notes:
                    notes.append(note)
    return tuple(notes)
