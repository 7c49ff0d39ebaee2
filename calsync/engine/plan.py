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
from collections.abc import Iterator, Mapping, Sequence
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
from calsync.engine.evaluate import evaluate_one, pair_params, policy_params
from calsync.engine.groups import stream_groups
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
from calsync.policies.busy import blocks
from calsync.policies.index import indexed
from calsync.policies.slots import (
    Availability,
    BusyTimes,
    Slot,
    SlotRequest,
    cadence_slot_window,
    find_slots,
)
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


@dataclass(frozen=True, slots=True)
class PreparedBusy:
    """One person's free/busy (``policies.busy.busy_of`` without a skipped 1:1), converted once.

    Every slot search of the person's pairs starts from it: the bumped
    occurrence is taken out and its time put back in per search
    (``BusyTimes.edited``), the rest is never converted again.
    """

    busy: BusyTimes
    away: BusyTimes
    # original start -> (uid, all day, start, end) of occurrences counted above.
    occurrences: Mapping[datetime, tuple[tuple[str, bool, datetime, datetime], ...]]

    @classmethod
    def of(cls, events: Sequence[Event], person: str) -> PreparedBusy:
        busy, away = [], []
        occurrences: dict[datetime, list[tuple[str, bool, datetime, datetime]]] = {}
        for event in events:
            if not blocks(event, person):
                continue
            (away if event.all_day else busy).append((event.start, event.end))
            if event.original_start is not None:
                occurrences.setdefault(event.original_start, []).append(
                    (event.uid, event.all_day, event.start, event.end)
                )
        return cls(
            BusyTimes(busy, f"{person}: busy interval"),
            BusyTimes(away, f"{person}: out-of-office span"),
            {start: tuple(found) for start, found in occurrences.items()},
        )

    def without(self, skip_uids: set[str], skip_starts: set[datetime],
                add_busy: Sequence[tuple[datetime, datetime]] = (),
                add_away: Sequence[tuple[datetime, datetime]] = ()) -> tuple[BusyTimes, BusyTimes]:
        """(busy, away) as ``busy_of`` gives them with this skip, plus what is added."""
        remove_busy, remove_away = [], []
        for start in skip_starts:
            for uid, all_day, lo, hi in self.occurrences.get(start, ()):
                if uid in skip_uids:
                    (remove_away if all_day else remove_busy).append((lo, hi))
        return (self.busy.edited(remove_busy, add_busy),
                self.away.edited(remove_away, add_away))


