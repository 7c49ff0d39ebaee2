"""A pair with no 1:1 series: propose a recurring slot, and with ``setup = "auto"`` book it.

The proposal (policies.recurring_slot) is computed where the pair is
evaluated and travels on :class:`PairHealth` (``proposal``) and in the
``no_series`` finding's message, so ``check``, the weekly email and the pair's
page say the same thing. With ``setup = "auto"`` the planner queues one
:class:`CreateSeries` under the pair's series key: the outbox creates it once,
on the manager's calendar in the manager's zone, the report invited, owned
like a make-up (the key on the event) with the agenda link block in its
description. The next sync reads the series back and the pair is evaluated
normally from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from calsync.config import PairSettings, Settings
from calsync.engine.actions import CreateSeries, Queued, series_key
from calsync.model import AgendaBlock, Event
from calsync.policies import Finding, PairHealth
from calsync.policies.busy import busy_of
from calsync.policies.recurring_slot import SeriesRequest, no_proposal_text, propose_series
from calsync.policies.slots import Availability
from calsync.policies.types import SeriesProposal
from calsync.providers.base import NewEvent


def series_request(
    settings: Settings, pair: PairSettings, events_by_owner: Mapping[str, Sequence[Event]]
) -> SeriesRequest:
    """The search for ``pair``: the manager first (their zone is the series' zone)."""
    people = []
    for email in (pair.manager, pair.report):
        person = settings.person(email)
        busy, away = busy_of(events_by_owner.get(email, ()), email, set(), set())
        people.append(Availability(
            email=email, zone=person.zone, hours=person.hours,
            busy=tuple(busy), out_of_office=tuple(away), name=person.display,
        ))
    return SeriesRequest(people=tuple(people), duration=pair.duration, cadence=pair.cadence)


def with_proposal(
    settings: Settings,
    pair: PairSettings,
    events_by_owner: Mapping[str, Sequence[Event]],
    health: PairHealth,
    now: datetime,
) -> PairHealth:
    """``health`` with the recurring slot proposed for a pair that has no series.

    Unchanged for a pair with a series, or with ``setup = "off"``. The
    ``no_series`` finding's message says what is proposed (or why nothing
    fits), and its evidence is the proposed first start.
    """
    if health.series_uids or pair.setup == "off":
        return health
    request = series_request(settings, pair, events_by_owner)
    proposal = propose_series(request, now)
    findings = []
    for finding in health.findings:
        if finding.kind == "no_series":
            finding = _with_text(finding, proposal, request, pair)
        findings.append(finding)
    return replace(health, findings=tuple(findings), proposal=proposal)


def _with_text(finding: Finding, proposal: SeriesProposal | None, request: SeriesRequest,
               pair: PairSettings) -> Finding:
    if proposal is None:
        why = no_proposal_text(request)
        return replace(finding, message=f"{finding.message} calsync found {why}.")
    verb = "calsync books" if pair.setup == "auto" else "Propose"
    return replace(
        finding,
        message=f"{finding.message} {verb} {proposal.text}.",
        evidence=(proposal.first_start,),
    )


def series_title(settings: Settings, pair: PairSettings) -> str:
    """The series' title: reads as this pair's 1:1 (policies.series finds it by that)."""
    if pair.title:
        return pair.title
    manager, report = settings.person(pair.manager), settings.person(pair.report)
    return f"1:1 {manager.display} / {report.display}"


def series_rows(
    settings: Settings,
    pair: PairSettings,
    health: PairHealth,
    block: AgendaBlock | None,
) -> list[Queued]:
    """The series to create for an ``auto`` pair with no series and a proposal; else none."""
    proposal = health.proposal
    if pair.setup != "auto" or health.series_uids or proposal is None:
        return []
    manager = settings.person(pair.manager)
    event = NewEvent(
        title=series_title(settings, pair),
        start=proposal.first_start,
        end=proposal.first_start + proposal.duration,
        organizer=pair.manager,
        attendees=(pair.manager, pair.report),
        description=block.text if block else "",
        timezone=proposal.zone,
        tags={"pair": pair.key, "series": "setup"},
        recurrence=(proposal.rrule,),
    )
    why = f"the pair had no recurring 1:1: {proposal.text}"
    action = CreateSeries(manager.provider, manager.calendar_id, event, why)
    return [Queued(series_key(pair.key), action)]
