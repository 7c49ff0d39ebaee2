"""The stable machine-readable form of ``calsync check --json`` (documented in README)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calsync.config import Settings
from calsync.policies import Occurrence, PairHealth, fairness
from calsync.sync import CalendarResult
from calsync.timeutil import iso

FORMAT_VERSION = 1


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
    }


def pair_json(settings: Settings, health: PairHealth) -> dict[str, Any]:
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
            for f in health.findings
        ],
        "next": iso(health.next_start),
        "last_held": iso(health.last_held),
        "bumped_by": dict(sorted(health.bumped_by.items())),
    }


def check_document(
    settings: Settings,
    healths: Sequence[PairHealth],
    calendars: Sequence[CalendarResult],
    now: datetime,
) -> dict[str, Any]:
    ranked = fairness(healths)
    return {
        "format": FORMAT_VERSION,
        "generated_at": iso(now),
        "pairs": [pair_json(settings, h) for h in healths],
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
                "calendar": c.calendar,
                "owner": c.owner,
                "ok": c.ok,
                "error": c.message or None,
                "warnings": list(c.warnings),
            }
            for c in calendars
        ],
    }
