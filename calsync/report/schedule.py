"""ISO weeks in a manager's zone, and when each manager's weekly email is due.

Pure: ``now`` and the zone come in as values.

The email sent at the configured day and time (default Monday 08:00, in the
manager's own zone) covers the last complete ISO week before it: the Monday
08:00 email covers the Monday to Sunday just ended. If calsync was not
running at that moment, the email is still due until the next send time, so
it goes out late rather than never (and, thanks to the send record, once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from calsync.config import ReportSettings

_ISO_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True, slots=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """'2026-W47' (also '2026W47', '2026-w47')."""
        match = _ISO_WEEK.match(text)
        if match:
            year, week = int(match[1]), int(match[2])
            try:
                date.fromisocalendar(year, week, 1)
            except ValueError:
                raise ValueError(f"{text!r}: {year} has no ISO week {week}") from None
            return cls(year, week)
        raise ValueError(f"{text!r} is not an ISO week (e.g. '2026-W47')")

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(days=7))

    def next(self) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(days=7))

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in ``zone``, as UTC instants (DST-aware)."""
        return local_instant(self.monday, time(0), zone), local_instant(
            self.monday + timedelta(days=7), time(0), zone
        )

    @property
    def label(self) -> str:
        """'16–22 Nov 2026', '30 Nov – 6 Dec 2026', '28 Dec 2026 – 3 Jan 2027'."""
        first, last = self.monday, self.sunday
        if first.year != last.year:
            return f"{first.day} {first:%b} {first.year} – {last.day} {last:%b} {last.year}"
        if first.month != last.month:
            return f"{first.day} {first:%b} – {last.day} {last:%b} {last.year}"
        return f"{first.day}–{last.day} {last:%b} {last.year}"


def local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in ``zone`` (a time skipped by DST moves forward)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def send_instant(week: IsoWeek, zone: ZoneInfo, settings: ReportSettings) -> datetime:
    """When the email is sent during ``week`` (it reports on the week before)."""
    day = week.monday + timedelta(days=settings.weekday)
    return local_instant(day, settings.clock, zone)


def due_week(now: datetime, zone: ZoneInfo, settings: ReportSettings) -> tuple[IsoWeek, datetime]:
    """The week whose email is due as of ``now`` and the send time it was due at.

    That is the week before the most recent send time at or before ``now``.
    """
    current = IsoWeek.of(now.astimezone(zone).date())
    sent_at = send_instant(current, zone, settings)
    if sent_at > now:
        current = current.previous()
        sent_at = send_instant(current, zone, settings)
    return current.previous(), sent_at


def evaluation_instant(week: IsoWeek, zone: ZoneInfo, now: datetime) -> datetime:
    """The instant a week's report is evaluated at: the end of the week, or ``now`` if sooner.

    Raises ValueError for a week that has not started yet.
    """
    start, end = week.bounds(zone)
    if now < start:
        raise ValueError(f"week {week} has not started yet (it starts {start.isoformat()})")
    return min(end, now)
