"""iCalendar text -> neutral events: the pure half of the ICS provider.

No I/O and no clock: bytes, a window and the owner's zone come in; events and
warnings come out. What it produces for one calendar:

- single events overlapping the window;
- for each recurring series with at least one row in the window, the master
  (``recurrence`` = its RRULE/RDATE/EXDATE lines, start/end = its own
  DTSTART/DTEND, ``timezone`` = the IANA name of its DTSTART zone);
- every occurrence overlapping the window, keyed by ``(uid, original_start)``,
  including cancelled ones: an EXDATE that hits a rule time, a cancelled
  override and every occurrence of a cancelled master are rows with
  ``status=CANCELLED``.

Time zones are resolved here, per file, and never through icalendar's
process-wide cache of VTIMEZONE components (the first file that defines
"Customized Time Zone" would otherwise decide what it means for every later
file): an IANA TZID wins, then Windows names via icalendar's CLDR table, then
"/vendor/Olson/Name" ids, then the file's own VTIMEZONE, then the owner's zone
(with a warning). Floating times and all-day dates are read in the owner's
zone; a Google ``X-WR-TIMEZONE`` calendar reads its UTC and floating times in
that zone, as the x-wr-timezone package does.

Recurrences are expanded with recurring-ical-events (``Series`` per UID, so a
broken series cannot stop the others); anything broken is skipped with a
warning naming the source and the UID, and no exception from icalendar or
recurring-ical-events escapes.
"""

from __future__ import annotations

import hashlib
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vBroken, vCalAddress, vDDDLists, vDDDTypes, vRecur
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
from recurring_ical_events import EventAdapter, Occurrence, Series

from calsync.model import (
    Attendee,
    Event,
    EventStatus,
    Response,
    Window,
    occurrence_slot,
    printable,
)
from calsync.providers.away import AWAY_TAG, BUSY_STATUS, away_reason
from calsync.providers.base import ProviderError

# Occurrences of one series inside one window; more means a runaway rule.
MAX_OCCURRENCES_PER_SERIES = 5_000
# Rule instances dateutil may have to generate, from DTSTART to the window end,
# before a series is refused as too dense to expand (FREQ=MINUTELY since 1990...).
MAX_RULE_ITERATIONS = 150_000
# Query recurring-ical-events a bit wider than the window, then filter exactly:
# all-day dates are compared as naive values inside the library.
_PAD = timedelta(days=2)

_TAG_PREFIX = "X-CALSYNC-"
_WINDOWS_LOWER = {name.lower(): olson for name, olson in WINDOWS_TO_OLSON.items()}
_PARTSTAT = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
    "DELEGATED": Response.DECLINED,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
}
_STATUS = {"CANCELLED": EventStatus.CANCELLED, "TENTATIVE": EventStatus.TENTATIVE}
_FREQ_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
    "MONTHLY": 28 * 86400,
    "YEARLY": 365 * 86400,
}
_FREQ_RANK = {name: rank for rank, name in enumerate(_FREQ_SECONDS)}


Time = date | datetime


# ---------------------------------------------------------------------------
# public API


