"""The stable machine-readable form of ``calsync check --json`` (documented in README)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calsync.config import Settings
from calsync.engine.directory import EndedHistory, display_name
from calsync.engine.plan import PairPlan
from calsync.engine.sync import CalendarResult
from calsync.policies import Occurrence, PairHealth, Status, fairness
from calsync.policies.types import SeriesProposal
from calsync.secrets import shown_calendar
from calsync.timeutil import iso

FORMAT_VERSION = 1
HELD_STATUSES = (Status.HELD, Status.SHORTENED, Status.MOVED, Status.MADE_UP)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def occurrence_json(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "start": iso(occurrence.start),
        "end": iso(occurrence.end),
        "status": occurrence.status.value,
        "original_start": iso(occurrence.original_start) if occurrence.moved else None,
        "by": occurrence.by,
        "in_window": occurrence.in_window,
        "minutes": occurrence.minutes,
        # Only on an excused 1:1: why ("Ana away (out of office)").
        **({"reason": occurrence.reason} if occurrence.reason else {}),
    }


def pair_json(
    settings: Settings, health: PairHealth, plan: PairPlan | None = None
) -> dict[str, Any]:
    findings = list(health.findings) + (plan.findings if plan else [])
    return {
        "manager": health.manager,
        "report": health.report,
        "manager_name": settings.person(health.manager).display,
        "report_name": settings.person(health.report).display,
        "cadence": health.cadence.label,
        "series": health.series_title,
        "adherence": {
            "last_4": _ratio(health.adherence_4),
            "last_12": _ratio(health.adherence_12),
        },
        "occurrences": [occurrence_json(o) for o in health.occurrences],
        "flags": [
            {
                "kind": f.kind,
                "severity": f.severity,
                "message": f.message,
                "evidence": [iso(e) for e in f.evidence],
            }
            for f in findings
        ],
        "next": iso(health.next_start),
        "last_held": iso(health.last_held),
        "bumped_by": dict(sorted(health.bumped_by.items())),
        **({"away": list(health.away)} if health.away else {}),
        "bumps": [
            {
                "original_start": iso(b.original_start),
                "reason": b.reason,
                "by": b.by,
                "detail": b.detail,
                "attempt": b.attempt,
            }
            for b in (plan.bumps if plan else [])
        ],
        "suggestions": [
            {"start": iso(s.start), "end": iso(s.end), "shortened": s.shortened,
             "reason": s.reason}
            for s in (plan.suggestions[:3] if plan else [])
        ],
        "proposal": proposal_json(health.proposal),
    }


def proposal_json(proposal: SeriesProposal | None) -> dict[str, Any] | None:
    """The recurring slot proposed to a pair with no series (None otherwise)."""
    if proposal is None:
        return None
    return {
        "weekday": _WEEKDAYS[proposal.weekday],
        "local_start": proposal.local_start.strftime("%H:%M"),
        "zone": proposal.zone,
        "minutes": int(proposal.duration.total_seconds() // 60),
        "cadence": proposal.cadence.label,
        "rrule": proposal.rrule,
        "first_start": iso(proposal.first_start),
        "free": proposal.free,
        "total": proposal.total,
        "conflicts": [iso(c) for c in proposal.conflicts],
        "text": proposal.text,
    }


def ended_json(settings: Settings, ended: EndedHistory) -> dict[str, Any]:
    """A pair the directory ended: its history, no flags, nothing next."""
    held = [o for o in ended.occurrences if o.status in HELD_STATUSES]
    return {
        "manager": ended.pair.manager,
        "report": ended.pair.report,
        "manager_name": display_name(settings, ended.pair.manager),
        "report_name": display_name(settings, ended.pair.report),
        "ended": ended.pair.ended.isoformat(),
        "ended_reason": ended.pair.reason,
        "occurrences": [occurrence_json(o) for o in ended.occurrences],
        "flags": [],
        "next": None,
        "last_held": iso(held[-1].start) if held else None,
    }


def check_document(
    settings: Settings,
    healths: Sequence[PairHealth],
    calendars: Sequence[CalendarResult],
    now: datetime,
    plans: Sequence[PairPlan] = (),
    ended: Sequence[EndedHistory] = (),
) -> dict[str, Any]:
    ranked = fairness(healths)
    by_pair = {(p.manager, p.report): p for p in plans}
    return {
        "format": FORMAT_VERSION,
        "generated_at": iso(now),
        # Ended pairs (from the directory) follow, marked by their "ended" date.
        "pairs": [pair_json(settings, h, by_pair.get((h.manager, h.report))) for h in healths]
        + [ended_json(settings, e) for e in ended],
        "fairness": [
            {
                "manager": manager,
                "reports": [
                    {"report": report, "bumps": total, "by": dict(sorted(by.items()))}
                    for report, total, by in rows
                ],
            }
            for manager, rows in ranked.items()
        ],
        "calendars": [
            {
                "provider": c.provider,
                "calendar": shown_calendar(c.calendar),
                "owner": c.owner,
                "ok": c.ok,
                "error": c.message or None,
                "warnings": list(c.warnings),
            }
            for c in calendars
        ],
    }
