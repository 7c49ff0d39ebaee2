"""The human form of ``calsync check``: one rich table row per pair."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from calsync.config import Settings
from calsync.engine.directory import EndedHistory, display_name
from calsync.engine.plan import PairPlan
from calsync.engine.sync import CalendarResult
from calsync.policies import Occurrence, PairHealth, Status

# One glyph per period, so a manager can read the last twelve weeks at a glance.
GLYPHS: dict[Status, tuple[str, str]] = {
    Status.HELD: ("●", "green"),
    Status.SHORTENED: ("◐", "yellow"),
    Status.MOVED: ("↷", "green"),
    Status.MADE_UP: ("◆", "green"),
    Status.CANCELLED: ("✕", "red"),
    Status.DECLINED: ("⊘", "magenta"),
    Status.MISSED: ("○", "red"),
    Status.UPCOMING: ("·", "dim"),
    Status.EXCUSED: ("–", "cyan"),
}

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def strip(occurrences: Sequence[Occurrence], now: datetime, periods: int = 12) -> Text:
    past = [o for o in occurrences if o.original_start < now][-periods:]
    text = Text()
    for occurrence in past:
        glyph, style = GLYPHS[occurrence.status]
        if occurrence.status is Status.MOVED and occurrence.in_window is False:
            style = "red"
        text.append(glyph, style=style)
    return text


def _percent(value: float | None) -> Text:
    if value is None:
        return Text("–", style="dim")
    style = "green" if value >= 0.75 else "yellow" if value >= 0.5 else "bold red"
    return Text(f"{value:.0%}", style=style)


def _local(instant: datetime | None, zone: ZoneInfo, now: datetime) -> Text:
    if instant is None:
        return Text("none", style="bold red")
    local = instant.astimezone(zone)
    days = (instant - now).days
    when = f"{local:%a} {local.day} {local:%b} {local:%H:%M}"
    if days < 0:
        return Text(f"{when} ({-days}d ago)")
    return Text(when)


def health_table(
    settings: Settings,
    healths: Sequence[PairHealth],
    now: datetime,
    plans: Sequence[PairPlan] = (),
    ended: Sequence[EndedHistory] = (),
) -> Table:
    by_pair = {(p.manager, p.report): p for p in plans}
    table = Table(title=f"1:1 health as of {now:%Y-%m-%d %H:%M} UTC", show_lines=True)
    table.add_column("Pair", no_wrap=True)
    table.add_column("Cadence", no_wrap=True)
    table.add_column("Last 4", justify="right", no_wrap=True)
    table.add_column("Last 12", justify="right", no_wrap=True)
    table.add_column("Last 12 periods", no_wrap=True)
    table.add_column("Last held")
    table.add_column("Next")
    table.add_column("Needs attention", ratio=1)
    for health in healths:
        manager = settings.person(health.manager)
        report = settings.person(health.report)
        zone = manager.zone
        plan = by_pair.get((health.manager, health.report))
        findings = list(health.findings) + (plan.findings if plan else [])
        flags = Text()
        for index, finding in enumerate(findings):
            if index:
                flags.append("\n")
            flags.append(finding.message, style=SEVERITY_STYLE.get(finding.severity, ""))
        for note in health.away:
            # Leave instead of a flag: "Ana away 16–27 Nov".
            flags.append(("\n" if flags.plain else "") + note, style="cyan")
        if plan and plan.suggestions:
            slot = plan.suggestions[0]
            local = slot.start.astimezone(zone)
            flags.append(
                f"\nSuggested make-up: {local:%a} {local.day} {local:%b} {local:%H:%M}"
                f"{' (shortened)' if slot.shortened else ''}",
                style="bold cyan",
            )
        if not findings and not health.away and not (plan and plan.suggestions):
            flags.append("healthy", style="green")
        table.add_row(
            f"{manager.display} → {report.display}",
            health.cadence.label,
            _percent(health.adherence_4),
            _percent(health.adherence_12),
            strip(health.occurrences, now),
            _local(health.last_held, zone, now),
            _local(health.next_start, zone, now),
            flags,
        )
    for history in ended:
        pair = history.pair
        table.add_row(
            f"{display_name(settings, pair.manager)} → {display_name(settings, pair.report)}",
            Text("ended", style="dim"),
            Text("–", style="dim"),
            Text("–", style="dim"),
            strip(history.occurrences, now),
            Text("–", style="dim"),
            Text("–", style="dim"),
            Text(f"ended {pair.ended.isoformat()}" + (f": {pair.reason}" if pair.reason else ""),
                 style="dim"),
        )
    return table


def legend() -> Text:
    text = Text("Legend: ", style="dim")
    names = {
        Status.HELD: "held",
        Status.SHORTENED: "shortened",
        Status.MOVED: "moved (red: out of its period)",
        Status.MADE_UP: "made up",
        Status.CANCELLED: "cancelled",
        Status.DECLINED: "declined",
        Status.MISSED: "nothing on the calendar",
        Status.EXCUSED: "excused (someone away)",
    }
    for status, name in names.items():
        glyph, style = GLYPHS[status]
        text.append(glyph, style=style)
        text.append(f" {name}  ", style="dim")
    text.append("Times in each manager's zone.", style="dim")
    return text


def calendar_problems(results: Sequence[CalendarResult]) -> Text | None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    text = Text("Calendars that could not be synced:\n", style="bold red")
    for result in failed:
        text.append(f"  {result.owner} ({result.provider}): {result.message}\n", style="red")
    return text


def render_check(
    console: Console,
    settings: Settings,
    healths: Sequence[PairHealth],
    results: Sequence[CalendarResult],
    now: datetime,
    plans: Sequence[PairPlan] = (),
    ended: Sequence[EndedHistory] = (),
) -> None:
    parts: list[Table | Text] = [health_table(settings, healths, now, plans, ended), legend()]
    problems = calendar_problems(results)
    if problems is not None:
        parts.append(problems)
    console.print(Group(*parts))