class ParseWarnings(list[str]):
    """The warnings of one parse, one line each, and the UIDs of the skipped components.

    A skipped component was there but could not be read: its series must keep
    what the store knows rather than be swept as deleted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipped_uids: set[str] = set()


def parse_calendar(
    data: bytes, source: str, window: Window, default_zone: ZoneInfo
) -> tuple[list[Event], ParseWarnings]:
    """Map one iCalendar file to neutral events (all times aware UTC) and warnings.

    Raises ProviderError(source, ...) when ``data`` is not iCalendar at all.
    """
    return parse_calendars([(source, data)], window, default_zone)


def parse_calendars(
    files: Iterable[tuple[str, bytes]], window: Window, default_zone: ZoneInfo
) -> tuple[list[Event], ParseWarnings]:
    """Like ``parse_calendar`` for several files read as one calendar (a folder).

    Components are merged by UID across files, so a series and its overrides
    may live in different files. Any file that is not iCalendar fails the whole
    calendar: a partial snapshot would look like mass deletion.
    """
    warnings = _Warnings()
    records: list[_Record] = []
    for source, data in files:
        for calendar in _read_calendars(source, data, warnings):
            records.extend(_normalize_calendar(calendar, source, default_zone, warnings))
            if len(records) > MAX_COMPONENTS_PER_CALENDAR:
                # One person's calendar, refused whole: the store keeps what it knew.
                raise ProviderError(
                    source, f"more than {MAX_COMPONENTS_PER_CALENDAR:,} events: not read"
                )
    events = _expand(records, window, default_zone, warnings)
    if len(events) > MAX_EVENTS_PER_CALENDAR:
        raise ProviderError(
            ", ".join(sorted({r.source for r in records}))[:200],
            f"expands to more than {MAX_EVENTS_PER_CALENDAR:,} occurrences in the window: "
            "not read",
        )
    return events, warnings.items


RemoteIds = Mapping[tuple[str, datetime | None], tuple[str | None, str | None]]


def expand_components(
    components: Iterable[icalendar.Event],
    source: str,
    window: Window,
    default_zone: ZoneInfo,
    remote_ids: RemoteIds | None = None,
) -> tuple[list[Event], ParseWarnings]:
    """Like ``parse_calendar`` for VEVENTs built as objects (Google, Graph): no text.

    A provider's mapping builds each resource as a component (master with its
    RRULE/RDATE/EXDATE, overrides with RECURRENCE-ID, cancelled instances) and
    hands them here, so they go through the same validation and expansion as
    a parsed file without being written out and read back. Times carry their
    zone as a ``ZoneInfo`` (icalendar sets TZID from it); there is no
    VTIMEZONE and no X-WR-TIMEZONE. The components are changed in place.

    ``remote_ids``: the provider's id and etag of a row, by ``(uid,
    model.occurrence_slot(original_start))`` (``(uid, None)`` for a single
    event or a series master); rows without an entry keep none.
    """
    warnings = _Warnings()
    zones = _Zones(icalendar.Calendar(), source, default_zone, warnings)
    events = [c for c in components if isinstance(c, icalendar.Event)]
    if len(events) > MAX_COMPONENTS_PER_CALENDAR:
        raise ProviderError(source, f"more than {MAX_COMPONENTS_PER_CALENDAR:,} events: not read")
    records = _normalize_components(events, source, zones, default_zone, warnings)
    expanded = _expand(records, window, default_zone, warnings)
    if remote_ids:
        for event in expanded:
            found = remote_ids.get((event.uid, occurrence_slot(event.original_start)))
            if found is not None:
                # Every row was built by this call and nobody holds it yet: setting
                # its ids now is building it with them, without a copy per row.
                _set(event, "remote_id", found[0])
                _set(event, "etag", found[1])
    if len(expanded) > MAX_EVENTS_PER_CALENDAR:
        raise ProviderError(
            source,
            f"expands to more than {MAX_EVENTS_PER_CALENDAR:,} occurrences in the window: "
            "not read",
        )
    return expanded, warnings.items


# ---------------------------------------------------------------------------
# reading


class _Warnings:
    def __init__(self) -> None:
        self.items = ParseWarnings()
        self._seen: set[str] = set()

    def add(self, text: str) -> None:
        text = printable(text)  # warnings quote the feed, and are printed and logged
        if text not in self._seen:
            self._seen.add(text)
            self.items.append(text)

    def skipped(self, source: str, uid: str, reason: str) -> None:
        self.items.skipped_uids.add(uid)
        self.add(f"{source}: event UID {uid} skipped: {reason}")


def _short(text: object, limit: int = 120) -> str:
    text = printable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_calendars(source: str, data: bytes, warnings: _Warnings) -> list[icalendar.Calendar]:
    if not data.strip():
        raise ProviderError(source, "not an iCalendar file: it is empty")
    try:
        components = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, but promise nothing raw escapes
        raise ProviderError(source, f"not an iCalendar file: {_short(exc)}") from None
    calendars = [c for c in components if isinstance(c, icalendar.Calendar)]
    others = sorted({c.name for c in components if not isinstance(c, icalendar.Calendar)})
    if not calendars:
        if b"BEGIN:VCALENDAR" in data[:4096].upper():
            raise ProviderError(source, "incomplete iCalendar file: END:VCALENDAR is missing")
        found = f" (found {', '.join(others)})" if others else ""
        raise ProviderError(source, f"not an iCalendar file: no VCALENDAR{found}")
    if others:
        warnings.add(f"{source}: ignored top-level {', '.join(others)} outside VCALENDAR")
    for calendar in calendars:
        scale = str(calendar.get("CALSCALE", "GREGORIAN")).upper()
        if scale != "GREGORIAN":
            raise ProviderError(source, f"unsupported CALSCALE {scale} (only GREGORIAN)")
    return calendars


# ---------------------------------------------------------------------------
# time zones


@dataclass(frozen=True, slots=True)
class _Zone:
    tz: tzinfo
    name: str | None  # IANA name, None for a custom VTIMEZONE we cannot name


def _zoneinfo(key: str) -> ZoneInfo | None:
    if not key or key.startswith(("/", ".")) or ".." in key:
        return None
    try:
        return ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def iana_zone(tzid: str) -> ZoneInfo | None:
    """An IANA zone for a TZID: an IANA name, a Windows name, or '/vendor/Olson/Name'."""
    cleaned = tzid.strip().strip('"').strip()
    bare = cleaned.strip("/")
    zone = _zoneinfo(bare)
    if zone is not None:
        return zone
    olson = WINDOWS_TO_OLSON.get(bare) or _WINDOWS_LOWER.get(bare.lower())
    if olson is not None:
        return _zoneinfo(olson)
    parts = bare.split("/")
    for start in range(1, len(parts)):
        zone = _zoneinfo("/".join(parts[start:]))
        if zone is not None:
            return zone
    return None


class _Zones:
    """TZID resolution for one VCALENDAR (see the module docstring for the order)."""

    def __init__(
        self,
        calendar: icalendar.Calendar,
        source: str,
        default_zone: ZoneInfo,
        warnings: _Warnings,
    ) -> None:
        self._source = source
        self._default = default_zone
        self._warnings = warnings
        self._vtimezones: dict[str, icalendar.Timezone] = {}
        for component in calendar.subcomponents:
            if isinstance(component, icalendar.Timezone) and "TZID" in component:
                self._vtimezones.setdefault(str(component["TZID"]), component)
        self._cache: dict[str, _Zone] = {}
        self.floating = _Zone(default_zone, getattr(default_zone, "key", None))
        self.utc = _Zone(UTC, "UTC")
        self.calendar_zone: _Zone | None = None
        xwr = calendar.get("X-WR-TIMEZONE")
        if xwr is not None and str(xwr).strip():
            zone = iana_zone(str(xwr))
            if zone is None:
                warnings.add(
                    f"{source}: unknown X-WR-TIMEZONE {_short(xwr, 60)!r} ignored; "
                    f"floating times read as {self.floating.name}"
                )
            else:
                self.calendar_zone = _Zone(zone, zone.key)
                self.floating = self.calendar_zone

    def resolve(self, tzid: str) -> _Zone:
        zone = self._cache.get(tzid)
        if zone is None:
            zone = self._cache[tzid] = self._resolve(tzid)
        return zone

    def _resolve(self, tzid: str) -> _Zone:
        iana = iana_zone(tzid)
        if iana is not None:
            return _Zone(iana, iana.key)
        component = self._vtimezones.get(tzid)
        if component is not None:
            problem = _vtimezone_problem(component)
            if problem is not None:
                self._warnings.add(
                    f"{self._source}: VTIMEZONE {_short(tzid, 60)!r} refused ({problem}); "
                    f"its times are read as {self.floating.name}"
                )
                return self.floating
            try:
                # A fresh tzinfo from this file's definition: not the global cache.
                return _Zone(tzp.create_timezone(component), None)
            except Exception as exc:
                self._warnings.add(
                    f"{self._source}: VTIMEZONE {_short(tzid, 60)!r} cannot be read "
                    f"({_short(exc, 80)}); its times are read as {self.floating.name}"
                )
                return self.floating
        self._warnings.add(
            f"{self._source}: unknown time zone {_short(tzid, 60)!r} without a VTIMEZONE; "
            f"its times are read as {self.floating.name}"
        )
        return self.floating


# A time zone changes its offset a few times a year: its rules are yearly, with
# a handful of BY values. Anything else is not a time zone but a way to make
# the expansion below run for hours (FREQ=MINUTELY from year 1 took 500 MB).
# A calendar's total budget: a person's own calendar over the sync window is a
# few thousand rows; these bounds stop a generated calendar, not a busy person.
MAX_COMPONENTS_PER_CALENDAR = 100_000
MAX_EVENTS_PER_CALENDAR = 250_000
MAX_ZONE_PARTS = 200
# RDATE or EXDATE values of one event: years of a weekly series' exceptions fit.
MAX_DATES_PER_LIST = 5_000
MAX_ZONE_RDATES = 1000
MAX_ZONE_RULE_SPREAD = 64  # product of a rule's BY-list lengths
_ZONE_RULE_LISTS = ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND",
                    "BYYEARDAY", "BYWEEKNO", "BYSETPOS")


def _vtimezone_problem(component: icalendar.Timezone) -> str | None:
    """Why a custom VTIMEZONE is too costly to expand, or None when it is a time zone."""
    parts = [c for c in component.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if len(parts) > MAX_ZONE_PARTS:
        return f"{len(parts)} STANDARD/DAYLIGHT parts, more than {MAX_ZONE_PARTS}"
    rdates = 0
    for part in parts:
        for prop in _as_list(part.get("RDATE")):
            rdates += len(getattr(prop, "dts", ())) or 1
        for rule in _as_list(part.get("RRULE")):
            freq = [str(f).upper() for f in rule.get("FREQ", [])]
            if freq != ["YEARLY"]:
                return f"a rule repeats {'/'.join(freq) or 'without FREQ'}, not yearly"
            spread = 1
            for name in _ZONE_RULE_LISTS:
                spread *= max(1, len(rule.get(name, [])))
            if spread > MAX_ZONE_RULE_SPREAD:
                return f"a yearly rule with {spread} instances a year"
    if rdates > MAX_ZONE_RDATES:
        return f"{rdates} RDATEs, more than {MAX_ZONE_RDATES}"
    return None


def _as_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------
# one component -> a validated record


class _Broken(Exception):
    """A component that cannot be used; the message says why."""


@dataclass(eq=False)
class _Record:
    source: str
    uid: str
    component: icalendar.Event
    start: Time
    end: Time
    zone: _Zone | None  # None for all-day
    recurrence_id: Time | None
    this_and_future: bool
    rules: list[vRecur]
    exdates: list[Time]
    recurrence_lines: tuple[str, ...]
    sequence: int
    stamp: str  # LAST-MODIFIED or DTSTAMP
    # Computed once, on first use, by the properties below. Plain attributes, not
    # functools.cached_property: in Python 3.11 that takes one class-wide lock on
    # every first read, and readers map calendars on several threads.
    _properties: dict[str, object] | None = field(default=None, repr=False)
    _rank: tuple[int, str, str] | None = field(default=None, repr=False)
    # The first Event built from this component: later rows copy its fields.
    prototype: Event | None = field(default=None, repr=False)

    @property
    def has_rules(self) -> bool:
        return bool(self.rules) or "RDATE" in self.component

    @property
    def properties(self) -> dict[str, object]:
        """The Event fields this component gives every one of its rows."""
        if self._properties is None:
            self._properties = _properties(self)
        return self._properties

    @property
    def rank(self) -> tuple[int, str, str]:
        """Which of two copies of one component wins: newest, then a content hash."""
        if self._rank is None:
            content = hashlib.sha256(self.component.to_ical()).hexdigest()
            self._rank = (self.sequence, self.stamp, content)
        return self._rank


def _normalize_calendar(
    calendar: icalendar.Calendar, source: str, default_zone: ZoneInfo, warnings: _Warnings
) -> list[_Record]:
    zones = _Zones(calendar, source, default_zone, warnings)
    components = [c for c in calendar.subcomponents if isinstance(c, icalendar.Event)]
    return _normalize_components(components, source, zones, default_zone, warnings)


def _normalize_components(
    components: list[icalendar.Event],
    source: str,
    zones: _Zones,
    default_zone: ZoneInfo,
    warnings: _Warnings,
) -> list[_Record]:
    uids = _uids(components, source, warnings)
    records = []
    for component, uid in zip(components, uids, strict=True):
        try:
            records.append(_record(component, uid, source, zones, default_zone, warnings))
        except _Broken as exc:
            warnings.skipped(source, uid, str(exc))
        except Exception as exc:  # a library surprise: still only this component
            warnings.skipped(source, uid, f"{type(exc).__name__}: {_short(exc)}")
    return records


def _uids(components: list[icalendar.Event], source: str, warnings: _Warnings) -> list[str]:
    """Each component's UID; a missing one is made from source + SUMMARY + DTSTART.

    Components that would get the same made-up UID are told apart by a suffix
    assigned in the order of their content hash, so the result does not depend
    on the order of the components in the file.
    """
    uids: list[str] = []
    made: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for index, component in enumerate(components):
        raw = component.get("UID")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        uid = "" if raw is None or isinstance(raw, vBroken) else str(raw).strip()
        if not uid:
            start = component.get("DTSTART")
            start_text = _raw(start) if start is not None else ""
            summary = _text(component, "SUMMARY")
            digest = hashlib.sha256(f"{source}\n{summary}\n{start_text}".encode()).hexdigest()
            uid = f"calsync-{digest[:16]}@ics"
            made[uid].append((hashlib.sha256(component.to_ical()).hexdigest(), index))
            what = f"event {_short(summary, 60)!r}" if summary else "an event without SUMMARY"
            when = f" at {start_text}" if start_text else ""
            warnings.add(f"{source}: {what}{when} has no UID; using {uid}")
        uids.append(uid)
    for uid, members in made.items():
        if len(members) > 1:
            for number, (_, index) in enumerate(sorted(members), start=1):
                uids[index] = f"{uid[: -len('@ics')]}-{number}@ics"
            warnings.add(
                f"{source}: {len(members)} events without UID share {uid}; "
                f"numbered {uid[: -len('@ics')]}-1… by content"
            )
    for component, uid in zip(components, uids, strict=True):
        if str(component.get("UID", "")).strip() != uid:
            component["UID"] = uid
    return uids


def _single(component: icalendar.Event, name: str) -> object | None:
    value = component.get(name)
    if isinstance(value, list):
        if not value:
            return None
        value = value[0]
        component[name] = value
    return value


def _time_value(component: icalendar.Event, name: str) -> vDDDTypes | None:
    prop = _single(component, name)
    if prop is None:
        return None
    if isinstance(prop, vBroken) or not isinstance(getattr(prop, "dt", None), date):
        raise _Broken(f"{name} is not a date or time")
    return prop  # type: ignore[return-value]


def _fix_time(value: Time, tzid: str | None, zones: _Zones) -> tuple[Time, _Zone | None]:
    """Re-attach a value's zone with our own resolution; dates stay dates."""
    if not isinstance(value, datetime):
        return value, None
    wall = value.replace(tzinfo=None)
    if tzid:
        zone = zones.resolve(str(tzid))
        return wall.replace(tzinfo=zone.tz), zone
    if value.tzinfo is None:
        return wall.replace(tzinfo=zones.floating.tz), zones.floating
    # An explicit UTC ("Z") value; in an X-WR-TIMEZONE calendar it means that zone.
    zone = zones.calendar_zone or zones.utc
    return value.astimezone(zone.tz), zone


