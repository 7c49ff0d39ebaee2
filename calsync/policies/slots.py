"""Make-up slots for a bumped 1:1: ranked free times inside the cadence window.

Pure: busy times, working hours, the window and ``now`` come in as values;
ranked slots (or a ``no_slot`` finding naming the nearest misses) come out.

What counts as a valid slot ``[start, start + length)``:

- ``start`` is aligned to ``step`` (UTC minutes since midnight), is not before
  ``window_start`` or ``now``, and the slot ends no later than ``window_end``
  (the next regular occurrence minus the minimum gap);
- for every person it lies inside one working span of their own local day
  (``WorkingHours.contains``: DST-correct, each person in their own zone);
- it keeps ``buffer`` clear before and after every busy interval, and it does
  not overlap an all-day out-of-office span (no buffer needed there).

The busy intervals must not include the bumped 1:1 itself.

Ranking, with dates and times of day read in the anchor zone (the organizer's):

1. the same local day as the original start, at or after it: earliest first;
2. the following days, day by day; within a day the start whose wall-clock
   time is nearest to the original's (a tie goes to the earlier start);
3. the same day before the original start: the nearest (latest) first;
4. earlier days (the window may open half a period before): the nearest day
   first, then the nearest time of day.

Later comes before earlier because a later make-up keeps the pair's rhythm
(the 1:1 still happens after the thing that bumped it) and a slot before the
original time is often already past, or too soon to prepare for.

A full-length slot always beats a shortened one: only when no slot of the
agreed duration exists anywhere in the window do the slots of the longest
length that fits (duration minus whole steps, never under ``min_duration``)
come back, marked ``shortened``. When even ``min_duration`` does not fit, the
result has no slots and a ``no_slot`` finding naming the nearest misses: the
``min_duration`` starts in the window that fail the fewest checks, ranked like
slots, one per local day and cause, at most three ("Tue 24 Nov 14:00: Dev busy").

A free slot at exactly the regular time ranks first ("same day, at the regular
time"): when a 1:1 was moved out of its period, moving it back is the best fix.

Everything runs on integer microseconds since the epoch: intervals are merged
and swept once, never tested minute by minute.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from heapq import nsmallest
from zoneinfo import ZoneInfo

from calsync.policies.types import Finding
from calsync.timeutil import Cadence, WorkingHours, format_duration

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_NEAR_MISSES = 3

Span = tuple[int, int]


class BusyTimes:
    """One person's busy spans converted once, for every search that reads them.

    Converting each aware ``datetime`` pair to integer microseconds was most of
    a search's cost when every search converted a whole calendar again. A
    ``BusyTimes`` holds them sorted; a search takes only the spans that meet
    its window (a bisection), and ``edited`` makes a per-search variant (the
    bumped 1:1 left out, its time added) without copying the rest.
    """

    __slots__ = ("_add", "_ends", "_longest", "_remove", "_spans", "_starts")

    def __init__(
        self, spans: Iterable[tuple[datetime, datetime]] = (), what: str = "busy interval"
    ) -> None:
        converted = sorted(_spans(spans, what))
        self._spans: list[Span] = converted
        self._starts = [lo for lo, _ in converted]
        self._ends = [hi for _, hi in converted]
        self._longest = max((hi - lo for lo, hi in converted), default=0)
        self._remove: tuple[Span, ...] = ()
        self._add: tuple[Span, ...] = ()

    def edited(
        self,
        remove: Iterable[tuple[datetime, datetime]] = (),
        add: Iterable[tuple[datetime, datetime]] = (),
    ) -> BusyTimes:
        """These spans with ``remove`` taken out (one copy each) and ``add`` put in."""
        out = object.__new__(BusyTimes)
        out._spans, out._starts, out._ends = self._spans, self._starts, self._ends
        out._remove = self._remove + tuple(_spans(remove, "busy interval to leave out"))
        out._add = self._add + tuple(_spans(add, "busy interval"))
        out._longest = max((self._longest, *(hi - lo for lo, hi in out._add)))
        return out

    def between(self, lower: int, upper: int) -> list[Span]:
        """The spans that meet [lower, upper] (microseconds), with the edits applied."""
        first = bisect_left(self._starts, lower - self._longest)
        last = bisect_right(self._starts, upper)
        out = [self._spans[i] for i in range(first, last) if self._ends[i] >= lower]
        for span in self._remove:
            if span in out:
                out.remove(span)
        out += (span for span in self._add if span[1] >= lower and span[0] <= upper)
        return out

    def __len__(self) -> int:
        return len(self._spans) - len(self._remove) + len(self._add)


@dataclass(frozen=True, slots=True)
class Availability:
    """One person's side: free/busy only, working hours in their own zone.

    ``busy`` and ``out_of_office`` take aware ``(start, end)`` pairs, or a
    ``BusyTimes`` prepared once per cycle and shared by every search.
    """

    email: str
    zone: ZoneInfo
    hours: WorkingHours
    busy: tuple[tuple[datetime, datetime], ...] | BusyTimes  # aware, any order, may overlap
    # All-day out-of-office spans: no slot may overlap them (no buffer needed).
    out_of_office: tuple[tuple[datetime, datetime], ...] | BusyTimes = ()
    name: str = ""  # how findings name the person; default: the email's local part

    @property
    def display(self) -> str:
        return self.name or self.email.split("@", 1)[0]


@dataclass(frozen=True, slots=True)
class SlotRequest:
    original_start: datetime  # the bumped occurrence's regular start
    duration: timedelta  # the agreed length
    min_duration: timedelta  # the shortest worth booking
    window_start: datetime  # earliest start
    window_end: datetime  # latest END (next regular occurrence minus the minimum gap)
    people: tuple[Availability, ...]
    buffer: timedelta = timedelta(minutes=10)  # kept free before and after other meetings
    step: timedelta = timedelta(minutes=15)  # starts aligned to this, in UTC; divides a day
    anchor_zone: ZoneInfo | None = None  # whose day and time of day rank; default people[0]


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    shortened: bool  # shorter than the agreed duration
    reason: str  # plain words: "same day, 2 h later" / "Tue 24 Nov, nearest to 10:00"


@dataclass(frozen=True, slots=True)
class SlotResult:
    slots: tuple[Slot, ...]  # best first
    finding: Finding | None  # kind "no_slot" when nothing fits
    near_misses: tuple[str, ...] = ()


def cadence_slot_window(
    original_start: datetime,
    next_regular_start: datetime,
    now: datetime,
    cadence: Cadence,
    min_gap: timedelta | None = None,
) -> tuple[datetime, datetime]:
    """(window_start, window_end) for a make-up of the occurrence at ``original_start``.

    The start is half a period before the regular time, never in the past; the
    end (the latest a slot may end) keeps ``min_gap`` (default a seventh of a
    period: a day for a weekly 1:1) before the next regular occurrence.
    """
    period = cadence.period
    gap = period / 7 if min_gap is None else min_gap
    return max(now, original_start - period / 2), next_regular_start - gap


def find_slots(request: SlotRequest, now: datetime, limit: int | None = 3) -> SlotResult:
    """The best ``limit`` slots (all of them for ``None``), best first; see the module doc."""
    search = _Search(request, now)
    for length in _lengths(request):
        starts = search.valid_starts(length)
        if not starts:
            continue
        if limit is None:
            ranked = sorted(starts, key=search.rank_key)
        else:
            ranked = nsmallest(max(limit, 0), starts, key=search.rank_key)
        shortened = length < _to_us(request.duration)
        slots = tuple(
            Slot(
                start=_dt(start),
                end=_dt(start + length),
                shortened=shortened,
                reason=search.reason(start, length if shortened else None),
            )
            for start in ranked
        )
        return SlotResult(slots=slots, finding=None)
    return search.no_slot()


def candidate_starts(
    request: SlotRequest, now: datetime, length: timedelta | None = None
) -> tuple[datetime, ...]:
    """Every valid start for a slot of ``length`` (default: the full duration), in time order."""
    search = _Search(request, now)
    span = _to_us(request.duration if length is None else length)
    if span <= 0:
        raise ValueError("the slot length must be longer than zero")
    return tuple(_dt(start) for start in search.valid_starts(span))


# -- internals ------------------------------------------------------------------


def _to_us(value: timedelta) -> int:
    return value // _US


def _us(value: datetime) -> int:
    # Exact for microsecond instants until the 23rd century (2**53 us is 285 years).
    return round(value.timestamp() * 1_000_000)


def _dt(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _spans(pairs: Iterable[tuple[datetime, datetime]], what: str) -> list[Span]:
    out = []
    for start, end in pairs:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(
                f"{what} {start.isoformat()} - {end.isoformat()} has no time zone "
                "(use UTC-aware instants)"
            )
        out.append((_us(start), _us(end)))
    return out


def _window(
    spans: tuple[tuple[datetime, datetime], ...] | BusyTimes, reach: Span, what: str
) -> list[Span]:
    if isinstance(spans, BusyTimes):
        return spans.between(*reach)
    return _spans(spans, what)


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no time zone (use UTC-aware instants)")


def _lengths(request: SlotRequest) -> Iterable[int]:
    """The full duration, then shorter by whole steps, then min_duration: longest first."""
    full = _to_us(request.duration)
    shortest = _to_us(request.min_duration)
    step = _to_us(request.step)
    yield full
    length = full - step
    while length > shortest:
        yield length
        length -= step
    if shortest < full:
        yield shortest


def _merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping half-open spans covering the same instants."""
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _merge_closed(ranges: list[Span]) -> list[Span]:
    """Merge closed ranges [lo, hi] (start ranges)."""
    ranges.sort()
    out: list[list[int]] = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _intersect_closed(left: Sequence[Span], right: Sequence[Span]) -> list[Span]:
    """Intersection of two sorted, non-overlapping lists of closed ranges."""
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        lo = max(left[i][0], right[j][0])
        hi = min(left[i][1], right[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


class _Blocks:
    """Merged half-open spans, to cut out of working spans."""

    __slots__ = ("ends", "spans", "starts")

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = _merge(spans)
        self.starts = [lo for lo, _ in self.spans]
        self.ends = [hi for _, hi in self.spans]

    def subtract(self, lo: int, hi: int) -> list[Span]:
        """The parts of [lo, hi) no span covers."""
        out = []
        index = bisect_right(self.ends, lo)
        cursor = lo
        while index < len(self.spans) and self.starts[index] < hi:
            if self.starts[index] > cursor:
                out.append((cursor, self.starts[index]))
            cursor = max(cursor, self.ends[index])
            index += 1
        if cursor < hi:
            out.append((cursor, hi))
        return out


class _Person:
    """One person's working spans and blocks over the window, in microseconds."""

    __slots__ = ("buffered", "busy", "name", "ooo", "pieces", "working")

    def __init__(self, who: Availability, buffer: int, lower: int, upper: int) -> None:
        self.name = who.display
        # Only spans that can touch a slot in the window (with its buffer) matter.
        reach = (lower - buffer, upper + buffer)
        busy = _window(who.busy, reach, f"{who.email}: busy interval")
        ooo = _window(who.out_of_office, reach, f"{who.email}: out-of-office span")
        self.busy = _Blocks(busy)
        self.ooo = _Blocks(ooo)
        self.buffered = _Blocks(
            [*((lo - buffer, hi + buffer) for lo, hi in self.busy.spans), *self.ooo.spans]
        )
        # Working spans of every local date of this person that meets the window.
        # Spans are kept apart (not merged): a slot must fit inside one of them.
        self.working: list[Span] = []
        if lower < upper:
            first = _dt(lower).astimezone(who.zone).date()
            last = _dt(upper).astimezone(who.zone).date()
            day = first
            while day <= last:
                for lo, hi in who.hours.intervals(day, who.zone):
                    self.working.append((_us(lo), _us(hi)))
                day += timedelta(days=1)
        self.working.sort()
        # Free pieces: each inside one working span, clear of every block.
        self.pieces = [piece for lo, hi in self.working for piece in self.buffered.subtract(lo, hi)]

    def start_ranges(self, length: int) -> list[Span]:
        """Closed ranges of starts whose slot of ``length`` fits one free piece."""
        return _merge_closed([(lo, hi - length) for lo, hi in self.pieces if hi - lo >= length])

    def problem_codes(self, first: int, count: int, step: int, length: int) -> bytes:
        """Why each slot of ``length`` at ``first + k * step`` does not suit this person.

        One code per start (see ``_TEXTS``). A slot [s, s + length) overlaps a span
        [a, b) exactly when a - length < s < b, and fits a working span [lo, hi)
        when lo <= s <= hi - length: each check marks a run of starts at once.
        """

        def marks(ranges: Iterable[Span]) -> bytearray:
            out = bytearray(count)
            for lo, hi in ranges:
                i = max(0, -(-(lo - first) // step))
                j = min(count, -(-(hi - first) // step))
                if i < j:
                    out[i:j] = b"\x01" * (j - i)
            return out

        def hits(spans: Iterable[Span]) -> bytearray:
            return marks((lo - length + 1, hi) for lo, hi in spans)

        away, busy, near = hits(self.ooo.spans), hits(self.busy.spans), hits(self.buffered.spans)
        fits = marks((lo, hi - length + 1) for lo, hi in self.working)
        return bytes(
            _CODES[a | b << 1 | n << 2 | f << 3]
            for a, b, n, f in zip(away, busy, near, fits, strict=True)
        )

    def texts(self, code: int, buffer: timedelta) -> list[str]:
        if code & _AWAY:
            return [f"{self.name} out of office"]
        out = []
        if code & _BUSY:
            out.append(f"{self.name} busy")
        elif code & _NEAR:
            out.append(f"less than {format_duration(buffer)} from {self.name}'s other meeting")
        if code & _OUTSIDE:
            out.append(f"outside {self.name}'s working hours")
        return out


# Problem codes of one person at one start: out of office says it all; busy says
# more than too close to a meeting; outside working hours adds to either.
_AWAY, _BUSY, _NEAR, _OUTSIDE = 1, 2, 4, 8
_CODES = bytes(
    _AWAY
    if flags & 1
    else ((_BUSY if flags & 2 else _NEAR if flags & 4 else 0) | (0 if flags & 8 else _OUTSIDE))
    for flags in range(16)
)
_COUNTS = bytes(bin(code & ~_NEAR if code & _BUSY else code).count("1") for code in range(16))


class _LocalDays:
    """Local date and wall-clock time of instants in one zone; arithmetic on plain days."""

    __slots__ = ("midnights", "ordinals", "plain", "zone")

    def __init__(self, zone: ZoneInfo, lower: int, upper: int) -> None:
        self.zone = zone
        first = _dt(min(lower, upper)).astimezone(zone).date() - timedelta(days=1)
        last = _dt(max(lower, upper)).astimezone(zone).date() + timedelta(days=1)
        days = [first + timedelta(days=n) for n in range((last - first).days + 2)]
        self.ordinals = [day.toordinal() for day in days]
        self.midnights = []
        exact = []
        offsets = []
        for day in days:
            utc = datetime.combine(day, time(0), zone).astimezone(UTC)
            back = utc.astimezone(zone)
            exact.append(back.date() == day and back.time() == time(0))
            offsets.append(back.utcoffset())
            self.midnights.append(_us(utc))
        # A plain day starts at a real midnight and keeps one UTC offset until the next.
        self.plain = [
            exact[i] and exact[i + 1] and offsets[i] == offsets[i + 1] for i in range(len(days) - 1)
        ]

    def locate(self, instant: int) -> tuple[int, int]:
        """(local date ordinal, wall-clock seconds since local midnight)."""
        index = bisect_right(self.midnights, instant) - 1
        if 0 <= index < len(self.plain) and self.plain[index]:
            return self.ordinals[index], (instant - self.midnights[index]) // 1_000_000
        local = _dt(instant).astimezone(self.zone)
        return local.toordinal(), _time_of_day(local)


class _Search:
    __slots__ = (
        "anchor",
        "day0",
        "days",
        "lower",
        "orig",
        "people",
        "request",
        "step",
        "tod0",
        "upper",
    )

    def __init__(self, request: SlotRequest, now: datetime) -> None:
        _validate(request, now)
        self.request = request
        self.step = _to_us(request.step)
        self.lower = max(_us(request.window_start), _us(now))
        self.upper = _us(request.window_end)
        buffer = _to_us(request.buffer)
        self.people = [_Person(p, buffer, self.lower, self.upper) for p in request.people]
        self.anchor = request.anchor_zone or request.people[0].zone
        self.orig = _us(request.original_start)
        local = request.original_start.astimezone(self.anchor)
        self.day0 = local.toordinal()
        self.tod0 = _time_of_day(local)
        self.days = _LocalDays(self.anchor, self.lower, self.upper)

    def _aligned(self, lo: int) -> int:
        return -(-lo // self.step) * self.step

    def valid_starts(self, length: int) -> list[int]:
        """Every valid start for a slot of ``length`` microseconds, in time order."""
        last = self.upper - length
        if self.lower > last:
            return []
        ranges: list[Span] = [(self.lower, last)]
        for person in self.people:
            ranges = _intersect_closed(ranges, person.start_ranges(length))
            if not ranges:
                return []
        out: list[int] = []
        for lo, hi in ranges:
            out.extend(range(self._aligned(lo), hi + 1, self.step))
        return out

    def rank_key(self, start: int) -> tuple[int, int, int, int]:
        return self._rank(start, *self.days.locate(start))

    def _rank(self, start: int, day: int, time_of_day: int) -> tuple[int, int, int, int]:
        if day == self.day0:
            return (0, 0, 0, start) if start >= self.orig else (2, 0, 0, -start)
        distance = abs(time_of_day - self.tod0)
        if day > self.day0:
            return (1, day, distance, start)
        return (3, -day, distance, start)

    def reason(self, start: int, shortened_to: int | None) -> str:
        local = _dt(start).astimezone(self.anchor)
        day = local.date()
        if day.toordinal() == self.day0:
            offset = start - self.orig
            if offset == 0:
                text = "same day, at the regular time"
            elif offset > 0:
                text = f"same day, {_human(offset)} later"
            else:
                text = f"same day, {_human(-offset)} earlier"
        else:
            when = _day_label(day)
            if day.toordinal() < self.day0:
                when += " (before the regular day)"
            regular = f"{self.tod0 // 3600:02d}:{self.tod0 // 60 % 60:02d}"
            if _time_of_day(local) == self.tod0:
                text = f"{when}, at the regular time {regular}"
            else:
                text = f"{when} {local:%H:%M}, nearest to {regular}"
        if shortened_to is not None:
            text += f", shortened to {format_duration(timedelta(microseconds=shortened_to))}"
        return text

    def near_misses(self) -> list[str]:
        """The best-ranked starts that fail the fewest checks, one per day and cause."""
        length = _to_us(self.request.min_duration)
        first = self._aligned(self.lower)
        last = self.upper - length
        if first > last:
            return []
        count = (last - first) // self.step + 1
        codes = [p.problem_codes(first, count, self.step, length) for p in self.people]
        # The best start of each (local day, problems), ranked by fewest problems, then as slots.
        best: dict[tuple[int, tuple[int, ...]], tuple[int, tuple[int, int, int, int], int]] = {}
        problem_count: dict[tuple[int, ...], int] = {}
        locate, rank = self.days.locate, self._rank
        for start, signature in zip(
            range(first, last + 1, self.step), zip(*codes, strict=True), strict=True
        ):
            problems = problem_count.get(signature)
            if problems is None:
                problems = problem_count[signature] = sum(_COUNTS[code] for code in signature)
            if not problems:
                continue  # cannot happen: that would be a slot
            day, time_of_day = locate(start)
            scored = (problems, rank(start, day, time_of_day), start)
            tag = (day, signature)
            if tag not in best or scored < best[tag]:
                best[tag] = scored
        out = []
        buffer = self.request.buffer
        for (_day, signature), (_count, _key, start) in sorted(
            best.items(), key=lambda item: item[1]
        )[:_MAX_NEAR_MISSES]:
            problems = [
                text
                for person, code in zip(self.people, signature, strict=True)
                for text in person.texts(code, buffer)
            ]
            out.append(f"{self._label(start)}: {', '.join(problems)}")
        return out

    def no_slot(self) -> SlotResult:
        request = self.request
        names = " and ".join(p.name for p in self.people)
        shortest = format_duration(request.min_duration)
        if self.lower >= self.upper:
            where = "the make-up window has already closed"
        else:
            where = f"between {self._label(self.lower)} and {self._label(self.upper)}"
        misses = self.near_misses()
        step = format_duration(request.step)
        message = f"no free {shortest} for {names} {where} ({self.anchor.key})"
        if misses:
            message += "; nearest misses: " + "; ".join(misses)
        elif self.lower < self.upper:
            message += f": the window is too short for {shortest} on the {step} grid"
        finding = Finding(
            kind="no_slot",
            message=message,
            evidence=(request.original_start,),
            severity="warning",
        )
        return SlotResult(slots=(), finding=finding, near_misses=tuple(misses))

    def _label(self, instant: int) -> str:
        local = _dt(instant).astimezone(self.anchor)
        return f"{_day_label(local.date())} {local:%H:%M}"


def _validate(request: SlotRequest, now: datetime) -> None:
    _require_aware(now, "now")
    _require_aware(request.original_start, "original_start")
    _require_aware(request.window_start, "window_start")
    _require_aware(request.window_end, "window_end")
    if not request.people:
        raise ValueError("a slot request needs at least one person")
    if request.duration <= timedelta(0) or request.min_duration <= timedelta(0):
        raise ValueError("duration and min_duration must be longer than zero")
    if request.min_duration > request.duration:
        raise ValueError(
            f"min_duration {format_duration(request.min_duration)} is longer than "
            f"duration {format_duration(request.duration)}"
        )
    if request.buffer < timedelta(0):
        raise ValueError("buffer must not be negative")
    step = _to_us(request.step)
    if step <= 0 or _DAY_US % step:
        raise ValueError(
            f"step {request.step} must divide a day evenly (e.g. 5, 10, 15 or 30 minutes)"
        )


def _time_of_day(local: datetime) -> int:
    """Wall-clock seconds since local midnight."""
    return local.hour * 3600 + local.minute * 60 + local.second


def _day_label(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def _human(microseconds: int) -> str:
    minutes = microseconds // 60_000_000
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


__all__ = [
    "Availability",
    "BusyTimes",
    "Slot",
    "SlotRequest",
    "SlotResult",
    "cadence_slot_window",
    "candidate_starts",
    "find_slots",
]
