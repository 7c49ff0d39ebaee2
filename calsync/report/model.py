"""One manager's weekly cadence-health report, as plain values (pure: no I/O, no clock).

``build_manager_report`` turns the pairs' ``PairHealth`` (evaluated at the end
of the week), the calendars' sync status and the settings into a
``ManagerReport``; the templates only lay it out, and ``report_json`` is the
stable machine-readable form.

A flag says since when it has been open when the store recorded it: the
service passes the first-seen time of each finding that was open at the
evaluated instant (``since``); a flag calsync never recorded has none.

Make-ups come from the history (occurrences whose status is ``made_up``);
suggested slots are passed in by the service, which asks the rebooking
planner for pairs on ``rebook = "suggest"``. A row shows them only when it
has some.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from calsync.config import PairSettings, Person
from calsync.policies import Occurrence, PairHealth, PolicyParams, Status
from calsync.policies.health import missed, settled
from calsync.report.schedule import IsoWeek
from calsync.secrets import shown_calendar, stored_calendar
from calsync.timeutil import format_duration, iso

FORMAT_VERSION = 1


class CalendarStatusLike(Protocol):
    """What the report needs of ``calsync.store.CalendarStatus``."""

    provider: str
    calendar: str
    owner: str
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


# -- the strip ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CellKind:
    key: str
    glyph: str  # for the plain-text part and inside the coloured cell
    colour: str  # background of the HTML cell
    ink: str  # glyph colour on that background
    legend: str


CELL_KINDS: dict[str, CellKind] = {
    kind.key: kind
    for kind in (
        CellKind("held", "✓", "#2f9e44", "#ffffff", "held"),
        CellKind("made_up", "◆", "#1c7ed6", "#ffffff", "made up"),
        CellKind("shortened", "◐", "#f59f00", "#ffffff", "shortened"),
        CellKind("moved", "↷", "#8ce99a", "#1b5e20", "moved within its period"),
        CellKind("moved_out", "⇢", "#ff922b", "#ffffff", "moved out of its period"),
        CellKind("cancelled", "✕", "#e03131", "#ffffff", "cancelled"),
        CellKind("declined", "⊘", "#ae3ec9", "#ffffff", "declined"),
        CellKind("missed", "○", "#495057", "#ffffff", "nothing on the calendar"),
        CellKind("upcoming", "·", "#ffffff", "#868e96", "upcoming"),
        CellKind("excused", "–", "#dee2e6", "#495057", "excused: someone was away"),
    )
}


@dataclass(frozen=True, slots=True)
class StripCell:
    kind: str  # a CELL_KINDS key
    start: datetime  # when it took (or takes) place, UTC
    original_start: datetime  # the regular time its period is keyed by, UTC
    note: str  # "Wed 4 Nov 10:00: cancelled by you", in the manager's zone

    @property
    def style(self) -> CellKind:
        return CELL_KINDS[self.kind]


# -- rows -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str
    severity: str  # info | warning | critical
    text: str  # plain words, addressed to the manager ("cancelled twice by you")
    since: datetime | None = None  # first seen by an evaluation; None: never recorded


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ReportRow:
    report: str
    name: str
    cadence: str
    duration: str  # the agreed length, "30m"
    status: str  # critical | warning | ok: the worst finding (info counts as ok)
    adherence_4: float | None
    adherence_12: float | None
    strip: tuple[StripCell, ...]
    last_held: datetime | None
    days_since_held: int | None  # whole days, in the manager's calendar
    next_start: datetime | None
    flags: tuple[Flag, ...]
    advice: str | None  # the one thing to do about it
    # Make-ups booked for this period and the last; slots proposed (rebook = "suggest").
    made_up: tuple[Slot, ...] = ()
    suggested: tuple[Slot, ...] = ()
    # The pair's calsync page ([web] public_url) and what waits there.
    page_url: str | None = None
    topics_waiting: int = 0
    actions_open: int = 0
    oldest_action_days: int | None = None  # how long the oldest open action item is open
    # Leave that excused a 1:1 instead of flagging it: "Ana away 16–27 Nov".
    away: tuple[str, ...] = ()

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


@dataclass(frozen=True, slots=True)
class WeekCounts:
    """The expected 1:1s of the week (keyed by their regular time), by outcome."""

    expected: int = 0
    held: int = 0  # kept in their period: held, shortened, or moved within it
    cancelled: int = 0
    excused: int = 0  # fell while someone was away: not expected, not counted
    declined: int = 0
    missed: int = 0  # nothing on the calendar, or moved out of the period
    upcoming: int = 0  # not settled yet (a report asked for before the week ended)
    cancelled_by_you: int = 0  # cancelled or declined by the manager
    made_up: int | None = None  # None only where no week was counted


@dataclass(frozen=True, slots=True)
class BumpCause:
    label: str  # "cancelled by you"
    count: int
    colour: str


@dataclass(frozen=True, slots=True)
class FairnessRow:
    report: str
    name: str
    bumps: int
    causes: tuple[BumpCause, ...]
    window: str  # "last 12 weeks"


@dataclass(frozen=True, slots=True)
class CalendarProblem:
    owner: str
    name: str
    provider: str
    calendar: str
    error: str
    failing_since: datetime | None
    last_synced_at: datetime | None


@dataclass(frozen=True, slots=True)
class ManagerReport:
    manager: str
    manager_name: str
    timezone: str
    week: IsoWeek
    as_of: datetime  # the instant evaluated at: the end of the week, or earlier
    complete: bool  # the week was over at as_of
    counts: WeekCounts
    rows: tuple[ReportRow, ...]  # most urgent first
    fairness: tuple[FairnessRow, ...]  # most bumped first; only reports bumped at least once
    calendar_problems: tuple[CalendarProblem, ...]
    calendars_ok: int
    generated_at: datetime
    pairs_total: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def needs_attention(self) -> tuple[ReportRow, ...]:
        return tuple(row for row in self.rows if row.status != "ok")

    @property
    def first_name(self) -> str:
        return self.manager_name.split()[0] if self.manager_name.split() else self.manager_name


# -- building -------------------------------------------------------------------

_RANK = {"critical": 0, "warning": 1, "ok": 2}


def build_manager_report(
    manager: Person,
    people: Mapping[str, Person],
    pairs: Sequence[PairSettings],
    healths: Sequence[PairHealth],
    calendars: Iterable[CalendarStatusLike],
    *,
    week: IsoWeek,
    as_of: datetime,
    policy: PolicyParams,
    generated_at: datetime,
    suggestions: Mapping[str, Sequence[tuple[datetime, datetime]]] | None = None,
    since: Mapping[tuple[str, str], datetime] | None = None,
) -> ManagerReport:
    """The report for ``manager``: only their own pairs, whatever else is passed in.

    ``since``: (report, finding kind) -> when that flag was first seen.
    """
    zone = manager.zone
    settings_of = {pair.report: pair for pair in pairs if pair.manager == manager.email}
    mine = [h for h in healths if h.manager == manager.email and h.report in settings_of]
    week_start, week_end = week.bounds(zone)

    rows = []
    for health in mine:
        report = people[health.report]
        opened = {kind: at for (who, kind), at in (since or {}).items() if who == health.report}
        row = _row(
            health, report, settings_of[health.report], manager, policy, as_of, zone, opened
        )
        slots = (suggestions or {}).get(health.report, ())
        rows.append(replace(
            row,
            made_up=_made_up(health, as_of),
            suggested=tuple(Slot(start, end) for start, end in slots),
        ))
    rows.sort(key=lambda row: (_RANK[row.status], row.name.lower()))

    team = {manager.email, *settings_of}
    problems, ok = _calendar_problems(calendars, team, people)
    return ManagerReport(
        manager=manager.email,
        manager_name=manager.display,
        timezone=manager.timezone,
        week=week,
        as_of=as_of,
        complete=as_of >= week_end,
        counts=_week_counts(mine, manager.email, week_start, week_end, as_of),
        rows=tuple(rows),
        fairness=_fairness(mine, people, manager.email, policy, as_of),
        calendar_problems=problems,
        calendars_ok=ok,
        generated_at=generated_at,
        pairs_total=len(rows),
    )


def _kind(occurrence: Occurrence, as_of: datetime) -> str:
    if occurrence.status is Status.UPCOMING or (
        occurrence.start >= as_of and occurrence.status in (Status.MOVED, Status.HELD)
    ):
        return "upcoming"
    if occurrence.status is Status.MOVED:
        return "moved_out" if occurrence.in_window is False else "moved"
    return occurrence.status.value


def _when(instant: datetime, zone: ZoneInfo, with_time: bool = True) -> str:
    local = instant.astimezone(zone)
    day = f"{local:%a} {local.day} {local:%b}"
    return f"{day} {local:%H:%M}" if with_time else day


def _who(email: str | None, manager: str, report: Person) -> str:
    if email == manager:
        return "you"
    if email == report.email:
        return report.display.split()[0] if report.display.split() else report.display
    return "someone else" if email is None else email


def _note(occurrence: Occurrence, kind: str, manager: str, report: Person, zone: ZoneInfo) -> str:
    when = _when(occurrence.start, zone)
    if kind in ("cancelled", "declined"):
        return f"{when}: {kind} by {_who(occurrence.by, manager, report)}"
    if kind in ("moved", "moved_out"):
        return f"{when}: {CELL_KINDS[kind].legend} (was {_when(occurrence.original_start, zone)})"
    if kind == "shortened":
        return f"{when}: shortened to {occurrence.minutes} min"
    if kind == "excused":
        return f"{when}: excused, {occurrence.reason}" if occurrence.reason else \
            f"{when}: excused"
    return f"{when}: {CELL_KINDS[kind].legend}"


def _strip(
    health: PairHealth, manager: str, report: Person, as_of: datetime, zone: ZoneInfo
) -> tuple[StripCell, ...]:
    past = [o for o in health.occurrences if o.original_start < as_of]
    cells = []
    for occurrence in past[-12:]:
        kind = _kind(occurrence, as_of)
        cells.append(
            StripCell(
                kind,
                occurrence.start,
                occurrence.original_start,
                _note(occurrence, kind, manager, report, zone),
            )
        )
    ahead = [
        o
        for o in health.occurrences
        if o.original_start >= as_of and _kind(o, as_of) == "upcoming" and not missed(o)
    ]
    if ahead:
        nxt = ahead[0]
        cells.append(
            StripCell("upcoming", nxt.start, nxt.original_start,
                      _note(nxt, "upcoming", manager, report, zone))
        )
    return tuple(cells)


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _reasons(occurrences: Sequence[Occurrence], manager: str, report: Person) -> str:
    """'cancelled twice by you, declined once by Lena' (most frequent first)."""
    counts: Counter[tuple[str, str]] = Counter()
    for occurrence in occurrences:
        if occurrence.status in (Status.CANCELLED, Status.DECLINED):
            counts[(occurrence.status.value, _who(occurrence.by, manager, report))] += 1
        elif occurrence.status is Status.MOVED:
            counts[("moved", "")] += 1
        else:
            counts[("missed", "")] += 1
    parts = []
    for (what, who), count in counts.most_common():
        if what == "moved":
            parts.append(f"{count} moved out of {'its' if count == 1 else 'their'} period")
        elif what == "missed":
            parts.append(f"{count} with nothing on the calendar")
        else:
            parts.append(f"{what} {_times(count)} by {who}")
    return ", ".join(parts)


def _flag_text(
    kind: str,
    message: str,
    evidence: tuple[datetime, ...],
    health: PairHealth,
    manager: str,
    report: Person,
    policy: PolicyParams,
    as_of: datetime,
    zone: ZoneInfo,
    with_reasons: bool,
) -> str:
    by_start = {o.original_start: o for o in health.occurrences}
    cited = [by_start[e] for e in evidence if e in by_start]
    complete = len(cited) == len(evidence) and cited
    name = report.display
    if kind == "repeated_cancellations" and complete:
        recent = settled(health.occurrences, as_of)[-policy.cancel_n :]
        return (
            f"{len(cited)} of the last {len(recent)} 1:1s did not happen: "
            f"{_reasons(cited, manager, report)}."
        )
    if kind == "cancellation_streak" and complete:
        text = (
            f"The last {len(cited)} in a row did not happen, "
            f"since {_when(cited[0].original_start, zone, with_time=False)}"
        )
        if with_reasons:
            text += f" ({_reasons(cited, manager, report)})"
        return text + "."
    if kind == "cadence_gap" and health.last_held is not None:
        days = (as_of - health.last_held).days
        span = f"{days // 7} weeks" if days >= 14 else f"{days} days"
        return (
            f"No 1:1 for {span}: the last was {_when(health.last_held, zone, with_time=False)}, "
            f"and the agreed cadence is {health.cadence.label}."
        )
    if kind == "no_series":
        return f"No recurring 1:1 with {name} is on either calendar."
    return message


def _advice(row_flags: Sequence[Flag], health: PairHealth, pair: PairSettings,
            report: Person, manager: str, as_of: datetime) -> str | None:
    kinds = {flag.kind for flag in row_flags}
    first = report.display.split()[0] if report.display.split() else report.display
    length = format_duration(pair.duration)
    if "no_series" in kinds:
        if health.proposal is not None and pair.setup == "auto":
            return (f"calsync is setting up a recurring {health.cadence.label} {length} 1:1 "
                    f"with {first}: {health.proposal.text}.")
        if health.proposal is not None:
            return (f"Set up a recurring {health.cadence.label} {length} 1:1 with {first}. "
                    f"Proposed: {health.proposal.text}.")
        return f"Set up a recurring {health.cadence.label} {length} 1:1 with {first}."
    if "no_upcoming" in kinds:
        return f"Book the next 1:1 with {first}: nothing is on the calendar."
    if kinds & {"repeated_cancellations", "cancellation_streak", "cadence_gap"}:
        recent = [o for o in settled(health.occurrences, as_of)[-4:] if missed(o)]
        mine = sum(1 for o in recent if o.by == manager)
        if "cadence_gap" in kinds and recent and mine * 2 < len(recent):
            return f"Meet {first} this week, and ask whether the slot still works for them."
        if mine:
            return "Protect this slot: move the 1:1 within its week rather than cancel it."
        return f"Meet {first} this week, and ask whether the slot still works for them."
    if "chronic_shortening" in kinds:
        return (
            f"Keep the full {length}, or agree with {first} on a shorter standing slot "
            f"(at least {format_duration(pair.min_duration)})."
        )
    if "cadence_mismatch" in kinds:
        return f"Make the calendar series repeat {health.cadence.label}, as agreed."
    return None


def _row(
    health: PairHealth,
    report: Person,
    pair: PairSettings,
    manager: Person,
    policy: PolicyParams,
    as_of: datetime,
    zone: ZoneInfo,
    since: Mapping[str, datetime],
) -> ReportRow:
    kinds = {f.kind for f in health.findings}
    flags = []
    for finding in health.findings:
        with_reasons = not (
            finding.kind == "cancellation_streak" and "repeated_cancellations" in kinds
        )
        text = _flag_text(
            finding.kind, finding.message, finding.evidence, health, manager.email, report,
            policy, as_of, zone, with_reasons,
        )
        flags.append(Flag(finding.kind, finding.severity, text, since.get(finding.kind)))
    severities = {f.severity for f in flags}
    status = "critical" if "critical" in severities else "warning" if "warning" in severities \
        else "ok"
    days = None
    if health.last_held is not None:
        days = (as_of.astimezone(zone).date() - health.last_held.astimezone(zone).date()).days
    return ReportRow(
        report=report.email,
        name=report.display,
        cadence=health.cadence.label,
        duration=format_duration(pair.duration),
        status=status,
        adherence_4=health.adherence_4,
        adherence_12=health.adherence_12,
        strip=_strip(health, manager.email, report, as_of, zone),
        last_held=health.last_held,
        days_since_held=days,
        next_start=health.next_start,
        flags=tuple(flags),
        advice=_advice(flags, health, pair, report, manager.email, as_of),
        away=health.away,
    )


def _made_up(health: PairHealth, as_of: datetime) -> tuple[Slot, ...]:
    """Make-ups calsync booked for this period and the last one."""
    recent = as_of - health.cadence.period * 2
    return tuple(
        Slot(o.start, o.end)
        for o in health.occurrences
        if o.status is Status.MADE_UP and o.original_start >= recent
    )


def _week_counts(
    healths: Sequence[PairHealth], manager: str, start: datetime, end: datetime, as_of: datetime
) -> WeekCounts:
    values: Counter[str] = Counter()
    for health in healths:
        for occurrence in health.occurrences:
            if not start <= occurrence.original_start < end:
                continue
            if occurrence.status is Status.EXCUSED:
                values["excused"] += 1
                continue
            values["expected"] += 1
            kind = _kind(occurrence, as_of)
            if occurrence.status is Status.MADE_UP and occurrence.end <= as_of:
                values["made_up"] += 1
            elif kind == "upcoming" or (not missed(occurrence) and occurrence.end > as_of):
                values["upcoming"] += 1
            elif occurrence.kept:
                values["held"] += 1
            elif occurrence.status is Status.CANCELLED:
                values["cancelled"] += 1
            elif occurrence.status is Status.DECLINED:
                values["declined"] += 1
            else:
                values["missed"] += 1
            bumped = occurrence.status in (Status.CANCELLED, Status.DECLINED, Status.MADE_UP)
            if bumped and occurrence.by == manager:
                values["cancelled_by_you"] += 1
    # Make-ups are tracked now that calsync books them: 0 is a real figure.
    values.setdefault("made_up", 0)
    return WeekCounts(**values)


_CAUSE_COLOURS = {
    ("cancelled", True): "#e03131",
    ("declined", True): "#ae3ec9",
    ("cancelled", False): "#ff8787",
    ("declined", False): "#da77f2",
}


def _fairness(
    healths: Sequence[PairHealth],
    people: Mapping[str, Person],
    manager: str,
    policy: PolicyParams,
    as_of: datetime,
) -> tuple[FairnessRow, ...]:
    rows = []
    for health in healths:
        report = people[health.report]
        causes: Counter[tuple[str, bool, str]] = Counter()
        for occurrence in settled(health.occurrences, as_of):
            if occurrence.status not in (Status.CANCELLED, Status.DECLINED) or not occurrence.by:
                continue
            who = _who(occurrence.by, manager, report)
            causes[(occurrence.status.value, occurrence.by == manager, who)] += 1
        total = sum(causes.values())
        if not total:
            continue
        ordered = sorted(causes.items(), key=lambda item: (not item[0][1], -item[1], item[0][0]))
        rows.append(
            FairnessRow(
                report=report.email,
                name=report.display,
                bumps=total,
                causes=tuple(
                    BumpCause(f"{status} by {who}", count, _CAUSE_COLOURS[(status, by_you)])
                    for (status, by_you, who), count in ordered
                ),
                window=_window(health, policy),
            )
        )
    rows.sort(key=lambda row: (-row.bumps, row.name.lower()))
    return tuple(rows)


def _window(health: PairHealth, policy: PolicyParams) -> str:
    periods = policy.horizon_periods
    if health.cadence.monthly:
        return f"last {periods} months"
    return f"last {periods * health.cadence.weeks} weeks"


def _calendar_problems(
    calendars: Iterable[CalendarStatusLike], team: set[str], people: Mapping[str, Person]
) -> tuple[tuple[CalendarProblem, ...], int]:
    """The team's configured calendars whose last sync failed, or that were never synced.

    Only the calendar each person is configured with counts (a calendar the
    store still knows from an older config is not this team's problem).
    """
    configured = {
        (person.provider, stored_calendar(person.calendar_id)): person
        for email in team
        if (person := people.get(email)) is not None
    }
    problems = []
    ok = 0
    seen: set[tuple[str, str]] = set()
    for status in calendars:
        key = (status.provider, status.calendar)
        person = configured.get(key)
        if person is None or person.email != status.owner:
            continue
        seen.add(key)
        if status.last_error:
            problems.append(
                CalendarProblem(
                    owner=status.owner,
                    name=person.display,
                    provider=status.provider,
                    calendar=shown_calendar(person.calendar_id),
                    error=status.last_error,
                    failing_since=status.last_error_at,
                    last_synced_at=status.last_synced_at,
                )
            )
        elif status.last_synced_at is not None:
            ok += 1
        else:
            problems.append(
                CalendarProblem(status.owner, person.display, status.provider,
                                shown_calendar(person.calendar_id), _NEVER_SYNCED, None, None)
            )
    for (provider, calendar), person in configured.items():
        if (provider, calendar) not in seen:
            problems.append(
                CalendarProblem(person.email, person.display, provider,
                                shown_calendar(person.calendar_id), _NEVER_SYNCED, None, None)
            )
    problems.sort(key=lambda p: (p.name.lower(), p.calendar))
    return tuple(problems), ok


_NEVER_SYNCED = "never synced: calsync has not read this calendar yet"


# -- JSON -----------------------------------------------------------------------


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _slot(slot: Slot) -> dict[str, Any]:
    return {"start": iso(slot.start), "end": iso(slot.end)}


def report_json(report: ManagerReport) -> dict[str, Any]:
    """One manager's report in the stable ``report --json`` form (README)."""
    counts = report.counts
    return {
        "manager": report.manager,
        "manager_name": report.manager_name,
        "timezone": report.timezone,
        "week": str(report.week),
        "week_start": report.week.monday.isoformat(),
        "week_end": report.week.sunday.isoformat(),
        "as_of": iso(report.as_of),
        "complete": report.complete,
        "counts": {
            "expected": counts.expected,
            "held": counts.held,
            "cancelled": counts.cancelled,
            "declined": counts.declined,
            "missed": counts.missed,
            "upcoming": counts.upcoming,
            "by_you": counts.cancelled_by_you,
            "made_up": counts.made_up,
            **({"excused": counts.excused} if counts.excused else {}),
            "pairs": report.pairs_total,
            "need_attention": len(report.needs_attention),
        },
        "reports": [
            {
                "report": row.report,
                "name": row.name,
                "cadence": row.cadence,
                "duration": row.duration,
                "status": row.status,
                "adherence": {"last_4": _ratio(row.adherence_4),
                              "last_12": _ratio(row.adherence_12)},
                "strip": [
                    {"kind": cell.kind, "start": iso(cell.start),
                     "original_start": iso(cell.original_start), "note": cell.note}
                    for cell in row.strip
                ],
                "last_held": iso(row.last_held),
                "days_since_held": row.days_since_held,
                "next": iso(row.next_start),
                "flags": [
                    {"kind": f.kind, "severity": f.severity, "text": f.text,
                     "since": iso(f.since)}
                    for f in row.flags
                ],
                "advice": row.advice,
                **({"away": list(row.away)} if row.away else {}),
                "made_up": [_slot(s) for s in row.made_up],
                "suggested": [_slot(s) for s in row.suggested],
            }
            for row in report.rows
        ],
        "fairness": [
            {
                "report": row.report,
                "name": row.name,
                "bumps": row.bumps,
                "window": row.window,
                "causes": [{"label": c.label, "count": c.count} for c in row.causes],
            }
            for row in report.fairness
        ],
        "calendar_problems": [
            {
                "owner": p.owner,
                "provider": p.provider,
                "calendar": p.calendar,
                "error": p.error,
                "failing_since": iso(p.failing_since),
                "last_synced_at": iso(p.last_synced_at),
            }
            for p in report.calendar_problems
        ],
    }


def reports_document(reports: Sequence[ManagerReport], generated_at: datetime) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "generated_at": iso(generated_at),
        "reports": [report_json(r) for r in reports],
    }