def _fix_property(prop: vDDDTypes, zones: _Zones) -> _Zone | None:
    prop.dt, zone = _fix_time(prop.dt, prop.params.get("TZID"), zones)
    return zone


def _fix_list(component: icalendar.Event, name: str, zones: _Zones) -> list[Time]:
    """Fix RDATE/EXDATE in place; return their plain values (period starts for RDATE)."""
    props = component.get(name)
    if props is None:
        return []
    values: list[Time] = []
    kept = []
    count = 0
    for prop in props if isinstance(props, list) else [props]:
        if isinstance(prop, vBroken) and not str(prop).strip():
            continue  # an empty EXDATE: nothing to exclude (reported with the errors)
        if isinstance(prop, vBroken) or not isinstance(prop, vDDDLists):
            raise _Broken(f"{name} is not a list of dates or times")
        kept.append(prop)
        count += len(prop.dts)
        if count > MAX_DATES_PER_LIST:
            # Thousands of explicit dates are a generated attack, not a meeting.
            raise _Broken(f"{name} lists more than {MAX_DATES_PER_LIST} dates")
        tzid = prop.params.get("TZID")
        for item in prop.dts:
            value = item.dt
            if isinstance(value, tuple) and name == "RDATE" and len(value) == 2:
                start, _ = _fix_time(value[0], tzid, zones)
                other = value[1]
                if isinstance(other, date):
                    other, _ = _fix_time(other, tzid, zones)
                elif not isinstance(other, timedelta):
                    raise _Broken(f"{name} has a period that is not a date or time")
                item.dt = (start, other)
                values.append(start)
            elif isinstance(value, date):
                item.dt, _ = _fix_time(value, tzid, zones)
                values.append(item.dt)
            else:
                raise _Broken(f"{name} is not a list of dates or times")
    if not kept:
        del component[name]
    elif len(kept) == 1:
        component[name] = kept[0]
    else:
        component[name] = kept
    return values


