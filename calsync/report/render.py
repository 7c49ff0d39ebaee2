"""Lay a ``ManagerReport`` out as an email: subject, HTML part, plain-text part.

The templates live in ``templates/`` (Jinja2). The HTML part is built for
mail clients, not browsers: nested tables, inline styles, ``bgcolor``
attributes for Outlook, no scripts, no external images, no web fonts. The
plain-text part carries the same facts. Every time is shown in the
manager's zone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from calsync.report.model import CELL_KINDS, ManagerReport, ReportRow

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREVIEW_FROM = "calsync <calsync@localhost>"

SEVERITY_COLOURS = {"critical": "#e03131", "warning": "#f08c00", "info": "#1c7ed6", "ok": "#2f9e44"}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = pct
    env.filters["pct_colour"] = pct_colour
    env.filters["ago"] = ago
    env.globals["CELL_KINDS"] = CELL_KINDS
    env.globals["SEVERITY_COLOURS"] = SEVERITY_COLOURS
    env.globals["text_strip"] = text_strip
    return env


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def pct_colour(value: float | None) -> str:
    if value is None:
        return "#868e96"
    return "#2f9e44" if value >= 0.75 else "#f08c00" if value >= 0.5 else "#e03131"


def ago(days: int | None) -> str:
    if days is None:
        return "never"
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{days} days ago"


class _Clock:
    """Formats instants in the manager's zone, for the templates."""

    def __init__(self, report: ManagerReport) -> None:
        self.zone = report.zone

    def when(self, instant: datetime | None) -> str:
        if instant is None:
            return "none"
        local = instant.astimezone(self.zone)
        return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"

    def day(self, instant: datetime | None) -> str:
        if instant is None:
            return "none"
        local = instant.astimezone(self.zone)
        return f"{local:%a} {local.day} {local:%b}"

    def zone_abbr(self, instant: datetime) -> str:
        return instant.astimezone(self.zone).tzname() or str(self.zone)


def headline(report: ManagerReport) -> str:
    attention = len(report.needs_attention)
    total = report.pairs_total
    if not total:
        return "No 1:1 pairs are configured for you."
    if attention == 0:
        return f"All {total} of your 1:1s are on track."
    noun = "1:1 needs" if attention == 1 else "1:1s need"
    return f"{attention} of your {total} {noun} attention."


def counts_line(report: ManagerReport) -> str:
    """'5 expected · 2 held · 2 cancelled · 1 declined · 1 missed'."""
    counts = report.counts
    parts = [f"{counts.expected} expected", f"{counts.held} held"]
    if counts.made_up is not None:
        parts.append(f"{counts.made_up} made up")
    parts.append(f"{counts.cancelled} cancelled")
    if counts.declined:
        parts.append(f"{counts.declined} declined")
    if counts.missed:
        parts.append(f"{counts.missed} with nothing on the calendar")
    if counts.upcoming:
        parts.append(f"{counts.upcoming} still to come")
    if counts.excused:
        parts.append(f"{counts.excused} excused (someone away)")
    return " · ".join(parts)


def subject(report: ManagerReport) -> str:
    """The key counts: '1:1s 16–22 Nov: 2 of 5 held, 3 cancelled or declined · 4 need attention'."""
    counts = report.counts
    first, last = report.week.monday, report.week.sunday
    span = (
        f"{first.day}–{last.day} {last:%b}"
        if first.month == last.month
        else f"{first.day} {first:%b} – {last.day} {last:%b}"
    )
    if counts.expected:
        held = f"{counts.held} of {counts.expected} held"
        bumped = counts.cancelled + counts.declined
        if bumped:
            held += f", {bumped} cancelled" if not counts.declined else \
                f", {bumped} cancelled or declined"
    else:
        held = "no 1:1s were due"
    if counts.excused:
        held += f" ({counts.excused} excused: someone away)"
    attention = len(report.needs_attention)
    tail = f"{attention} need{'s' if attention == 1 else ''} attention" if attention else \
        "all on track"
    return f"1:1s {span}: {held} · {tail}"


def _context(report: ManagerReport) -> dict[str, object]:
    clock = _Clock(report)
    max_bumps = max((row.bumps for row in report.fairness), default=0)
    return {
        "r": report,
        "clock": clock,
        "subject": subject(report),
        "headline": headline(report),
        "counts_line": counts_line(report),
        "max_bumps": max_bumps,
        "attention": report.needs_attention,
        "on_track": tuple(row for row in report.rows if row.status == "ok"),
        "legend": [CELL_KINDS[k] for k in _legend_kinds(report)],
    }


def _legend_kinds(report: ManagerReport) -> list[str]:
    """Every kind, in a fixed order; 'made up' only once make-ups can exist, 'excused' if shown."""
    shown = {cell.kind for row in report.rows for cell in row.strip}
    kinds = [k for k in CELL_KINDS if k != "made_up" and (k != "excused" or k in shown)]
    if report.counts.made_up is not None or any(
        cell.kind == "made_up" for row in report.rows for cell in row.strip
    ):
        kinds.insert(1, "made_up")
    return kinds


def render_html(report: ManagerReport) -> str:
    html = environment().get_template("weekly.html.j2").render(**_context(report))
    # Template indentation is for people; mail clients clip large messages (Gmail ~100 KB).
    return "\n".join(line.strip() for line in html.splitlines() if line.strip()) + "\n"


def render_text(report: ManagerReport) -> str:
    return environment().get_template("weekly.txt.j2").render(**_context(report))


def text_strip(row: ReportRow) -> str:
    past = "".join(c.style.glyph for c in row.strip if c.kind != "upcoming")
    upcoming = "".join(c.style.glyph for c in row.strip if c.kind == "upcoming")
    return f"{past} | {upcoming}" if upcoming else past


def message_id(manager: str, week: str, sender: str) -> str:
    """The same Message-ID for the same (manager, week): a resend is recognisably the same mail."""
    digest = hashlib.sha256(f"{manager}\n{week}".encode()).hexdigest()[:24]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "calsync.invalid"
    return f"<calsync-weekly.{week}.{digest}@{domain}>"


def build_message(report: ManagerReport, sender: str | None) -> EmailMessage:
    """The email for one manager: To is that manager only; text and HTML alternatives."""
    sender = sender or PREVIEW_FROM
    message = EmailMessage()
    message["Subject"] = subject(report)
    message["From"] = sender
    local, _, domain = report.manager.partition("@")
    message["To"] = Address(report.manager_name, local, domain)
    message["Date"] = format_datetime(report.generated_at)
    message["Message-ID"] = message_id(report.manager, str(report.week), sender)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Calsync-Week"] = str(report.week)
    message.set_content(render_text(report))
    message.add_alternative(render_html(report), subtype="html")
    return message
