"""Durations, cadences and working hours: small value types with parsers.

Pure: nothing here reads the clock or the machine's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

# The one duration grammar of the config: days, hours, minutes, seconds, in
# that order, each optional ('2d', '1h30m', '45min', '30s').
_DURATION = re.compile(
    r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?\s*$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """'30m', '1h', '1h30m', '45min', '2d', '30s' -> timedelta."""
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (e.g. '30s', '10m', '1h15m', '2d')")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """A duration as people read it ('45m', '1h', '1h30m'; '2d', '30s' where whole)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if 0 < seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes:02d}m"
    return f"{hours}h" if hours else f"{minutes}m"


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a pair agreed to meet: every N weeks, or monthly."""

    weeks: int = 1
    monthly: bool = False

    @classmethod
    def parse(cls, text: str) -> Cadence:
        normalized = " ".join(text.strip().lower().split())
        if normalized == "weekly":
            return cls(weeks=1)
        if normalized in ("biweekly", "fortnightly", "every 2 weeks", "every other week"):
            return cls(weeks=2)
        if normalized == "monthly":
            return cls(monthly=True)
        match = re.fullmatch(r"every (\d+) weeks?", normalized)
        if match and 1 <= int(match[1]) <= 26:
            return cls(weeks=int(match[1]))
        raise ValueError(
            f"{text!r} is not a cadence (weekly, biweekly, monthly, or 'every N weeks')"
        )

    @classmethod
    def from_rrule(cls, rrule: str) -> Cadence | None:
        """The cadence an RRULE value describes, or None when it is not one."""
        parts = {}
        for item in rrule.upper().removeprefix("RRULE:").split(";"):
            if "=" in item:
                key, _, value = item.partition("=")
                parts[key.strip()] = value.strip()
        freq = parts.get("FREQ")
        interval = int(parts.get("INTERVAL", "1") or 1)
        byday = parts.get("BYDAY", "")
        if freq == "WEEKLY":
            # Two or more weekdays a week is more than one 1:1 a week.
            if byday and len(byday.split(",")) > 1:
                return None
            return cls(weeks=interval) if interval <= 26 else None
        if freq == "MONTHLY" and interval == 1:
            return cls(monthly=True)
        if freq == "DAILY" and interval % 7 == 0 and interval // 7 <= 26:
            return cls(weeks=interval // 7)
        return None

    @property
    def period(self) -> timedelta:
        """Nominal length of one period (a month counts as 30 days)."""
        return timedelta(days=30) if self.monthly else timedelta(weeks=self.weeks)

    def step(self, count: int = 1) -> relativedelta:
        if self.monthly:
            return relativedelta(months=count)
        return relativedelta(weeks=self.weeks * count)

    def advance(self, instant: datetime, count: int, zone: ZoneInfo) -> datetime:
        """The instant ``count`` periods later at the same local wall time in ``zone``."""
        local = instant.astimezone(zone).replace(tzinfo=None) + self.step(count)
        return local.replace(tzinfo=zone).astimezone(UTC)

    @property
    def label(self) -> str:
        if self.monthly:
            return "monthly"
        if self.weeks == 1:
            return "weekly"
        if self.weeks == 2:
            return "biweekly"
        return f"every {self.weeks} weeks"


_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """Weekly working hours in a person's own wall time: weekday -> (start, end) spans."""

    spans: tuple[tuple[int, time, time], ...]
    #: The text it was read from, as the person wrote it (for display and the store).
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """'Mon-Fri 09:00-17:00' or 'Mon-Thu 09:00-17:00, Fri 09:00-13:00'."""
        spans: list[tuple[int, time, time]] = []
        for chunk in text.split(","):
            chunk = chunk.strip()
            match = re.fullmatch(
                r"([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})",
                chunk,
            )
            if not match:
                raise ValueError(
                    f"{chunk!r} is not working hours (e.g. 'Mon-Fri 09:00-17:00', "
                    "several separated by commas)"
                )
            first, last = match[1].lower(), (match[2] or match[1]).lower()
            if first not in _DAYS or last not in _DAYS:
                raise ValueError(f"{chunk!r}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
            try:
                start = time(int(match[3]), int(match[4]))
                end = time(int(match[5]), int(match[6])) if match[5] != "24" else time.max
            except ValueError:
                raise ValueError(f"{chunk!r}: not a time of day") from None
            if end <= start:
                raise ValueError(f"{chunk!r}: the end is not after the start")
            lo, hi = _DAYS.index(first), _DAYS.index(last)
            days = range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)]
            spans.extend((day, start, end) for day in days)
        return cls(tuple(sorted(spans)), text.strip())

    def intervals(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """Working intervals on one local date, as UTC instants (DST-correct)."""
        out = []
        for weekday, start, end in self.spans:
            if weekday == day.weekday():
                lo = datetime.combine(day, start, zone).astimezone(UTC)
                hi = datetime.combine(day, end, zone).astimezone(UTC)
                out.append((lo, hi))
        return out

    def contains(self, start: datetime, end: datetime, zone: ZoneInfo) -> bool:
        """Whether [start, end) lies inside one working span of the person's own day."""
        local_day = start.astimezone(zone).date()
        return any(lo <= start and end <= hi for lo, hi in self.intervals(local_day, zone))


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, seconds precision (the JSON time format)."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat()


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a value without offset is rejected, 'Z' is accepted."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (e.g. 2026-11-23T09:00:00+01:00 or ...Z)")
    return value.astimezone(UTC)