def _fix_until(rule: vRecur, start: Time, zone: _Zone | None, default_zone: ZoneInfo) -> None:
    """Give UNTIL the form dateutil needs for this DTSTART (UTC for a zoned start).

    recurring-ical-events would otherwise read a local UNTIL as UTC and can drop
    the last occurrence west of Greenwich.
    """
    untils = rule.get("UNTIL")
    if not untils:
        return
    until = untils[0] if isinstance(untils, list) else untils
    if isinstance(start, datetime):
        tz = zone.tz if zone is not None else UTC
        if isinstance(until, datetime):
            if until.tzinfo is None:
                until = until.replace(tzinfo=tz)
        elif isinstance(until, date):
            until = datetime.combine(until, time(23, 59, 59), tzinfo=tz)
        else:
            raise _Broken("RRULE UNTIL is not a date or time")
        rule["UNTIL"] = [until.astimezone(UTC)]
    elif isinstance(until, datetime):
        if until.tzinfo is not None:
            until = until.astimezone(default_zone)
        rule["UNTIL"] = [until.date()]
    elif not isinstance(until, date):
        raise _Broken("RRULE UNTIL is not a date or time")


def _record(
    component: icalendar.Event,
    uid: str,
    source: str,
    zones: _Zones,
    default_zone: ZoneInfo,
    warnings: _Warnings,
) -> _Record:
    start_prop = _time_value(component, "DTSTART")
    if start_prop is None:
        raise _Broken("DTSTART is missing")
    zone = _fix_property(start_prop, zones)
    start = start_prop.dt

    end_prop = _time_value(component, "DTEND")
    duration = _single(component, "DURATION")
    if end_prop is not None:
        _fix_property(end_prop, zones)
        end = end_prop.dt
        if duration is not None:
            del component["DURATION"]  # DTEND wins; recurring-ical-events agrees
    elif duration is not None:
        span = None if isinstance(duration, vBroken) else getattr(duration, "dt", None)
        if not isinstance(span, timedelta):
            raise _Broken("DURATION is not a duration")
        end = start + span
    else:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    if _utc(end, default_zone) < _utc(start, default_zone):
        raise _Broken(f"it ends ({_iso(end)}) before it starts ({_iso(start)})")

    recurrence_id = None
    this_and_future = False
    rid_prop = _time_value(component, "RECURRENCE-ID")
    if rid_prop is not None:
        _fix_property(rid_prop, zones)
        recurrence_id = rid_prop.dt
        this_and_future = str(rid_prop.params.get("RANGE", "")).upper() == "THISANDFUTURE"
        if this_and_future:
            rid_prop.params["RANGE"] = "THISANDFUTURE"  # the library compares exactly

    rules: list[vRecur] = []
    raw_rules = component.get("RRULE")
    for rule in raw_rules if isinstance(raw_rules, list) else [raw_rules] * bool(raw_rules):
        if isinstance(rule, vBroken) or not isinstance(rule, vRecur) or not rule.get("FREQ"):
            raise _Broken(f"RRULE cannot be read: {_short(_raw(rule), 80)}")
        freq = str(rule["FREQ"][0]).upper()
        if freq not in _FREQ_SECONDS:
            raise _Broken(f"RRULE has an unknown FREQ {freq}")
        _fix_until(rule, start, zone, default_zone)
        rules.append(rule)
    _fix_list(component, "RDATE", zones)
    exdates = _fix_list(component, "EXDATE", zones)

    for name, message in component.errors:
        if name and name.upper() in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
            continue  # already judged above
        what = f"property {name}" if name else "a line"
        warnings.add(
            f"{source}: event UID {uid}: ignored {what} that cannot be read ({_short(message, 80)})"
        )

    lines = _recurrence_lines(component, rules) if rules or "RDATE" in component else ()
    sequence = component.get("SEQUENCE", 0)
    try:
        sequence = int(sequence)
    except (TypeError, ValueError):
        sequence = 0
    stamp = component.get("LAST-MODIFIED") or component.get("DTSTAMP")
    stamp_text = _iso(stamp.dt) if isinstance(getattr(stamp, "dt", None), date) else ""
    return _Record(
        source=source,
        uid=uid,
        component=component,
        start=start,
        end=end,
        zone=zone,
        recurrence_id=recurrence_id,
        this_and_future=this_and_future,
        rules=rules,
        exdates=exdates,
        recurrence_lines=lines,
        sequence=sequence,
        stamp=stamp_text,
    )


