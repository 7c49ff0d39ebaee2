"""Times and recurring series as the Google Calendar API v3 represents them.

Pure: no clock, no I/O. Used by the ``google_*`` modules, and by the Graph
emulator, which expands a ``patternedRecurrence`` as an RRULE line through
:class:`Series`.

A series is expanded in the wall time of its ``start.timeZone`` (falling back
to the calendar's zone), so a 10:00 weekly meeting stays at 10:00 across a DST
change; all-day series are expanded on dates. Instances are identified by their
*original* start, rendered into an instance id suffix the way Google does:
``<masterId>_<YYYYMMDDTHHMMSSZ>`` for timed series and ``<masterId>_<YYYYMMDD>``
for all-day ones.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulebase, rruleset, rrulestr

from calsync_emulators.zones import TimeFormatError, zone

#: The most instances one expansion returns, whatever the window: a guard
#: against FREQ=MINUTELY series without an end.
MAX_INSTANCES = 5000


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 timestamp *with* an offset, else None (Google requires one)."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse_local(text: str) -> datetime | None:
    """An RFC 3339 date-time *without* an offset (wall time), else None."""
    if not isinstance(text, str) or "T" not in text.upper():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo is None else None


def format_datetime(value: datetime, tz: ZoneInfo) -> str:
    """How Google renders an event time: in ``tz``, with its offset (``Z`` in UTC)."""
    local = value.astimezone(tz)
    if tz.key == "UTC":
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def format_timestamp(value: datetime) -> str:
    """How Google renders ``created``/``updated``: UTC with milliseconds."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class When:
    """A parsed ``EventDateTime``: an instant for timed events, a date for all-day ones."""

    instant: datetime | None = None
    day: date | None = None
    tz: str | None = None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def at(self, calendar_tz: ZoneInfo) -> datetime:
        """The instant this starts; an all-day date starts at midnight in the calendar zone."""
        if self.instant is not None:
            return self.instant
        assert self.day is not None
        return datetime.combine(self.day, time(), tzinfo=calendar_tz)

    def render(self, display_tz: ZoneInfo) -> dict[str, str]:
        """The ``EventDateTime`` body, the date-time rendered in ``display_tz``."""
        if self.day is not None:
            body = {"date": self.day.isoformat()}
        else:
            assert self.instant is not None
            body = {"dateTime": format_datetime(self.instant, display_tz)}
        if self.tz:
            body["timeZone"] = self.tz
        return body


