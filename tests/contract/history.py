"""The 1:1 history every backend is seeded with, and what it must read back as.

``History`` is the remote calendar as a plain model: Maria's weekly 1:1 with
Dev (Mondays 09:00 New York, across the November DST change) with a few past
exceptions, plus one upcoming one-off. Each change the contract applies is
recorded here too, so the model is both the oracle (``expected``: the neutral
rows a store must hold after syncing it) and, for ICS, the source of the file
(``to_ics``). The emulators are seeded from that same ``to_ics`` text.

A neutral row keeps what every provider must agree on: uid, original start,
start, end, status and both people's responses. Provider details (remote ids,
etags, RRULE spelling, whether the organizer is listed as an attendee) are not
part of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from calsync.model import Event, EventStatus, Response

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # a Friday evening
MARIA, DEV = "maria@example.com", "dev@example.com"
NY_NAME = "America/New_York"
NY = ZoneInfo(NY_NAME)

SERIES_UID = "maria-dev-1on1@example.com"
SINGLE_UID = "maria-dev-career-chat@example.com"
TITLE = "Maria / Dev 1:1"
FIRST_LOCAL = datetime(2026, 9, 7, 9, 0)  # a Monday, wall time in New York
LENGTH = timedelta(minutes=30)
COUNT = 20  # the last one is Monday 18 January 2027, well inside every window
SINGLE_START = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SINGLE_END = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)

#: Index of the first occurrence after NOW (Monday 23 November).
FIRST_UPCOMING = 11
#: Exceptions already in the seeded history, all in the past.
PAST_CANCELLED = 3
PAST_SHORTENED = 5
PAST_DECLINED = 6

#: Any uid the history did not seed (a split's new series) compares as this.
NEW_SERIES = "<new series>"


def local_start(index: int, first: datetime = FIRST_LOCAL) -> datetime:
    """Occurrence ``index`` of a weekly series: same wall time, whatever the DST."""
    return (first + timedelta(weeks=index)).replace(tzinfo=NY)


def original_start(index: int) -> datetime:
    return local_start(index).astimezone(UTC)


class Neutral(NamedTuple):
    """One stored event as every provider must report it."""

    kind: str  # "series", "occurrence" or "single"
    uid: str
    original_start: datetime | None
    start: datetime
    end: datetime
    status: EventStatus
    maria: Response | None
    dev: Response | None


def neutral(event: Event) -> Neutral:
    kind = "series" if event.is_series else "occurrence" if event.is_occurrence else "single"
    return Neutral(
        kind,
        event.uid,
        event.original_start,
        event.start,
        event.end,
        event.status,
        event.response_of(MARIA),
        event.response_of(DEV),
    )


def canonical(rows: Iterable[Neutral], seeded: Iterable[str] = (SERIES_UID, SINGLE_UID)) -> list:
    """Rows sorted, with every uid the history did not seed replaced by NEW_SERIES.

    A split's new series gets its uid from the provider (Google ``<uid>_R<date>``,
    Exchange a new GOID); the contract asserts its events, not its uid.
    """
    known = set(seeded)
    out = [r if r.uid in known else r._replace(uid=NEW_SERIES) for r in rows]
    return sorted(out, key=lambda r: (r.uid, r.kind, r.original_start or r.start, r.start))


@dataclass
class NewSeries:
    uid: str
    first_local: datetime
    count: int


@dataclass
class History:
    """The remote 1:1 calendar, as a model the changes are recorded into."""

    series: bool = True
    until: int = COUNT  # occurrences [0, until) belong to the original series
    cancelled: set[int] = field(default_factory=lambda: {PAST_CANCELLED})
    times: dict[int, tuple[datetime, datetime]] = field(
        default_factory=lambda: {
            PAST_SHORTENED: (
                original_start(PAST_SHORTENED),
                original_start(PAST_SHORTENED) + timedelta(minutes=15),
            )
        }
    )
    declined: set[int] = field(default_factory=lambda: {PAST_DECLINED})
    single: bool = True
    split: NewSeries | None = None
    #: Occurrences whose responses the provider cleared (see ``split_at``).
    unanswered: set[int] = field(default_factory=set)
    series_unanswered: bool = False

    # -- what an occurrence looks like now -------------------------------------

    def live(self, index: int) -> bool:
        """An occurrence that still exists and is not cancelled."""
        return self.series and index < self.until and index not in self.cancelled

    def span(self, index: int) -> tuple[datetime, datetime]:
        start = original_start(index)
        return self.times.get(index, (start, start + LENGTH))

    # -- changes -------------------------------------------------------------------

    def cancel(self, index: int) -> None:
        self.cancelled.add(index)
        self.times.pop(index, None)
        self.declined.discard(index)

    def reschedule(self, index: int, start: datetime, end: datetime) -> None:
        self.times[index] = (start, end)

    def decline(self, index: int) -> None:
        self.declined.add(index)

    def split_at(self, index: int, new_first_local: datetime, restates: bool = False) -> NewSeries:
        """"This and following": the series ends before ``index``; a new one takes over.

        ``restates``: the provider restates the old series when its recurrence
        changes, as Exchange does ([MS-OXOCAL] "Updating a Recurring Series",
        "Clearing Previous Responses"): every exception and deleted occurrence
        is dropped and every attendee's answer cleared. Its past occurrences
        are history, which the store keeps; its upcoming ones read the bare
        pattern, Dev unanswered (the organizer answers nothing). Only the
        oracle (``expected``) changes: a harness whose provider behaves so
        passes it, and that provider restates the series itself.
        """
        self.until = index
        first_changed = index
        if restates:
            first_changed = next(i for i in range(COUNT) if original_start(i) >= NOW)
            self.unanswered |= set(range(first_changed, index))
            self.series_unanswered = True
        for changed in [i for i in (*self.times, *self.cancelled, *self.declined)
                        if i >= first_changed]:  # fmt: skip
            self.times.pop(changed, None)
            self.cancelled.discard(changed)
            self.declined.discard(changed)
        stamp = local_start(index).strftime("%Y%m%dT%H%M%S")
        self.split = NewSeries(f"{SERIES_UID}_R{stamp}", new_first_local, COUNT - index)
        return self.split

    def delete_series(self) -> None:
        self.series = False
        if self.split is not None:
            self.split = None

    def delete_single(self) -> None:
        self.single = False

    # -- the oracle -------------------------------------------------------------------

    def expected(self, now: datetime = NOW) -> list[Neutral]:
        """The rows a store holds after syncing this calendar (past history is kept)."""
        accepted = Response.ACCEPTED
        first = original_start(0)
        unanswered = Response.NEEDS_ACTION
        rows = [
            Neutral("series", SERIES_UID, None, first, first + LENGTH, EventStatus.CONFIRMED,
                    accepted, unanswered if self.series_unanswered else accepted)
        ]  # fmt: skip
        for index in range(self.until):
            original = original_start(index)
            if not self.series and original >= now:
                continue
            start, end = self.span(index)
            status = EventStatus.CONFIRMED
            if index in self.cancelled:
                start, end, status = original, original + LENGTH, EventStatus.CANCELLED
            dev = accepted
            if index in self.declined:
                dev = Response.DECLINED
            elif index in self.unanswered:
                dev = unanswered
            rows.append(Neutral("occurrence", SERIES_UID, original, start, end, status,
                                accepted, dev))  # fmt: skip
        if self.split is not None:
            new_first = self.split.first_local.replace(tzinfo=NY).astimezone(UTC)
            rows.append(Neutral("series", self.split.uid, None, new_first, new_first + LENGTH,
                                EventStatus.CONFIRMED, accepted, accepted))  # fmt: skip
            for index in range(self.split.count):
                start = local_start(index, self.split.first_local).astimezone(UTC)
                rows.append(Neutral("occurrence", self.split.uid, start, start, start + LENGTH,
                                    EventStatus.CONFIRMED, accepted, accepted))  # fmt: skip
        if self.single or now > SINGLE_START:
            rows.append(Neutral("single", SINGLE_UID, None, SINGLE_START, SINGLE_END,
                                EventStatus.CONFIRMED, accepted, accepted))  # fmt: skip
        return canonical(rows)

    # -- the ICS text -------------------------------------------------------------------

    def to_ics(self) -> str:
        """This calendar as Maria's iCalendar feed (what the ICS backend reads, and the seed)."""
        lines = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//calsync//contract suite//EN",
            "X-WR-CALNAME:Maria",
            f"X-WR-TIMEZONE:{NY_NAME}",
        ]
        if self.series:
            lines += self._series_ics()
        if self.series and self.split is not None:
            lines += _vevent(
                self.split.uid,
                _local_prop("DTSTART", self.split.first_local),
                _local_prop("DTEND", self.split.first_local + LENGTH),
                [f"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT={self.split.count}"],
            )
        if self.single:
            lines += _vevent(
                SINGLE_UID,
                f"DTSTART:{_utc(SINGLE_START)}",
                f"DTEND:{_utc(SINGLE_END)}",
                [],
                title="Maria / Dev career chat",
            )
        lines.append("END:VCALENDAR")
        return "\r\n".join(lines) + "\r\n"

    def _series_ics(self) -> list[str]:
        if self.until < COUNT:
            last = original_start(self.until - 1)
            rule = f"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL={_utc(last)}"
        else:
            rule = f"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT={COUNT}"
        extra = [rule]
        extra += [
            _local_prop("EXDATE", local_start(i).replace(tzinfo=None))
            for i in sorted(self.cancelled)
            if i < self.until
        ]
        lines = _vevent(
            SERIES_UID,
            _local_prop("DTSTART", FIRST_LOCAL),
            _local_prop("DTEND", FIRST_LOCAL + LENGTH),
            extra,
        )
        overridden = sorted((set(self.times) | self.declined) - self.cancelled)
        for index in overridden:
            if index >= self.until:
                continue
            start, end = self.span(index)
            lines += _vevent(
                SERIES_UID,
                f"DTSTART:{_utc(start)}",
                f"DTEND:{_utc(end)}",
                [_local_prop("RECURRENCE-ID", local_start(index).replace(tzinfo=None))],
                dev="DECLINED" if index in self.declined else "ACCEPTED",
            )
        return lines


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local_prop(name: str, wall: datetime) -> str:
    return f"{name};TZID={NY_NAME}:{wall.strftime('%Y%m%dT%H%M%S')}"


def _vevent(
    uid: str, start: str, end: str, extra: list[str], *, title: str = TITLE, dev: str = "ACCEPTED"
) -> list[str]:
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260901T000000Z",
        start,
        end,
        *extra,
        f"SUMMARY:{title}",
        f"ORGANIZER:mailto:{MARIA}",
        f"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{MARIA}",
        f"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT={dev}:mailto:{DEV}",
        "END:VEVENT",
    ]