def _raw(prop: object) -> str:
    if isinstance(prop, vBroken):
        return str(prop)
    to_ical = getattr(prop, "to_ical", None)
    return to_ical().decode("utf-8", "replace") if to_ical else str(prop)


# ---------------------------------------------------------------------------
# recurrence text


def _format_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, tuple):
        return f"{_format_value(value[0])}/{_format_value(value[1])}"
    if isinstance(value, timedelta):
        return vDDDTypes(value).to_ical().decode()
    return str(value)


def _date_lines(name: str, props: object) -> list[str]:
    lines = []
    for prop in props if isinstance(props, list) else [props]:
        values = [item.dt for item in prop.dts]
        if not values:
            continue
        if any(isinstance(v, tuple) for v in values):
            params = ";VALUE=PERIOD"
        elif all(not isinstance(v, datetime) for v in values):
            params = ";VALUE=DATE"
        else:
            params = ""
        keys = {getattr(v.tzinfo, "key", None) for v in values if isinstance(v, datetime)}
        if len(keys) == 1 and None not in keys and keys != {"UTC"} and not params:
            key = keys.pop()
            text = ",".join(v.strftime("%Y%m%dT%H%M%S") for v in values)
            lines.append(f"{name};TZID={key}:{text}")
        else:
            lines.append(f"{name}{params}:{','.join(_format_value(v) for v in values)}")
    return lines