def _organizer(events_by_owner: Mapping[str, Sequence[Event]], uids: Sequence[str],
               manager: str) -> str:
    for index in indexed(events_by_owner).values():
        for event in index.masters():
            if event.uid in uids and event.organizer:
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
    prepared: dict[str, PreparedBusy] | None = None,
) -> tuple[PairPlan, list[Queued]]:
    """What to do for one pair: the plan, and the make-up to queue if there is one.

    ``prepared`` keeps each person's busy times once converted, for the next
    pair that searches them (a manager's, for each of their reports).
    """
    plan = PairPlan(pair.manager, pair.report, pair.rebook)
    rows: list[Queued] = []
    params = pair_params(settings, pair)
    if not health.series_uids:
        return plan, series_rows(settings, pair, health, _agenda_block(settings, params, page))
    if pair.rebook == "off":
        return plan, rows
    daemon: DaemonSettings = settings.daemon
    events_by_owner = indexed(events_by_owner)
    masters = [
        e for index in events_by_owner.values() for e in index.masters()
        if e.uid in health.series_uids
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
    request = slot_request(settings, params, health, events_by_owner, bump, now,
                           prepared=prepared)
    result = find_slots(request, now)
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
    *,
    prepared: dict[str, PreparedBusy] | None = None,
) -> SlotRequest:
    """The make-up search for ``bump``; ``prepared``: busy times kept across searches."""
    skip_uids, skip_starts = set(health.series_uids), {bump.original_start}
    prepared = {} if prepared is None else prepared
    people = []
    leave = away_of(settings, events_by_owner, now, (params.manager, params.report))
    for email in (params.manager, params.report):
        person = settings.person(email)
        ready = prepared.get(email)
        if ready is None:
            ready = prepared[email] = PreparedBusy.of(events_by_owner.get(email, ()), email)
        # The bumped time just proved not to work: never offer it back. No make-up
        # goes into a day either person is away, not even its free hours.
        busy, away = ready.without(skip_uids, skip_starts, [(bump.start, bump.end)],
                                   away_days(leave[email], person.zone))
        people.append(Availability(
            email=email, zone=person.zone, hours=person.hours,
            busy=busy, out_of_office=away, name=person.display,
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
    An occurrence that still carries its master's description is left to the
    master's write: every provider shows a plain occurrence with its master's
    description, and writing each one would turn it into an exception (Google,
    Graph) for nothing. Should a provider not carry it over (an exception that
    kept the master's text), the next sync reads the occurrence without the
    block and the next plan writes it on its own.
    """
    params = pair_params(settings, pair)
    block = _agenda_block(settings, params, page)
    if block is None:
        return []
    rows = []
    for owner, index in indexed(events_by_owner).items():
        person = settings.person(owner)
        calendar = person.calendar_id
        # The pair's series and its make-ups, in calendar order.
        related = [
            event for event in index.related(health.series_uids, params.key)
            if event.organizer == owner and event.remote_id
            and event.status is not EventStatus.CANCELLED
        ]
        # Masters written now, by uid: their description as synced.
        written = {
            event.uid: event.description
            for event in related if event.is_series and not block.is_in(event.description)
        }
        for event in related:
            if block.is_in(event.description):
                continue
            if not event.is_series and event.end < now:
                continue  # past occurrences keep what they had
            if event.is_occurrence and written.get(event.uid) == event.description:
                continue  # the master's write carries it
            key = agenda_key(calendar, event.remote_id, block.digest)
            what = "series" if event.is_series else "occurrence"
            action = UpdateAgenda(person.provider, calendar, event.remote_id, block,
                                  why=f"the pair's agenda link on the 1:1 {what}",
                                  before=event.description)
            rows.append(Queued(key, action))
    return rows


def evaluate_and_plan(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    enqueue: bool,
    pairs: Sequence[PairSettings] | None = None,
) -> tuple[list[PairHealth], list[PairPlan]]:
    """Evaluate (and save) then plan ``pairs`` (default: all), one manager's group at a time.

    Each group's calendars are read once, serve both its evaluation and its
    plans, and are dropped before the next group is read.
    """
    chosen = list(settings.pairs if pairs is None else pairs)
    healths: list[PairHealth] = []
    plans: list[PairPlan] = []
    for _pair, health, plan in evaluate_and_plan_each(settings, store, readers, now,
                                                      enqueue=enqueue, pairs=chosen):
        healths.append(health)
        plans.append(plan)
    return healths, plans


def evaluate_and_plan_each(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    now: datetime,
    *,
    enqueue: bool,
    pairs: Sequence[PairSettings] | None = None,
) -> Iterator[tuple[PairSettings, PairHealth, PairPlan]]:
    """``evaluate_and_plan`` one pair at a time, in the order of ``pairs``.

    A caller that uses each result and lets it go (``check --json`` prints it)
    holds one group of calendars and the pairs not yet in order, not the team.
    Groups come manager by manager, so pairs listed manager by manager (as
    usual) come out as soon as they are evaluated.
    """
    policy = policy_params(settings.policy)
    chosen = list(settings.pairs if pairs is None else pairs)
    position = {(p.manager, p.report): index for index, p in enumerate(chosen)}
    waiting: dict[int, tuple[PairSettings, PairHealth, PairPlan]] = {}
    next_out = 0
    for group, calendars in stream_groups(store, settings, chosen, now):
        prepared: dict[str, PreparedBusy] = {}
        away = away_of(settings, calendars, now, group.owners)
        for pair in group.pairs:
            health = evaluate_one(settings, store, pair, calendars, policy, now, away)
            plan = _plan_and_queue(settings, store, pair, health, calendars, readers, now,
                                   enqueue, prepared)
            waiting[position[(pair.manager, pair.report)]] = (pair, health, plan)
        while next_out in waiting:
            yield waiting.pop(next_out)
            next_out += 1


def _plan_and_queue(
    settings: Settings,
    store: Store,
    pair: PairSettings,
    health: PairHealth,
    calendars: Mapping[str, Sequence[Event]],
    readers: Mapping[str, CalendarReader],
    now: datetime,
    enqueue: bool,
    prepared: dict[str, PreparedBusy],
) -> PairPlan:
    """One pair's plan; its writes queued (or, in a dry run, recorded) with ``enqueue``."""
    events = {pair.manager: calendars.get(pair.manager, []),
              pair.report: calendars.get(pair.report, [])}
    page = pair_page_url(settings, store, pair.manager, pair.report, now)
    plan, rows = plan_pair(settings, pair, health, events, now, page=page, prepared=prepared)
    rows += agenda_rows(settings, pair, health, events, now, page=page)
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
    return plan
