"""Write calendar files from a short description of meetings.

The demo team (``sample.py``) and the benchmark team (``bench/generate_team.py``)
describe their calendars as ``Meeting`` rows; this module turns each row into
VEVENTs with the icalendar library, the way calendar apps export them:

- Google-style files: TZIDs are IANA names with VTIMEZONE blocks generated
  from zoneinfo;
- Outlook-style files: TZIDs are Windows zone names ("AUS Eastern Standard
  Time") with the VTIMEZONE Outlook writes: two yearly rules from 1601.

A shared meeting lands in each participant's file with the same UID, the same
overrides and everyone's responses, as invitations propagate. Its attendee
list is the organizer's app's: Google lists the organizer as an attendee too,
Outlook does not.

Dates are relative to ``now``: a *period* counts weeks from the week holding
``now`` (0 = this week, -1 = last week), or months for monthly series. Nothing
reads the clock and DTSTAMP is ``now``, so the output is byte-for-byte
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
)
from icalendar.timezone import tzids_from_tzinfo
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

GOOGLE_PRODID = "-//calsync//demo calendars//EN"
OUTLOOK_PRODID = "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN"


@dataclass(frozen=True, slots=True)
class Person:
    key: str  # the file name stem, and how Meeting rows name the person
    email: str
    name: str
    timezone: str
    working_hours: str = "Mon-Fri 09:00-17:00"
    outlook: bool = False  # their file is written the way Outlook exports a calendar


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to one occurrence of a series."""

    kind: Literal["deleted", "cancelled", "declined", "moved", "shortened"]
    by: str | None = None  # declined: the person key who declined
    days: int = 0  # moved: this many days later (negative: earlier), same wall time
    minutes: int = 0  # shortened: the new length


# The organizer removed the occurrence: an EXDATE on the series.
DELETED = Change("deleted")
# The organizer cancelled the occurrence: an override with STATUS:CANCELLED.
CANCELLED = Change("cancelled")


def declined(by: str) -> Change:
    """An override where ``by`` answered PARTSTAT=DECLINED."""
    return Change("declined", by=by)


def moved(days: int) -> Change:
    """An override whose DTSTART is ``days`` later than the rule says."""
    return Change("moved", days=days)


def shortened(minutes: int) -> Change:
    """An override that ends early: it lasts ``minutes``."""
    return Change("shortened", minutes=minutes)


@dataclass(frozen=True, slots=True)
class Split:
    """The series was ended and continued as a new one from ``period`` on.

    This is Google's "this and following events" edit: the old series gets an
    UNTIL, the new one the UID ``<old uid>_R<first start, UTC>``.
    """

    period: int
    at: time  # the new series' wall-clock start


@dataclass(frozen=True, slots=True)
class Meeting:
    """One event or series, as the organizer's calendar app would store it."""

    uid: str
    title: str
    organizer: str  # a person key, or an outside email address
    guests: tuple[str, ...] = ()  # person keys or outside email addresses
    first: int = 0  # period of the (first) occurrence
    day: str = "MO"  # weekday of the occurrences; a weekly series may list several: "MO,WE"
    at: time = time(9, 0)  # wall-clock start in ``zone``
    minutes: int = 30
    every: int = 0  # weeks between occurrences; 0 for a single event
    monthly: bool = False  # on the first ``day`` of every month; periods count months
    ends_weeks_ago: int | None = None  # the series has UNTIL = now - this many weeks
    split: Split | None = None
    changes: Mapping[int, Change] = field(default_factory=dict)  # period -> what happened
    all_day: int = 0  # an all-day event this many days long (``at``, ``minutes`` unused)
    private: bool = False  # a block on the organizer's own calendar: nobody invited
    zone: str | None = None  # default: the organizer's zone (required for outsiders)

    @property
    def recurring(self) -> bool:
        return self.monthly or self.every > 0

    @property
    def participants(self) -> tuple[str, ...]:
        return (self.organizer, *self.guests)