def _recurrence_lines(component: icalendar.Event, rules: list[vRecur]) -> tuple[str, ...]:
    """RRULE/RDATE/EXDATE as text; dates in the series' IANA zone or UTC."""
    lines = [f"RRULE:{rule.to_ical().decode()}" for rule in rules]
    for name in ("RDATE", "EXDATE"):
        if name in component:
            lines.extend(_date_lines(name, component[name]))
    return tuple(lines)


# ---------------------------------------------------------------------------
# expansion


def _utc(value: Time, default_zone: tzinfo) -> datetime:
    """An instant: dates are local midnight in the owner's zone."""
    if type(value) is datetime and value.tzinfo is not None:  # the usual case, first
        return value.astimezone(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=default_zone)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=default_zone).astimezone(UTC)


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _in_window(window: Window, start: datetime, end: datetime) -> bool:
    if start == end:
        return window.contains(start)
    return window.overlaps(start, end)


class _Occurrence(Occurrence):
    """An occurrence that remembers its rule time (``original``)."""

    def __init__(self, adapter, start, end, sequence, original):  # type: ignore[no-untyped-def]
        super().__init__(adapter, start, end, sequence)
        self.original = original
        self.source_adapter = adapter

    def is_in_span(self, span_start, span_stop):  # type: ignore[no-untyped-def]
        """The library's test (``time_span_contains_event``), without its conversions.

        Asked once per occurrence: for two aware datetimes (nearly every timed
        occurrence) they are comparable as they are, and the rule is the
        library's; anything else goes to the library.
        """
        start, end = self.start, self.end
        if (
            type(start) is datetime
            and type(end) is datetime
            and start.tzinfo is not None
            and end.tzinfo is not None
            and start <= end
        ):
            if start == end:
                return span_start <= start < span_stop
            return start < span_stop and span_start < end
        return super().is_in_span(span_start, span_stop)


class _Series(Series):
    """recurring-ical-events' series, keeping each occurrence's rule time.

    For a RANGE=THISANDFUTURE override the library moves later occurrences by
    the override's shift and gives them the override's RECURRENCE-ID; their
    rule time is the moved start minus that shift.
    """

    def __init__(self, adapters: Sequence[EventAdapter], records: dict[int, _Record]) -> None:
        self._records = records
        # Rule times of a span, kept once the library's between() has read them all:
        # the EXDATE pass (_excluded) reads the same span again.
        self._rule_times: dict[tuple[Time, Time], list[Time]] = {}
        super().__init__(adapters)

    def rrule_between(self, span_start, span_stop):  # type: ignore[no-untyped-def]
        times = []
        for rule_time in super().rrule_between(span_start, span_stop):
            times.append(rule_time)
            yield rule_time
        self._rule_times[(span_start, span_stop)] = times  # only when read to the end

    def rule_times(self, span_start: Time, span_stop: Time) -> list[Time]:
        """The rule times of a span (the ones between() read, if it read them all)."""
        found = self._rule_times.get((span_start, span_stop))
        return found if found is not None else list(self.rrule_between(span_start, span_stop))

    def occurrence(self, adapter, start=None, end=None):  # type: ignore[no-untyped-def]
        if start is None:  # an override, as written
            original = self._records[id(adapter)].recurrence_id
        else:
            original = start - adapter.move_recurrences_by
        return _Occurrence(adapter, start, end, self.sequence, original)


def _pick(records: list[_Record]) -> _Record:
    return records[0] if len(records) == 1 else max(records, key=lambda r: r.rank)


def _prefer(new: _Record, core: _Record | None, old: _Record | None) -> bool:
    """Two occurrences with one key (an override the library did not match): pick one."""
    if old is None:
        return True
    return ((new is not core), new.rank) > ((old is not core), old.rank)


def _expand(
    records: list[_Record], window: Window, default_zone: ZoneInfo, warnings: _Warnings
) -> list[Event]:
    groups: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        groups[record.uid].append(record)
    events: list[Event] = []
    for uid in sorted(groups):
        group = groups[uid]
        try:
            events.extend(_expand_group(uid, group, window, default_zone, warnings))
        except _Broken as exc:
            warnings.skipped(_pick(group).source, uid, str(exc))
        except Exception as exc:
            warnings.skipped(
                _pick(group).source, uid, f"cannot expand: {type(exc).__name__}: {_short(exc)}"
            )
    events.sort(key=_sort_key)
    return events


def _sort_key(event: Event) -> tuple:
    return (event.uid, event.original_start is not None, event.original_start or event.start)


