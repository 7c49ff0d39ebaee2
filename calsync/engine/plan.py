"""Protecting the 1:1: plan make-ups and agenda blocks, and queue the writes.

For each pair: find bumps (policies.bumps), find slots from both people's busy
time (policies.slots), and per the pair's ``rebook`` setting suggest them or
queue the make-up in the outbox under its deterministic key; a pair with no
series gets its new series queued instead (engine.setup, ``setup = "auto"``).
The agenda block is queued for the pair's series and make-ups whenever it is
missing or stale.
Nothing here writes to a calendar: the outbox executor does, once per key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync.config import DaemonSettings, PairSettings, Settings
from calsync.engine.actions import (
    CreateMakeUp,
    CreateSeries,
    Queued,
    UpdateAgenda,
    audit_texts,
    encode,
)
from calsync.engine.away import away_of
from calsync.engine.evaluate import pair_params
from calsync.engine.setup import series_rows
from calsync.model import AgendaBlock, Event, EventStatus
from calsync.policies import Finding, PairHealth
from calsync.policies.agenda import agenda_block, page_url
from calsync.policies.away import away_days
from calsync.policies.bumps import (
    MAX_MAKEUP_ATTEMPTS,
    Bump,
    agenda_key,
    detect_bumps,
    makeup_key,
    managed_by_tool,
)
from calsync.policies.busy import busy_of
from calsync.policies.slots import Availability, Slot, SlotRequest, cadence_slot_window, find_slots
from calsync.policies.types import PairParams
from calsync.providers.base import CalendarReader, CalendarWriter, NewEvent
from calsync.secrets import shown_calendar
from calsync.store import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PairPlan:
    manager: str
    report: str
    rebook: str
    bumps: list[Bump] = field(default_factory=list)
    suggestions: list[Slot] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def gave_up_for_no_slot(self) -> bool:
        """calsync was to book a make-up itself and found no slot (a metric, a finding)."""
        return self.rebook == "auto" and any(f.kind == "no_slot" for f in self.findings)


def _organizer(events_by_owner: Mapping[str, Sequence[Event]], uids: Sequence[str],
               manager: str) -> str:
    for events in events_by_owner.values():
        for event in events:
            if event.is_series and event.uid in uids and event.organizer:
                return event.organizer
    return manager


def _next_regular(health: PairHealth, bump: Bump) -> datetime:
    later = [o.original_start for o in health.occurrences if o.original_start > bump.original_start]
    return min(later) if later else bump.original_start + health.cadence.period


def plan_pair(
    settings: Settings,
    pair: PairSettings,
    health: PairHealth,
    events_by_owner: Mapping[str, Sequence[Event]],
    now: datetime,
    *,
    page: str | None = None,
) -> tuple[PairPlan, list[Queued]]:
    """What to do for one pair: the plan, and the make-up to queue if there is one."""
    plan = PairPlan(pair.manager, pair.report, pair.rebook)
    rows: list[Queued] = []
    params = pair_params(settings, pair)
    if not health.series_uids:
        return plan, series_rows(settings, pair, health, _agenda_block(settings, params, page))
    if pair.rebook == "off":
        return plan, rows
    daemon: DaemonSettings = settings.daemon
    masters = [
        e for events in events_by_owner.values() for e in events
        if e.is_series and e.uid in health.series_uids
    ]
    tool = next((t for t in map(managed_by_tool, masters) if t), None)
    if tool:
        plan.findings.append(Finding(
            kind="managed_elsewhere",
            message=f"This 1:1 is managed by {tool}; calsync leaves its scheduling alone.",
            severity="info",
        ))
        return plan, rows
    plan.bumps = detect_bumps(
        health.occurrences, events_by_owner, params, now,
        lookback=daemon.rebook_lookback,
    )
    if not plan.bumps:
        return plan, rows
    bump = plan.bumps[-1]
    if bump.attempt > MAX_MAKEUP_ATTEMPTS:
        return plan, rows  # health reports makeup_bumped
    result = find_slots(slot_request(settings, params, health, events_by_owner, bump, now), now)
    plan.suggestions = list(result.slots)
    if result.finding is not None:
        plan.findings.append(result.finding)
    if pair.rebook != "auto" or not result.slots:
        return plan, rows
    rows.append(makeup_write(settings, params, health, events_by_owner, bump, result.slots[0],
                             page=page))
    return plan, rows


def makeup_write(
    settings: Settings,
    params: PairParams,
    health: PairHealth,
    events_by_owner: Mapping[str, Sequence[Event]],
    bump: Bump,
    slot: Slot,
    *,
    page: str | None = None,
    booked_by: str | None = None,
) -> Queued:
    """The make-up of ``bump`` at ``slot`` on the organizer's calendar, under its outbox key.

    The key depends on the pair, the bumped occurrence and the attempt only:
    whoever queues it (the daemon on ``rebook = "auto"``, a person choosing a
    suggested slot on the team page) and however often, it is written once.
    """
    organizer = _organizer(events_by_owner, health.series_uids, params.manager)
    person = settings.person(organizer)
    original_local = bump.original_start.astimezone(person.zone)
    key = makeup_key(params.key, bump.original_start, bump.attempt)
    block = _agenda_block(settings, params, page)
    event = NewEvent(
        title=(
            f"1:1 {params.manager_name} / {params.report_name} "
            f"(make-up for {original_local:%a} {original_local.day} {original_local:%b})"
        ),
        start=slot.start,
        end=slot.end,
        organizer=organizer,
        attendees=(params.manager, params.report),
        description=block.text if block else "",
        timezone=person.timezone,
        tags={
            "pair": params.key,
            "for": bump.original_start.isoformat(),
            "attempt": str(bump.attempt),
        },
    )
    who = f" by {bump.by}" if bump.by else ""
    why = (f"make-up for the 1:1 of {original_local:%a} {original_local.day} "
           f"{original_local:%b} ({bump.reason.replace('_', ' ')}{who}), attempt {bump.attempt}")
    if booked_by:
        why += f", chosen by {booked_by}"
    return Queued(key, CreateMakeUp(person.provider, person.calendar_id, event, why))


def slot_request(
    settings: Settings,
    params: PairParams,
    health: PairHealth,
    events_by_owner: Mapping[str, Sequence[Event]],
    bump: Bump,
    now: datetime,
) -> SlotRequest:
    skip_uids, skip_starts = set(health.series_uids), {bump.original_start}
    people = []
    leave = away_of(settings, events_by_owner, now, (params.manager, params.report))
    for email in (params.manager, params.report):
        person = settings.person(email)
        busy, away = busy_of(events_by_owner.get(email, ()), email, skip_uids, skip_starts)
        # The bumped time just proved not to work: never offer it back.
        busy.append((bump.start, bump.end))
        # No make-up goes into a day either person is away, not even its free hours.
        away.extend(away_days(leave[email], person.zone))
        people.append(Availability(
            email=email, zone=person.zone, hours=person.hours,
            busy=tuple(busy), out_of_office=tuple(away), name=person.display,
        ))
    start, end = cadence_slot_window(
        bump.original_start, _next_regular(health, bump), now, params.cadence
    )
    return SlotRequest(
        original_start=bump.original_start,
        duration=params.duration,
        min_duration=params.min_duration,
        window_start=start,
        window_end=end,
        people=tuple(people),
        buffer=settings.daemon.buffer,
        anchor_zone=ZoneInfo(params.manager_zone),
    )


def pair_page_url(settings: Settings, store: Store, manager: str, report: str,
                  now: datetime) -> str | None:
    """The pair's calsync page, when the agenda lives there.

    That is with ``[web] public_url`` and no ``[agenda] url_template`` (the
    template wins: a team that keeps agendas in its own documents keeps them).
    """
    public = settings.web.public_url
    if not public or settings.agenda.url_template:
        return None
    return page_url(public, store.page_id(manager, report, now))


def _agenda_block(settings: Settings, params: PairParams,
                  page: str | None = None) -> AgendaBlock | None:
    template = settings.agenda.url_template
    if not template:
        return AgendaBlock(page) if page else None
    return agenda_block(
        template, params.manager, params.report, params.manager_name, params.report_name
    )


def agenda_rows(
    settings: Settings,
    pair: PairSettings,
    health: PairHealth,
    events_by_owner: Mapping[str, Sequence[Event]],
    now: datetime,
    *,
    page: str | None = None,
) -> list[Queued]:
    """Agenda-block writes for the pair's series masters, upcoming exceptions and make-ups.

    Only the organizer's copy is written: attendees see the organizer's description.
    """
    params = pair_params(settings, pair)
    block = _agenda_block(settings, params, page)
    if block is None:
        return []
    rows = []
    for owner, events in events_by_owner.items():
        person = settings.person(owner)
        calendar = person.calendar_id
        for event in events:
            ours = event.uid in health.series_uids or event.tags.get("pair") == params.key
            if not ours or event.organizer != owner or not event.remote_id:
                continue
            if event.status is EventStatus.CANCELLED or block.is_in(event.description):
                continue
            if not event.is_series and event.end < now:
                continue  # past occurrences keep what they had
            key = agenda_key(calendar, event.remote_id, block.digest)
            what = "series" if event.is_series else "occurrence"
            action = UpdateAgenda(person.provider, calendar, event.remote_id, block,
                                  why=f"the pair's agenda link on the 1:1 {what}",
                                  before=event.description)
            rows.append(Queued(key, action))
    return rows


def plan_all(
    settings: Settings,
    store: Store,
    healths: Sequence[PairHealth],
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    enqueue: bool,
    calendars: Mapping[str, Sequence[Event]] | None = None,
) -> list[PairPlan]:
    """Plans for the pairs of ``healths``; with ``enqueue``, the writes go into the outbox."""
    by_key = {(h.manager, h.report): h for h in healths}
    chosen = [p for p in settings.pairs if (p.manager, p.report) in by_key]
    if calendars is None:
        emails = {e for pair in chosen for e in (pair.manager, pair.report)}
        calendars = store.events_of(emails) if emails else {}
    plans = []
    for pair in chosen:
        health = by_key.get((pair.manager, pair.report))
        if health is None:
            continue
        events = {pair.manager: calendars.get(pair.manager, []),
                  pair.report: calendars.get(pair.report, [])}
        page = pair_page_url(settings, store, pair.manager, pair.report, now)
        plan, rows = plan_pair(settings, pair, health, events, now, page=page)
        rows += agenda_rows(settings, pair, health, events, now, page=page)
        plans.append(plan)
        pair_id = store.pair_id(pair.manager, pair.report) if enqueue else None
        for queued in rows:
            action = queued.action
            if not isinstance(readers.get(action.provider), CalendarWriter):
                if isinstance(action, CreateSeries):
                    plan.findings.append(Finding(
                        kind="cannot_book",
                        message=(f"calsync cannot create the 1:1 series: "
                                 f"{shown_calendar(action.calendar)} is read from "
                                 f"{action.provider}, which is read-only."),
                        severity="warning",
                    ))
                if isinstance(action, CreateMakeUp):
                    plan.findings.append(Finding(
                        kind="cannot_book",
                        message=(f"calsync cannot book the make-up: "
                                 f"{shown_calendar(action.calendar)} is read from "
                                 f"{action.provider}, which is read-only."),
                        severity="warning",
                    ))
                continue
            if pair_id is None:
                continue
            kind, payload = encode(action)
            if settings.daemon.dry_run:
                # Planned and recorded as it would be written; nothing is queued.
                before, after = audit_texts(action)
                if store.record_write(
                    key=queued.key, kind=kind, pair_id=pair_id, provider=action.provider,
                    calendar=shown_calendar(action.calendar), remote_id=None, why=action.why,
                    before=before, after=after, dry_run=True, now=now,
                ):
                    log.info("dry run: would write %s", queued.key)
            elif store.enqueue(queued.key, kind, payload, pair_id, now=now):
                log.info("queued %s", queued.key)
    return plans
