"""`calsync run`: the team daemon.

One cycle: sync every calendar, evaluate every pair, plan make-ups and agenda
blocks, perform the queued writes, and send the weekly emails that are due.
Cycles repeat every ``poll_interval`` (jittered), and a push notification
starts one at once. SIGTERM and SIGINT end the loop after the current step;
a restart continues from the stored sync cursors and the outbox. Several
daemons on one PostgreSQL divide the team by leases (``engine.workers``): each
cycle syncs only this worker's calendars and evaluates only its manager groups.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.config import PairSettings, Settings
from calsync.engine.actions import CreateMakeUp
from calsync.engine.directory import refresh as refresh_directory
from calsync.engine.evaluate import evaluate_all
from calsync.engine.outbox import WriteOutcome, execute
from calsync.engine.plan import evaluate_and_plan_each
from calsync.engine.sync import CalendarResult, sync_all
from calsync.engine.workers import Share, Worker, team_shares
from calsync.providers.base import CalendarReader, ChannelWatcher, Subscriber
from calsync.report import send_due_reports
from calsync.report.nudge import send_due_nudges
from calsync.secrets import SecretBox, shown_calendar
from calsync.service import metrics
from calsync.service.push import GoogleChannels, GraphSubscriptions
from calsync.service.push_tokens import push_secret
from calsync.service.web.factory import web_app
from calsync.service.web.hooks import Hooks
from calsync.service.web.server import WebServer
from calsync.store import Store

log = logging.getLogger(__name__)

# Every pair is evaluated at least this often, changed or not.
FULL_EVALUATION = timedelta(hours=1)


@dataclass(slots=True)
class CycleResult:
    started: datetime
    calendars: list[CalendarResult] = field(default_factory=list)
    writes: list[WriteOutcome] = field(default_factory=list)
    emails: int = 0
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.calendars)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        readers: Mapping[str, CalendarReader],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        toml: Settings | None = None,
        worker: Worker | None = None,
    ) -> None:
        self.settings = settings
        # The config as written: the directory is re-read from it every [directory] refresh.
        self.toml = toml
        self._directory_at: datetime | None = None
        self.worker = worker or Worker(settings, store)
        self.share: Share | None = None
        self._managers_seen: frozenset[str] = frozenset()
        self.store = store
        self.readers = readers
        self.clock = clock
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.last: CycleResult | None = None
        self._lock = threading.Lock()
        self._pushed: set[str] = set()
        self._full_at: datetime | None = None

    # -- one cycle -------------------------------------------------------------------

    def cycle(self, only: Collection[str] | None = None) -> CycleResult:
        """One cycle; ``only``: sync just these calendars (what pushes named)."""
        now = self.clock()
        result = CycleResult(started=now)
        started = time.monotonic()
        share = self.worker.renew(now)
        with self._lock:
            self.share = share
        if not share.everything:
            mine = share.calendars(self.settings)
            only = mine if only is None else set(only) & mine
        steps: list[Callable[[], None]] = [
            lambda: self._directory(now),
            lambda: self._sync(now, result, only),
            lambda: self._evaluate_plan_act(now, result),
            lambda: self._emails(now, result),
        ]
        for number, step in enumerate(steps):
            if self.stop.is_set():
                result.stopped = True
                break
            if number:
                self.worker.heartbeat(self.clock())
            step()
        seconds = time.monotonic() - started
        metrics.observe_cycle(seconds, datetime.now(UTC))
        changed = sum(1 for c in result.calendars if c.ok and not c.unchanged)
        failed = sum(1 for c in result.calendars if not c.ok)
        done = sum(1 for w in result.writes if w.outcome == "done")
        log.info(
            "cycle: %d calendars (%d changed, %d failed), %d writes, %d emails in %.1f s%s",
            len(result.calendars), changed, failed, done, result.emails, seconds,
            " (stopped early)" if result.stopped else "",
        )
        with self._lock:
            self.last = result
        return result

    def _directory(self, now: datetime) -> None:
        toml, last = self.toml, self._directory_at
        if not (toml and toml.directory.sources) or (
                last is not None and now - last < toml.directory.refresh):
            return
        self._directory_at = now
        self.settings = refresh_directory(toml, self.store, now)
        # New and ended pairs change the groups to share out: claimed from the next renewal.
        self.worker.settings = self.settings

    def _sync(self, now: datetime, result: CycleResult, only: Collection[str] | None) -> None:
        result.calendars = sync_all(self.settings, self.store, self.readers, now, only=only)
        for calendar in result.calendars:
            outcome = "error" if not calendar.ok else "unchanged" if calendar.unchanged else "ok"
            metrics.record_sync(calendar.provider, outcome)

    def _due_pairs(self, now: datetime, result: CycleResult) -> list[PairSettings]:
        """Pairs whose calendars changed; every pair at least every ``FULL_EVALUATION``.

        Time alone changes findings (a 1:1 becomes past, a gap grows), so an
        unchanged team is still evaluated regularly, just not every cycle.
        """
        share = self.share
        ours = self.settings.pairs if share is None else share.pairs(self.settings.pairs)
        taken = set() if share is None else share.managers - self._managers_seen
        if share is not None:
            self._managers_seen = share.managers
        if self._full_at is None or now - self._full_at >= FULL_EVALUATION:
            self._full_at = now
            return list(ours)
        changed = {c.owner for c in result.calendars if c.ok and not c.unchanged}
        # Groups just taken over (a worker died or left) are evaluated at once.
        return [p for p in ours if {p.manager, p.report} & changed or p.manager in taken]

    def _evaluate_plan_act(self, now: datetime, result: CycleResult) -> None:
        pairs = self._due_pairs(now, result)
        pending = bool(self.store.pending(limit=1))
        if not pairs and not pending:
            return
        # One manager's group at a time; only the findings' count is kept of each pair.
        findings: Counter[str] = Counter()
        for _pair, health, plan in evaluate_and_plan_each(
            self.settings, self.store, self.readers, now, enqueue=True, pairs=pairs
        ):
            findings.update(f.kind for f in health.findings)
            if plan.gave_up_for_no_slot:
                metrics.record_rebook("no_slot")
        if self.stop.is_set():
            return
        share = self.share
        managers = None if share is None or share.everything else share.managers
        # This worker's groups' writes: two workers never write one calendar at once.
        result.writes = execute(self.store, self.readers, now, managers=managers)
        for write in result.writes:
            if write.kind == CreateMakeUp.KIND:
                metrics.record_rebook("booked" if write.outcome == "done" else "failed")
        booked = {w.pair_id for w in result.writes if w.changed_meetings and w.pair_id}
        if booked:
            # Read back the meetings made or taken back, so the history shows a
            # make-up now. Only their pairs' calendars: an agenda block
            # changes no history, and the next cycle reads it back anyway.
            people = {email for pair in self.store.pair_people(booked).values() for email in pair}
            theirs = {p.calendar_id for p in self.settings.people if p.email in people}
            if share is not None and not share.everything:
                theirs &= share.calendars(self.settings)
            resync = sync_all(self.settings, self.store, self.readers, now, only=theirs)
            changed = {c.owner for c in resync if c.ok and not c.unchanged}
            ours = self.settings.pairs if share is None else share.pairs(self.settings.pairs)
            again = [p for p in ours if {p.manager, p.report} & changed]
            # Only the affected pairs' groups are read again, one at a time.
            evaluate_all(self.settings, self.store, now, pairs=again)
        if self._full_at == now:
            # The gauge counts every pair (of this worker's share): only a full
            # evaluation may reset it.
            metrics.set_findings(findings)

    def _emails(self, now: datetime, result: CycleResult) -> None:
        if self.settings.smtp is None:
            return
        outcomes = send_due_reports(self.settings, self.store, now)
        for outcome in outcomes:
            if outcome.state in ("sent", "failed"):
                metrics.record_email(outcome.state)
        result.emails = sum(1 for o in outcomes if o.state == "sent")
        # The nudges before each 1:1 ([web] nudge): the same ledger, once per person.
        nudges = send_due_nudges(self.settings, self.store, now)
        result.emails += sum(1 for o in nudges if o.state == "sent")

    # -- the loop ----------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """For /healthz: the last cycle finished recently and synced every calendar."""
        with self._lock:
            last = self.last
        if last is None:
            return False, {"status": "starting"}
        interval = self.settings.daemon.poll_interval
        age = (self.clock() - last.started).total_seconds()
        failing = [f"{c.owner} ({c.provider})" for c in last.calendars if not c.ok]
        healthy = age < 3 * interval.total_seconds() + 60
        return healthy, {
            "status": "ok" if healthy and not failing else "degraded" if healthy else "stale",
            "last_cycle": last.started.isoformat(),
            "seconds_since_last_cycle": round(age, 1),
            "calendars_failing": failing,
            **self._workers_health(),
        }

    def _workers_health(self) -> dict[str, Any]:
        """This worker's share, and every worker's (several workers on PostgreSQL)."""
        with self._lock:
            share = self.share
        if share is None:
            return {}
        mine = {"id": self.worker.id, "calendars": len(share.people),
                "groups": len(share.managers)}
        if not self.worker.shared:
            return {"worker": mine}
        return {
            "worker": mine,
            "workers": [
                view.as_json() for view in team_shares(self.settings, self.store, self.clock())
            ],
        }

    def notify(self, provider: str, calendar: str) -> None:
        """A push notification: sync that calendar soon (polling stays the fallback).

        Only the calendar it names is synced, and a burst of notifications is
        gathered for ``push_coalesce`` into one sync: replaying a valid
        notification cannot be turned into load.
        """
        log.info("push from %s for %s: syncing it shortly", provider, shown_calendar(calendar))
        with self._lock:
            self._pushed.add(calendar)
        self.wake.set()

    def _take_pushed(self) -> set[str]:
        with self._lock:
            pushed, self._pushed = self._pushed, set()
        return pushed

    def run(self, *, once: bool = False, install_signals: bool = True) -> int:
        """Cycle until stopped; ``once``: one cycle, no HTTP server (for cron)."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        if once:
            try:
                return 0 if self.cycle().ok else 1
            finally:
                self.worker.release()
        server, channels = self._start_push()
        coalesce = self.settings.daemon.push_coalesce.total_seconds()
        next_full = time.monotonic()
        try:
            while not self.stop.is_set():
                for provider, manager in channels.items():
                    calendars = self._calendars_of(provider)
                    for problem in manager.ensure(calendars, self.clock()):
                        log.warning("push channel: %s", problem)
                pushed = self._take_pushed()
                try:
                    if time.monotonic() >= next_full:
                        next_full = time.monotonic() + self._interval()
                        self.cycle()
                    elif pushed:
                        self.cycle(only=pushed)
                except Exception:
                    # A bug or an outage in one cycle must not end the daemon: the
                    # next cycle starts from the stored cursors and outbox anyway.
                    log.exception("the cycle failed; retrying after the poll interval")
                woken = self.wake.wait(max(0.0, next_full - time.monotonic()))
                self.wake.clear()
                if woken and not self.stop.is_set():
                    # Let the burst arrive: every push in it becomes one sync.
                    self.stop.wait(coalesce)
            return 0
        finally:
            for manager in channels.values():
                manager.stop_all()
            server.stop()
            self.worker.release()

    def _interval(self) -> float:
        daemon = self.settings.daemon
        base = daemon.poll_interval.total_seconds()
        return max(1.0, base * (1 + random.uniform(-daemon.jitter, daemon.jitter)))

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the current step, then stopping", signum)
        self.stop.set()
        self.wake.set()

    def _calendars_of(self, provider: str) -> list[str]:
        return [p.calendar_id for p in self.settings.people if p.provider == provider]

    def _start_push(self) -> tuple[WebServer, dict[str, GoogleChannels | GraphSubscriptions]]:
        """The web app (pages, healthz, metrics, push) and, with a public URL, push channels.

        Push is chosen by capability: a provider that can watch gets Google-style
        channels, one that can subscribe gets Graph-style subscriptions.
        """
        daemon = self.settings.daemon
        box = SecretBox.load(self.settings.path(self.settings.secret_key_file))
        secret = push_secret(box.fingerprint())
        hooks = Hooks(secret, self.health, self.notify, clock=self.clock)
        listen = self.settings.web.listen or daemon.listen
        server = WebServer(listen, web_app(self.settings, self.store, hooks, box, self.clock))
        server.start()
        log.info("listening on %s (the 1:1 pages, /healthz, /metrics, /push/google, "
                 "/push/graph)", server.url)
        channels: dict[str, GoogleChannels | GraphSubscriptions] = {}
        if not daemon.public_url:
            log.info("no [daemon] public_url: polling only, no push channels")
            return server, channels
        for name, reader in self.readers.items():
            try:
                if isinstance(reader, ChannelWatcher):
                    channels[name] = GoogleChannels(reader, daemon.public_url, secret)
                elif isinstance(reader, Subscriber):
                    channels[name] = GraphSubscriptions(reader, daemon.public_url, secret)
            except ValueError as exc:
                log.warning("push for %s disabled: %s", name, exc)
        return server, channels