def _expand_group(
    uid: str,
    group: list[_Record],
    window: Window,
    default_zone: ZoneInfo,
    warnings: _Warnings,
) -> list[Event]:
    cores = [r for r in group if r.recurrence_id is None]
    core = _pick(cores) if cores else None
    if len(cores) > 1:
        warnings.add(
            f"{core.source}: event UID {uid} appears {len(cores)} times; "  # type: ignore[union-attr]
            "kept the copy with the highest SEQUENCE"
        )
    overrides: dict[datetime, _Record] = {}
    for record in group:
        if record.recurrence_id is not None:
            key = _utc(record.recurrence_id, default_zone)
            if key not in overrides or record.rank > overrides[key].rank:
                overrides[key] = record

    if not overrides and (core is None or not core.has_rules):
        assert core is not None
        start, end = _utc(core.start, default_zone), _utc(core.end, default_zone)
        if not _in_window(window, start, end):
            return []
        return [_event(core, start, end, None, default_zone)]

    if core is not None and core.has_rules:
        _check_density(core, window, default_zone)
    members = ([core] if core is not None else []) + [overrides[k] for k in sorted(overrides)]
    by_adapter: dict[int, _Record] = {}
    adapters = []
    for record in members:
        adapter = EventAdapter(record.component)
        by_adapter[id(adapter)] = record
        adapters.append(adapter)
    series = _Series(adapters, by_adapter)

    cancelled_master = core is not None and _status(core) is EventStatus.CANCELLED
    span_start, span_stop = window.start - _PAD, window.end + _PAD
    # Keyed by occurrence_slot(original start): in one uid, what tells Event.keys apart.
    rows: dict[datetime | None, Event] = {}
    sources: dict[datetime | None, _Record] = {}
    count = 0
    # Once per series, not per occurrence (this loop runs for every row of a sync).
    plain_core = core is not None and not core.has_rules
    low, high = window.start, window.end
    for occurrence in series.between(span_start, span_stop):
        count += 1
        if count > MAX_OCCURRENCES_PER_SERIES:
            warnings.add(
                f"{(core or members[0]).source}: event UID {uid}: more than "
                f"{MAX_OCCURRENCES_PER_SERIES} occurrences in the window; the rest are ignored"
            )
            break
        record = by_adapter[id(occurrence.source_adapter)]
        start = _utc(occurrence.start, default_zone)
        end = _utc(occurrence.end, default_zone)
        # _in_window, inline
        if not (low <= start < high if start == end else start < high and low < end):
            continue
        original = (
            None
            if plain_core and record is core
            else _utc(occurrence.original, default_zone)
        )
        key = occurrence_slot(original)
        if key not in rows or _prefer(record, core, sources.get(key)):
            rows[key] = _event(record, start, end, original, default_zone,
                               cancelled=cancelled_master)
            sources[key] = record

    if core is not None and core.has_rules and core.exdates:
        for event in _excluded(series, core, window, span_start, span_stop, default_zone):
            # an EXDATE beats an override of the same time
            rows[occurrence_slot(event.original_start)] = event

    if not rows:
        return []
    result = list(rows.values())
    if core is not None and core.has_rules:
        result.append(
            _event(
                core,
                _utc(core.start, default_zone),
                _utc(core.end, default_zone),
                None,
                default_zone,
                recurrence=core.recurrence_lines,
            )
        )
    return result


def _excluded(
    series: _Series,
    core: _Record,
    window: Window,
    span_start: datetime,
    span_stop: datetime,
    default_zone: ZoneInfo,
) -> Iterator[Event]:
    """Cancelled rows for the rule times an EXDATE removes."""
    excluded_instants = set()
    excluded_days = set()
    for value in core.exdates:
        if isinstance(value, datetime):
            excluded_instants.add(_utc(value, default_zone))
        else:
            excluded_days.add(value)
    duration = _utc(core.end, default_zone) - _utc(core.start, default_zone)
    all_day = not isinstance(core.start, datetime)
    seen = set()
    for rule_time in series.rule_times(span_start, span_stop):
        if all_day and isinstance(rule_time, datetime):
            rule_time = rule_time.date()
        instant = _utc(rule_time, default_zone)
        day = rule_time.date() if isinstance(rule_time, datetime) else rule_time
        if instant in seen or (instant not in excluded_instants and day not in excluded_days):
            continue
        seen.add(instant)
        if not _in_window(window, instant, instant + duration):
            continue
        yield _event(
            core,
            instant,
            instant + duration,
            instant,
            default_zone,
            cancelled=True,
        )


def _check_density(core: _Record, window: Window, default_zone: ZoneInfo) -> None:
    """Refuse rules that would make dateutil generate an absurd number of instances."""
    start = _utc(core.start, default_zone)
    total = 0.0
    for rule in core.rules:
        freq = str(rule["FREQ"][0]).upper()
        stop = window.end + _PAD
        until = rule.get("UNTIL")
        if until:
            stop = min(stop, _utc(until[0], default_zone))
        seconds = (stop - start).total_seconds()
        if seconds <= 0:
            continue
        interval = max(1, _int(rule.get("INTERVAL"), 1))
        periods = seconds / (_FREQ_SECONDS[freq] * interval)
        rank = _FREQ_RANK[freq]
        factor = 1.0
        for name, finer_than in (("BYHOUR", "DAILY"), ("BYMINUTE", "HOURLY")):
            if rank >= _FREQ_RANK[finer_than] and rule.get(name):
                factor *= len(rule[name])
        if rank >= _FREQ_RANK["MINUTELY"] and rule.get("BYSECOND"):
            factor *= len(rule["BYSECOND"])
        if freq == "WEEKLY" and rule.get("BYDAY"):
            factor *= len(rule["BYDAY"])
        elif freq == "MONTHLY" and any(rule.get(n) for n in ("BYDAY", "BYMONTHDAY")):
            factor *= 31
        elif freq == "YEARLY" and any(
            rule.get(n) for n in ("BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH")
        ):
            factor *= 366
        total += periods * factor
    if total > MAX_RULE_ITERATIONS:
        rules = "; ".join(line for line in core.recurrence_lines if line.startswith("RRULE"))
        raise _Broken(
            f"RRULE would need about {math.ceil(total):,} instances from "
            f"{_iso(core.start)} to the window end ({_short(rules, 80)})"
        )


