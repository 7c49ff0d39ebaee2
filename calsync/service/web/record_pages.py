"""Both people see the record: the manager's team page, the report's own page, booking.

- ``/team``: the weekly email's facts, live, for the signed-in manager: one
  row per report (adherence, the strip, the next 1:1, the flags in plain words,
  what to do, open action items, topics waiting), most urgent first, and who
  gets bumped most and by whom. Built by the report model
  (:func:`calsync.report.build_reports`), not recomputed here.
- For a bumped 1:1 on ``rebook = "suggest"`` the row offers the suggested
  slots with a "book this" button: ``POST /1on1/<page>/book`` queues the
  make-up in the daemon's outbox (:mod:`calsync.engine.book`): once, whatever
  the clicks.
- ``/me``: the signed-in report's 1:1s with their manager: the record, the
  adherence, the next 1:1 and its agenda, their own open action items.

Who may see or change a pair is decided by :meth:`TeamSite.authorize` alone.
Someone who both manages and reports sees both pages (the header links both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calsync.config import PairSettings, Settings
from calsync.engine.actions import BadAction, CreateMakeUp, decode
from calsync.engine.agenda import ActionView, AgendaCounts, PairAgenda, agenda_counts
from calsync.engine.book import Pending, book_make_up, pending_make_up
from calsync.report import IsoWeek, ManagerReport, build_reports
from calsync.report.model import CELL_KINDS, ReportRow
from calsync.report.record import RecordSummary, record_summary
from calsync.service.web import auth
from calsync.store import Store
from calsync.store.agenda import PairRef
from calsync.timeutil import parse_instant


class TeamSite(Protocol):
    """What these pages use of :class:`calsync.service.web.site.TeamSite` (which mounts them)."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    on_booked: Callable[[str, str], None] | None

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse: ...

    def authorize(self, page: str, viewer: str) -> tuple[PairRef, bool]: ...

    def roles(self, viewer: str | None) -> set[str]: ...

    def agenda_of(self, ref: PairRef, viewer: str, now: datetime, today: date) -> PairAgenda: ...

    def zone(self, email: str | None) -> ZoneInfo: ...

    def name(self, email: str | None) -> str: ...

__all__ = ["RecordPages"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Booked:
    """A make-up someone booked for the row's bump: where, and how far it got."""

    start: datetime | None
    state: str  # the outbox row's: pending | done | failed
    error: str | None


@dataclass(frozen=True, slots=True)
class TeamRow:
    row: ReportRow
    ref: PairRef
    counts: AgendaCounts
    actions: list[ActionView]  # open, most pressing first
    pending: Pending | None  # a bumped 1:1 waiting for a make-up (rebook = "suggest")
    booked: Booked | None


@dataclass(frozen=True, slots=True)
class OwnRow:
    ref: PairRef
    manager: str
    agenda: PairAgenda
    record: RecordSummary
    mine: list[ActionView]  # the reader's own open action items


class RecordPages:
    def __init__(self, site: TeamSite) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/team", self.team, methods=["GET"]),
            Route("/me", self.me, methods=["GET"]),
            Route("/1on1/{page:str}/book", self.book, methods=["POST"]),
        ]

    # -- /team ------------------------------------------------------------------------------

    async def team(self, request: Request) -> Response:
        viewer = auth.signed_in(request)
        if viewer is None:
            return _to_sign_in(request)
        site = self.site
        flash = request.session.pop("flash", None)
        if "manager" not in site.roles(viewer):
            return site.render(request, "team.html.j2", report=None, rows=[], flash=None,
                               cells=CELL_KINDS)
        report, rows = await run_in_threadpool(self._team, viewer)
        return site.render(request, "team.html.j2", report=report, rows=rows, flash=flash,
                           cells=CELL_KINDS)

    def _team(self, viewer: str) -> tuple[ManagerReport, list[TeamRow]]:
        site, store, settings = self.site, self.site.store, self.site.settings
        now = site.clock()
        manager = settings.person(viewer)
        week = IsoWeek.of(now.astimezone(manager.zone).date())
        [report] = build_reports(settings, store, now, week=week, managers=[viewer])
        pairs = {pair.report: pair for pair in settings.pairs if pair.manager == viewer}
        today = now.astimezone(manager.zone).date()
        rows = []
        for row in report.rows:
            pair = pairs[row.report]
            ref, _ = site.authorize(store.page_id(pair.manager, pair.report, now), viewer)
            agenda = site.agenda_of(ref, viewer, now, today)
            pending = pending_make_up(settings, store, pair, now)
            rows.append(TeamRow(row, ref, agenda_counts(store, pair.manager, pair.report, now),
                                agenda.open_actions, pending, _booked(pending)))
        return report, rows

    # -- booking ------------------------------------------------------------------------------

    async def book(self, request: Request) -> Response:
        form = await auth.checked_form(request)  # CSRF before anything else
        viewer = auth.signed_in(request)
        if viewer is None:
            return RedirectResponse("/signin?next=/team", 303)
        site = self.site
        ref, can_edit = site.authorize(request.path_params["page"], viewer)
        if not can_edit:
            raise HTTPException(403)
        pair = _pair_settings(site, ref)
        try:
            start = parse_instant(str(form.get("start") or ""))
        except ValueError:
            raise HTTPException(400, "which time is to be booked?") from None
        booking = await run_in_threadpool(book_make_up, site.settings, site.store, pair, start,
                                          site.clock(), by=viewer)
        log.info("web: %s booked the make-up of %s / %s at %s: %s", viewer, ref.manager,
                 ref.report, start.isoformat(), booking.state)
        if booking.provider and booking.calendar and site.on_booked is not None:
            site.on_booked(booking.provider, booking.calendar)  # write it now, not next poll
        request.session["flash"] = {"page": ref.page_id, "state": booking.state,
                                    "message": booking.message}
        back = auth.safe_next(str(form.get("back") or "/team"))
        return RedirectResponse(back, 303)

    # -- /me ----------------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        viewer = auth.signed_in(request)
        if viewer is None:
            return _to_sign_in(request)
        rows = await run_in_threadpool(self._own, viewer)
        return self.site.render(request, "me.html.j2", rows=rows)

    def _own(self, viewer: str) -> list[OwnRow]:
        site = self.site
        now = site.clock()
        zone = site.zone(viewer)
        today = now.astimezone(zone).date()
        rows = []
        for pair in site.settings.pairs:
            if pair.report != viewer:
                continue
            ref, _ = site.authorize(site.store.page_id(pair.manager, pair.report, now), viewer)
            agenda = site.agenda_of(ref, viewer, now, today)
            record = record_summary(agenda.occurrences, viewer, site.name, zone, now)
            mine = [a for a in agenda.open_actions if a.item.owner == viewer]
            rows.append(OwnRow(ref, pair.manager, agenda, record, mine))
        return rows


def _to_sign_in(request: Request) -> Response:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", 303)


def _pair_settings(site: TeamSite, ref: PairRef) -> PairSettings:
    for pair in site.settings.pairs:
        if (pair.manager, pair.report) == (ref.manager, ref.report):
            return pair
    raise HTTPException(404)  # a pair the config no longer has


def _booked(pending: Pending | None) -> Booked | None:
    if pending is None or pending.queued is None:
        return None
    item = pending.queued
    try:
        action = decode(item.action, item.payload)
    except BadAction:
        action = None
    start = action.event.start if isinstance(action, CreateMakeUp) else None
    return Booked(start, item.state, item.last_error)