@dataclass(frozen=True, slots=True)
class Timeline:
    """Turns periods into dates: weeks count from the Monday of ``now``'s week in ``home``."""

    now: datetime
    home: ZoneInfo

    @property
    def week0(self) -> date:
        today = self.now.astimezone(self.home).date()
        return today - timedelta(days=today.weekday())

    def date_of(self, meeting: Meeting, period: int) -> date:
        weekday = WEEKDAYS.index(meeting.day.split(",")[0])
        if not meeting.monthly:
            return self.week0 + timedelta(weeks=period, days=weekday)
        month_index = self.week0.year * 12 + self.week0.month - 1 + period
        first_of_month = date(month_index // 12, month_index % 12 + 1, 1)
        return first_of_month + timedelta(days=(weekday - first_of_month.weekday()) % 7)


# -- resolving a row into concrete series ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Series:
    """A row resolved against a timeline: real instants, overrides keyed by original start."""

    meeting: Meeting
    uid: str
    start: datetime  # aware, in the wall-clock zone
    until: datetime | None
    changes: tuple[tuple[datetime, Change], ...]


def _resolve(meeting: Meeting, zone: ZoneInfo, timeline: Timeline) -> list[_Series]:
    def start_of(row: Meeting, period: int) -> datetime:
        return datetime.combine(timeline.date_of(row, period), row.at, zone)

    def series(row: Meeting, uid: str, until: datetime | None, periods: Iterable[int]) -> _Series:
        changes = []
        for period in sorted(periods):
            original = start_of(row, period)
            _check_period(row, period)
            if until is not None and original > until:
                raise ValueError(f"{row.uid}: period {period} is after the series ended")
            changes.append((original, row.changes[period]))
        return _Series(row, uid, start_of(row, row.first), until, tuple(changes))

    until = None
    if meeting.ends_weeks_ago is not None:
        until = timeline.now.astimezone(UTC) - timedelta(weeks=meeting.ends_weeks_ago)
    if meeting.split is None:
        return [series(meeting, meeting.uid, until, meeting.changes)]

    split = meeting.split
    later = replace(meeting, first=split.period, at=split.at)
    later_start = start_of(later, split.period)
    # Google ends the old series at the end of the day before the new one starts.
    old_until = datetime.combine(later_start.date() - timedelta(days=1), time(23, 59, 59), zone)
    new_uid = f"{meeting.uid}_R{later_start.astimezone(UTC):%Y%m%dT%H%M%S}"
    before = [p for p in meeting.changes if p < split.period]
    after = [p for p in meeting.changes if p >= split.period]
    return [
        series(meeting, meeting.uid, old_until.astimezone(UTC), before),
        series(later, new_uid, until, after),
    ]


def _check_period(meeting: Meeting, period: int) -> None:
    """A change must name a period the rule actually has an occurrence in."""
    step = 1 if meeting.monthly else meeting.every
    problem = None
    if not meeting.recurring:
        problem = "is not a series"
    elif "," in meeting.day:
        problem = "meets on several days a week; changes need a single-day series"
    elif period < meeting.first or (period - meeting.first) % step:
        problem = f"has no occurrence in period {period}"
    if problem:
        raise ValueError(f"{meeting.uid}: {problem}")


# -- time zones -----------------------------------------------------------------------


@cache
def windows_zone_name(zone: str) -> str:
    """The Windows name Outlook writes for an IANA zone, from icalendar's table."""
    aliases = set(tzids_from_tzinfo(ZoneInfo(zone)))
    names = sorted(name for name, iana in WINDOWS_TO_OLSON.items() if iana in aliases)
    if not names:
        raise ValueError(f"no Windows time zone name for {zone}")
    return names[0]


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """The offset changes of ``zone`` in ``year``: (local time before, offset before, after)."""
    found = []
    instant = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = instant.astimezone(zone).utcoffset()
    while instant < end:
        hour_later = instant + timedelta(hours=1)
        after = hour_later.astimezone(zone).utcoffset()
        if after != offset:
            moment = hour_later
            # Transitions fall on whole minutes: find the first minute with the new offset.
            while (moment - timedelta(minutes=1)).astimezone(zone).utcoffset() == after:
                moment -= timedelta(minutes=1)
            assert offset is not None and after is not None
            local = (moment + offset).replace(tzinfo=None)
            found.append((local, offset, after))
            offset = after
        instant = hour_later
    return found


@cache
def outlook_timezone(zone: str, year: int) -> Timezone:
    """A VTIMEZONE the way Outlook writes one: ``year``'s rule, as yearly RRULEs from 1601."""
    tz = ZoneInfo(zone)
    component = Timezone()
    component.add("tzid", windows_zone_name(zone))
    changes = _transitions(tz, year)
    if not changes:
        offset = datetime(year, 1, 1, tzinfo=UTC).astimezone(tz).utcoffset()
        standard = TimezoneStandard()
        standard.add("dtstart", datetime(1601, 1, 1))
        standard.add("tzoffsetfrom", offset)
        standard.add("tzoffsetto", offset)
        component.add_component(standard)
        return component
    # Outlook lists STANDARD before DAYLIGHT.
    for local, before, after in sorted(changes, key=lambda c: c[2] > c[1]):
        rule = TimezoneDaylight() if after > before else TimezoneStandard()
        rule.add("dtstart", datetime(1601, 1, 1, local.hour, local.minute))
        rule.add("tzoffsetfrom", before)
        rule.add("tzoffsetto", after)
        rule.add("rrule", {"freq": "yearly", "byday": _nth_weekday(local), "bymonth": local.month})
        component.add_component(rule)
    return component


def _nth_weekday(day: date) -> str:
    """'1SU' for the first Sunday of its month, '-1SU' for the last one."""
    next_week = day + timedelta(days=7)
    nth = -1 if next_week.month != day.month else (day.day - 1) // 7 + 1
    return f"{nth}{WEEKDAYS[day.weekday()]}"


# -- writing --------------------------------------------------------------------------


@dataclass
class _Render:
    """One meeting being turned into VEVENTs in one file style; collects the zones it uses."""

    outlook: bool
    stamp: datetime
    zones: set[str] = field(default_factory=set)

    def put_time(self, event: Event, name: str, value: datetime | date) -> None:
        event.add(name, value)
        self._retag(event, name, value)

    def put_times(self, event: Event, name: str, values: Sequence[datetime]) -> None:
        event.add(name, list(values))
        self._retag(event, name, values[0])

    def _retag(self, event: Event, name: str, value: datetime | date) -> None:
        tzinfo = value.tzinfo if isinstance(value, datetime) else None
        if isinstance(tzinfo, ZoneInfo) and tzinfo.key != "UTC":
            self.zones.add(tzinfo.key)
            if self.outlook:
                event[name].params["TZID"] = windows_zone_name(tzinfo.key)


class Writer:
    """Writes one ``.ics`` per person for a set of meetings.

    icalendar serializes each meeting (and each VTIMEZONE) once per file style;
    every file it appears in shares those bytes, which keeps a thousand-pair
    team fast to write.
    """

    def __init__(
        self,
        people: Sequence[Person],
        timeline: Timeline,
        *,
        zones_from: date | None = None,
        zones_until: date | None = None,
    ) -> None:
        self.people = {person.key: person for person in people}
        self.timeline = timeline
        year = timeline.now.year
        # IANA VTIMEZONEs list real transitions; bound them to the years the files use.
        self.zones_from = zones_from or date(year - 2, 1, 1)
        self.zones_until = zones_until or date(year + 3, 1, 1)
        self._rendered: dict[tuple[str, bool], tuple[bytes, frozenset[str]]] = {}
        self._timezones: dict[tuple[str, bool], bytes] = {}

    def write(self, folder: Path, meetings: Iterable[Meeting]) -> list[Path]:
        """Write ``<key>.ics`` for everyone into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        per_person: dict[str, list[Meeting]] = {key: [] for key in self.people}
        for meeting in meetings:
            for key in dict.fromkeys(meeting.participants):
                if key in per_person:
                    per_person[key].append(meeting)
        written = []
        for key, rows in per_person.items():
            path = folder / f"{key}.ics"
            path.write_bytes(self.calendar(self.people[key], rows))
            written.append(path)
        return written

    def calendar(self, person: Person, meetings: Iterable[Meeting]) -> bytes:
        shell = Calendar()
        shell.add("prodid", OUTLOOK_PRODID if person.outlook else GOOGLE_PRODID)
        shell.add("version", "2.0")
        shell.add("calscale", "GREGORIAN")
        shell.add("x-wr-calname", person.name)
        events: list[bytes] = []
        zones: set[str] = set()
        for meeting in meetings:
            text, used = self._render(meeting, person.outlook)
            events.append(text)
            zones |= used
        timezones = [self._timezone(zone, person.outlook) for zone in sorted(zones)]
        # The shell serializes to its properties and END:VCALENDAR; the
        # components go in front of that last line, as Calendar.to_ical would put them.
        text = shell.to_ical()
        end = b"END:VCALENDAR\r\n"
        assert text.endswith(end)
        return b"".join([text[: -len(end)], *timezones, *events, end])

    def _render(self, meeting: Meeting, outlook: bool) -> tuple[bytes, frozenset[str]]:
        key = (meeting.uid, outlook)
        if key not in self._rendered:
            out = _Render(outlook=outlook, stamp=self.timeline.now.astimezone(UTC))
            text = b"".join(event.to_ical() for event in self._events(meeting, out))
            self._rendered[key] = (text, frozenset(out.zones))
        return self._rendered[key]

    def _timezone(self, zone: str, outlook: bool) -> bytes:
        key = (zone, outlook)
        if key not in self._timezones:
            if outlook:
                component = outlook_timezone(zone, self.timeline.now.year)
            else:
                component = Timezone.from_tzinfo(
                    ZoneInfo(zone), first_date=self.zones_from, last_date=self.zones_until
                )
            self._timezones[key] = component.to_ical()
        return self._timezones[key]

    def _zone_of(self, meeting: Meeting) -> ZoneInfo:
        if meeting.zone:
            return ZoneInfo(meeting.zone)
        if meeting.organizer not in self.people:
            raise ValueError(f"{meeting.uid}: an outside organizer needs an explicit zone")
        return ZoneInfo(self.people[meeting.organizer].timezone)

    def _events(self, meeting: Meeting, out: _Render) -> list[Event]:
        if meeting.all_day:
            return [self._all_day(meeting, out)]
        events = []
        for series in _resolve(meeting, self._zone_of(meeting), self.timeline):
            # Every VEVENT of a series shares these properties; overrides copy them.
            shared = self._shared(meeting, series.uid, out)
            events.append(self._master(shared, series, out))
            for original, change in series.changes:
                if change.kind != "deleted":
                    events.append(self._override(shared, series, original, change, out))
        return events

    def _all_day(self, meeting: Meeting, out: _Render) -> Event:
        event = self._shared(meeting, meeting.uid, out)
        event.add("sequence", 0)
        event.add("status", "CONFIRMED")
        first = self.timeline.date_of(meeting, meeting.first)
        out.put_time(event, "dtstart", first)
        out.put_time(event, "dtend", first + timedelta(days=meeting.all_day))
        return event

    def _master(self, shared: Event, series: _Series, out: _Render) -> Event:
        meeting = series.meeting
        event = shared.copy()
        event.add("sequence", 0)
        event.add("status", "CONFIRMED")
        out.put_time(event, "dtstart", series.start)
        out.put_time(event, "dtend", series.start + timedelta(minutes=meeting.minutes))
        if meeting.recurring:
            event.add("rrule", self._rule(meeting, series.until))
        exdates = [original for original, change in series.changes if change.kind == "deleted"]
        if exdates:
            out.put_times(event, "exdate", exdates)
        return event

    def _override(
        self, shared: Event, series: _Series, original: datetime, change: Change, out: _Render
    ) -> Event:
        meeting = series.meeting
        event = shared.copy()
        event.add("sequence", 1)
        event.add("status", "CANCELLED" if change.kind == "cancelled" else "CONFIRMED")
        if change.kind == "declined":
            del event["attendee"]
            self._attendees(event, meeting, {change.by: "DECLINED"})
        out.put_time(event, "recurrence-id", original)
        start = original
        minutes = meeting.minutes
        if change.kind == "moved":
            # Same wall-clock time on another day, so DST cannot shift it.
            day = original.date() + timedelta(days=change.days)
            start = datetime.combine(day, original.timetz())
        elif change.kind == "shortened":
            minutes = change.minutes
        out.put_time(event, "dtstart", start)
        out.put_time(event, "dtend", start + timedelta(minutes=minutes))
        return event

    @staticmethod
    def _rule(meeting: Meeting, until: datetime | None) -> dict[str, object]:
        rule: dict[str, object]
        if meeting.monthly:
            rule = {"freq": "monthly", "byday": f"1{meeting.day}"}
        else:
            rule = {"freq": "weekly"}
            if meeting.every > 1:
                rule["interval"] = meeting.every
            rule["byday"] = meeting.day.split(",")
        if until is not None:
            # RFC 5545: with a TZID'd DTSTART, UNTIL is given in UTC.
            rule["until"] = until.astimezone(UTC)
        return rule

    def _shared(self, meeting: Meeting, uid: str, out: _Render) -> Event:
        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", out.stamp)
        event.add("summary", meeting.title)
        if not meeting.private:
            event.add("organizer", self._address(meeting.organizer))
            self._attendees(event, meeting, {})
        if out.outlook:
            # What Outlook adds to every event; readers must tolerate it.
            event.add("class", "PUBLIC")
            event.add("priority", 5)
            event.add("x-microsoft-cdo-busystatus", "OOF" if meeting.all_day else "BUSY")
        return event

    def _attendees(
        self, event: Event, meeting: Meeting, responses: Mapping[str | None, str]
    ) -> None:
        outlook = meeting.organizer in self.people and self.people[meeting.organizer].outlook
        # Google lists the organizer among the attendees; Outlook does not.
        for key in meeting.guests if outlook else meeting.participants:
            address = self._address(key)
            address.params["PARTSTAT"] = responses.get(key, "ACCEPTED")
            if outlook:
                address.params["RSVP"] = "TRUE"
            event.add("attendee", address)

    def _address(self, key: str) -> vCalAddress:
        person = self.people.get(key)
        address = vCalAddress(f"mailto:{person.email if person else key}")
        if person:
            address.params["CN"] = person.name
        return address


__all__ = [
    "CANCELLED",
    "DELETED",
    "WEEKDAYS",
    "Change",
    "Meeting",
    "Person",
    "Split",
    "Timeline",
    "Writer",
    "declined",
    "moved",
    "outlook_timezone",
    "shortened",
    "windows_zone_name",
]