def parse_when(body: object, what: str) -> When:
    """Parse an ``EventDateTime`` body; ``what`` is "start" or "end" for messages."""
    if not isinstance(body, dict):
        raise TimeFormatError(f"Missing {what} time.")
    tz_name = body.get("timeZone") or None
    if tz_name is not None:
        if not isinstance(tz_name, str):
            raise TimeFormatError(f"Invalid time zone definition for {what} time.")
        try:
            zone(tz_name)
        except TimeFormatError:
            raise TimeFormatError(f"Invalid time zone definition for {what} time.") from None
    if body.get("date"):
        try:
            day = date.fromisoformat(str(body["date"]))
        except ValueError:
            raise TimeFormatError(f"Invalid {what} time.") from None
        return When(day=day, tz=tz_name)
    text = body.get("dateTime")
    if not text:
        raise TimeFormatError(f"Missing {what} time.")
    instant = parse_rfc3339(str(text))
    if instant is None:
        local = parse_local(str(text))
        if local is None:
            raise TimeFormatError(f"Invalid {what} time.")
        if tz_name is None:
            raise TimeFormatError(f"Missing time zone definition for {what} time.")
        instant = local.replace(tzinfo=zone(tz_name))
    return When(instant=instant.astimezone(UTC), tz=tz_name)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One instance of a series: its original start and where it falls."""

    original: datetime
    original_day: date | None
    start: datetime
    end: datetime

    def suffix(self) -> str:
        """The instance id suffix Google appends to the master id."""
        if self.original_day is not None:
            return self.original_day.strftime("%Y%m%d")
        return self.original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_suffix(suffix: str) -> tuple[datetime | None, date | None]:
    """Invert :meth:`Occurrence.suffix` (case-insensitively); (None, None) when malformed."""
    text = suffix.upper()
    try:
        if re.fullmatch(r"\d{8}T\d{6}Z", text):
            return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), None
        if re.fullmatch(r"\d{8}", text):
            return None, datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        pass
    return None, None


_UNTIL = re.compile(r"UNTIL=(\d{8})(?:T(\d{6}))?(Z?)", re.IGNORECASE)
_LINE = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)((?:;[^:]*)?):(.+)$", re.IGNORECASE)


#: Moments one series keeps generated (a few decades of a daily rule).
MOMENTS_KEPT = 20_000


class Series:
    """A recurring event's ``recurrence`` lines, anchored at its first start."""

    def __init__(self, start: When, end: When, recurrence: list[str], calendar_tz: str) -> None:
        self.calendar_tz = zone(calendar_tz)
        self.all_day = start.all_day
        if self.all_day:
            assert start.day is not None and end.day is not None
            self.tz = self.calendar_tz
            self._dtstart = datetime.combine(start.day, time())
            self._days = (end.day - start.day).days
            self.duration = timedelta(days=self._days)
        else:
            assert start.instant is not None and end.instant is not None
            self.tz = zone(start.tz) if start.tz else self.calendar_tz
            self._dtstart = start.instant.astimezone(self.tz)
            self.duration = end.instant - start.instant
        self._set = self._build(recurrence)
        # The moments generated so far, in order. dateutil starts every search at
        # DTSTART, so finding each of a year's occurrences by itself (an id to
        # resolve, a page to render) was quadratic: the series is walked once.
        self._moments: list[datetime] = []
        self._walk = iter(self._set)
        self._walked = False

    def _moments_from(self, start: datetime) -> Iterator[datetime]:
        """The moments at or after ``start``, in order, generated once and kept.

        Past ``MOMENTS_KEPT`` moments (a rule every minute) nothing more is kept:
        dateutil walks from the start again, as it would without this.
        """
        moments = self._moments
        while not self._walked and (not moments or moments[-1] < start):
            if len(moments) >= MOMENTS_KEPT:
                yield from self._set.xafter(start, inc=True)
                return
            self._step()
        index = bisect_left(moments, start)
        while True:
            if index == len(moments):
                if self._walked:
                    return
                if len(moments) >= MOMENTS_KEPT:
                    yield from self._set.xafter(moments[-1], inc=False)
                    return
                self._step()
                continue
            yield moments[index]
            index += 1

    def _step(self) -> None:
        try:
            self._moments.append(next(self._walk))
        except StopIteration:
            self._walked = True

    def _build(self, recurrence: list[str]) -> rruleset:
        result = rruleset(cache=False)
        has_rule = False
        for raw in recurrence:
            match = _LINE.match(str(raw).strip())
            if not match:
                raise TimeFormatError("Invalid recurrence rule.")
            name, params, value = match[1].upper(), match[2], match[3]
            if name in ("RRULE", "EXRULE"):
                rule = self._rule(value)
                if name == "RRULE":
                    result.rrule(rule)
                    has_rule = True
                else:
                    result.exrule(rule)
            else:
                for moment in self._dates(params, value):
                    if name == "RDATE":
                        result.rdate(moment)
                        has_rule = True
                    else:
                        result.exdate(moment)
        if not has_rule:
            raise TimeFormatError("Invalid recurrence rule.")
        if not self._is_rule_anchored(recurrence):
            result.rdate(self._dtstart)
        return result

    @staticmethod
    def _is_rule_anchored(recurrence: list[str]) -> bool:
        # RFC 5545: DTSTART is always the first instance. An RRULE yields it when
        # it matches the rule; with RDATEs only, it has to be added explicitly.
        return any(str(line).upper().startswith("RRULE") for line in recurrence)

    def _rule(self, value: str) -> rrulebase:
        def fix_until(match: re.Match[str]) -> str:
            day, clock, zulu = match[1], match[2], match[3]
            if self.all_day:
                return f"UNTIL={day}"
            if zulu:
                return f"UNTIL={day}T{clock or '000000'}Z"
            local = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
            instant = local.replace(tzinfo=self.tz).astimezone(UTC)
            return "UNTIL=" + instant.strftime("%Y%m%dT%H%M%SZ")

        text = _UNTIL.sub(fix_until, value.strip())
        try:
            rule = rrulestr("RRULE:" + text, dtstart=self._dtstart, cache=False)
        except (ValueError, TypeError) as exc:
            raise TimeFormatError("Invalid recurrence rule.") from exc
        assert isinstance(rule, rrulebase)
        return rule

    def _dates(self, params: str, value: str) -> Iterator[datetime]:
        tz = self.tz
        for param in params.split(";"):
            key, _, val = param.partition("=")
            if key.upper() == "TZID" and val:
                try:
                    tz = zone(val.strip('"'))
                except TimeFormatError:
                    tz = self.tz  # e.g. a Windows zone name: assume the series zone
        for item in value.split(","):
            text = item.strip().upper()
            try:
                if re.fullmatch(r"\d{8}", text):
                    day = datetime.strptime(text, "%Y%m%d")
                    if self.all_day:
                        yield day
                    else:
                        yield datetime.combine(day.date(), self._dtstart.timetz())
                    continue
                zulu = text.endswith("Z")
                moment = datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
            except ValueError as exc:
                raise TimeFormatError("Invalid recurrence rule.") from exc
            aware = moment.replace(tzinfo=UTC if zulu else tz)
            if self.all_day:
                yield datetime.combine(aware.date(), time())
            else:
                yield aware.astimezone(self.tz)

    def _occurrence(self, moment: datetime) -> Occurrence:
        if self.all_day:
            start = datetime.combine(moment.date(), time(), tzinfo=self.calendar_tz)
            end = datetime.combine(
                moment.date() + timedelta(days=self._days), time(), tzinfo=self.calendar_tz
            )
            return Occurrence(start, moment.date(), start, end)
        start = moment.astimezone(UTC)
        return Occurrence(start, None, start, start + self.duration)

    def _local(self, instant: datetime) -> datetime:
        if self.all_day:
            return instant.astimezone(self.calendar_tz).replace(tzinfo=None)
        return instant.astimezone(self.tz)

    def between(
        self, low: datetime | None, high: datetime, limit: int = MAX_INSTANCES
    ) -> list[Occurrence]:
        """Occurrences that end after ``low`` (exclusive) and start before ``high``."""
        found: list[Occurrence] = []
        search_from = self._dtstart
        if low is not None:
            search_from = max(search_from, self._local(low - self.duration - timedelta(days=1)))
        high_local = self._local(high)
        for moment in self._moments_from(search_from):
            if moment >= high_local:
                break
            occurrence = self._occurrence(moment)
            if low is not None and occurrence.end <= low:
                continue
            found.append(occurrence)
            if len(found) >= limit:
                break
        return found

    def find(self, original: datetime | None, original_day: date | None) -> Occurrence | None:
        """The occurrence with this original start, or None when the series has none."""
        if self.all_day:
            if original_day is None:
                return None
            probe = datetime.combine(original_day, time(), tzinfo=self.calendar_tz)
        else:
            if original is None:
                return None
            probe = original
        for occurrence in self.between(probe - timedelta(seconds=1), probe + timedelta(seconds=1)):
            if self.all_day and occurrence.original_day == original_day:
                return occurrence
            if not self.all_day and occurrence.original == probe:
                return occurrence
        return None

    def original_time(self, occurrence: Occurrence) -> dict[str, str]:
        """The ``originalStartTime`` body of an instance."""
        if occurrence.original_day is not None:
            return {"date": occurrence.original_day.isoformat()}
        body = {"dateTime": format_datetime(occurrence.original, self.tz)}
        body["timeZone"] = self.tz.key
        return body