def _int(value: object, default: int) -> int:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


# ---------------------------------------------------------------------------
# properties -> Event


def _status(record: _Record) -> EventStatus:
    value = record.component.get("STATUS")
    if isinstance(value, list):
        value = value[0] if value else None
    return _STATUS.get(str(value or "").strip().upper(), EventStatus.CONFIRMED)


def _text(component: icalendar.Event, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, vBroken):
        return ""
    return str(value)


def _email(address: object) -> str | None:
    if not isinstance(address, vCalAddress):
        return None
    text = str(address).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    elif "EMAIL" in address.params:
        text = str(address.params["EMAIL"])
    text = text.strip().lower()
    return text if "@" in text else None


def _attendees(component: icalendar.Event) -> tuple[Attendee, ...]:
    values = component.get("ATTENDEE")
    if values is None:
        return ()
    people: dict[str, Attendee] = {}
    for value in values if isinstance(values, list) else [values]:
        email = _email(value)
        if email is None or email in people:
            continue
        # A booked room is not a person: it must not turn a 1:1 into a group.
        if str(value.params.get("CUTYPE", "")).strip().upper() in ("ROOM", "RESOURCE"):
            continue
        partstat = str(value.params.get("PARTSTAT", "NEEDS-ACTION")).strip().upper()
        people[email] = Attendee(email, _PARTSTAT.get(partstat, Response.NEEDS_ACTION))
    return tuple(people.values())


def _tags(component: icalendar.Event) -> dict[str, str]:
    tags = {}
    for name, values in component.items():
        upper = name.upper()
        if upper.startswith(_TAG_PREFIX) and len(upper) > len(_TAG_PREFIX):
            value = values[0] if isinstance(values, list) else values
            tags[upper[len(_TAG_PREFIX) :].lower()] = _raw_text(value)
    return tags


def _raw_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _properties(record: _Record) -> dict[str, object]:
    """What every row of one component shares, read from it once (not per occurrence)."""
    component = record.component
    title = _text(component, "SUMMARY")
    all_day = not isinstance(record.start, datetime)
    tags = _tags(component)
    # The one place every provider's out-of-office mark becomes the neutral tag.
    away = away_reason(_text(component, BUSY_STATUS), title, all_day)
    if away is not None:
        tags[AWAY_TAG] = away
    return {
        "title": title,
        "status": _status(record),
        "organizer": _email(_single(component, "ORGANIZER")),
        "attendees": _attendees(component),
        "all_day": all_day,
        "timezone": record.zone.name if record.zone is not None else None,
        "description": _text(component, "DESCRIPTION"),
        "transparent": _text(component, "TRANSP").strip().upper() == "TRANSPARENT",
        "tags": tags,
    }


def _event(
    record: _Record,
    start: datetime,
    end: datetime,
    original: datetime | None,
    default_zone: ZoneInfo,
    *,
    cancelled: bool = False,
    recurrence: tuple[str, ...] = (),
) -> Event:
    proto = record.prototype
    if proto is None:
        # The first row of this component is built and validated by Event itself.
        fields = record.properties
        event = Event(
            uid=record.uid,
            start=start,
            end=end,
            original_start=original,
            recurrence=recurrence,
            **fields,  # type: ignore[arg-type]
        )
        record.prototype = event
        return replace(event, status=EventStatus.CANCELLED) if cancelled else event
    # Every later row shares the prototype's validated fields (organizer and
    # emails normalized, tags frozen) and takes its own times, which _utc made
    # aware UTC: Event.__init__ per occurrence was a tenth of a Google sync.
    if end < start:
        raise ValueError(f"event {record.uid}: end {end} is before start {start}")
    event = object.__new__(Event)
    for name in _SHARED_FIELDS:
        _set(event, name, getattr(proto, name))
    _set(event, "start", start)
    _set(event, "end", end)
    _set(event, "original_start", original)
    _set(event, "recurrence", recurrence)
    _set(event, "status", EventStatus.CANCELLED if cancelled else proto.status)
    _set(event, "remote_id", None)
    _set(event, "etag", None)
    return event


# What every row of one component has in common (see _event); Event is frozen.
_SHARED_FIELDS = (
    "uid", "title", "organizer", "attendees", "all_day", "timezone", "description",
    "transparent", "tags",
)
_set = object.__setattr__


__all__ = [
    "MAX_OCCURRENCES_PER_SERIES",
    "MAX_RULE_ITERATIONS",
    "ParseWarnings",
    "expand_components",
    "iana_zone",
    "parse_calendar",
    "parse_calendars",
]
