"""The I/O shell of the weekly email: store -> reports -> SMTP, recorded exactly once.

- ``build_reports``: evaluate each manager's pairs as of the end of the
  reported week (in the manager's zone) and build their ``ManagerReport``;
  each flag says since when it has been open, from the findings history the
  daemon's evaluations keep. Read-only: nothing is written to the store.
- ``send_due_reports``: what the daemon calls (every minute is fine): sends
  each manager's email once their send time has come, records it, and
  retries failed sends later with backoff.
- ``deliver``: claim -> build -> send -> mark, shared by the daemon and
  ``calsync report --send``.
- ``report_problems``: failed or interrupted sends, for ``calsync doctor``.

Delivery is **at most once** (see ``calsync.store.report_sends``): a send
interrupted between claim and record is never repeated automatically; it is
shown by ``report_problems`` and can be resent on purpose with
``calsync report --send --resend``, under the same Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from calsync.config import PairSettings, Person, Settings
from calsync.engine.agenda import agenda_counts
from calsync.engine.away import away_of
from calsync.engine.evaluate import pair_params, policy_params
from calsync.engine.setup import with_proposal
from calsync.model import Event
from calsync.policies import PairHealth, evaluate_pair
from calsync.policies.agenda import page_url
from calsync.report.mailer import SendFailed, SmtpMailer
from calsync.report.model import ManagerReport, build_manager_report
from calsync.report.render import build_message, message_id
from calsync.report.schedule import IsoWeek, due_week, evaluation_instant
from calsync.store import Store
from calsync.store import report_sends as sends

log = logging.getLogger(__name__)

# Backoff for transient failures: 5 min, 15 min, 45 min, 2h15, then every 6 h,
# at most MAX_ATTEMPTS attempts in all; after that only a person retries.
FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 8
# A claim older than this with no outcome recorded counts as interrupted.
INTERRUPTED_AFTER = timedelta(minutes=30)
# A first attempt is made at most this long after the send time (a daemon that
# was down all Monday still sends on Tuesday; one started on Thursday does not
# mail last week's report). Retries of a failed send go on until the next send time.
SEND_WINDOW = timedelta(days=1)


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand the message over; raise ``SendFailed`` when it was not accepted."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    manager: str
    week: str
    state: str  # "sent" | "failed" | "skipped" (not ours to send: already sent, in progress)
    error: str | None = None
    retry_at: datetime | None = None  # for "failed": when it is retried (None: not automatically)
    record: sends.SendRecord | None = None  # for "skipped": the existing record


def managers_of(settings: Settings) -> list[Person]:
    """Everyone who manages at least one pair, in config order."""
    emails = {pair.manager for pair in settings.pairs}
    return [person for person in settings.people if person.email in emails]


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after the ``attempts``-th failed attempt; None: stop retrying."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return min(FIRST_RETRY * 3 ** max(attempts - 1, 0), MAX_RETRY)


def build_reports(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    week: IsoWeek | None = None,
    managers: Iterable[str] | None = None,
) -> list[ManagerReport]:
    """Each manager's report for ``week`` (default: the week their email is due for).

    Every pair is evaluated as of the end of the week in its manager's zone,
    or ``now`` if the week is not over (ValueError for a week not started).
    """
    chosen = managers_of(settings)
    if managers is not None:
        wanted = set(managers)
        chosen = [person for person in chosen if person.email in wanted]
    jobs = []
    for manager in chosen:
        their_week = week or due_week(now, manager.zone, settings.report)[0]
        jobs.append((manager, their_week))
    return _build(settings, store, now, jobs)


def _build(
    settings: Settings, store: Store, now: datetime, jobs: Sequence[tuple[Person, IsoWeek]]
) -> list[ManagerReport]:
    if not jobs:
        return []
    policy = policy_params(settings.policy)
    people = {person.email: person for person in settings.people}
    team = {
        email
        for pair in settings.pairs
        if pair.manager in {manager.email for manager, _ in jobs}
        for email in (pair.manager, pair.report)
    }
    events = store.events_of(team)
    away = away_of(settings, events, now, team)  # once for the team, every manager's week
    calendars = store.calendar_status()
    reports = []
    for manager, week in jobs:
        as_of = evaluation_instant(week, manager.zone, now)
        pairs = [pair for pair in settings.pairs if pair.manager == manager.email]
        healths = []
        for pair in pairs:
            both = {pair.manager: events.get(pair.manager, []),
                    pair.report: events.get(pair.report, [])}
            health = evaluate_pair(both, pair_params(settings, pair), policy, as_of,
                                   away={p: away[p] for p in (pair.manager, pair.report)})
            healths.append(with_proposal(settings, pair, both, health, as_of))
        suggestions = _suggestions(settings, pairs, healths, events, as_of)
        since = {
            (finding.report, finding.kind): finding.first_seen
            for finding in store.open_findings(manager.email, at=as_of)
        }
        report = build_manager_report(
                manager,
                people,
                pairs,
                healths,
                calendars,
                week=week,
                as_of=as_of,
                policy=policy,
                generated_at=now,
                suggestions=suggestions,
                since=since,
            )
        reports.append(_with_agendas(settings, store, report, now))
    return reports


def _with_agendas(settings: Settings, store: Store, report: ManagerReport,
                  now: datetime) -> ManagerReport:
    """Each row links to its pair's page and says what waits there (with ``[web] public_url``)."""
    public = settings.web.public_url
    if not public:
        return report
    rows = []
    for row in report.rows:
        counts = agenda_counts(store, report.manager, row.report, now)
        oldest = None if counts.oldest_open is None else (now - counts.oldest_open).days
        rows.append(replace(
            row,
            page_url=page_url(public, store.page_id(report.manager, row.report, now)),
            topics_waiting=counts.waiting_topics,
            actions_open=counts.open_actions,
            oldest_action_days=oldest,
        ))
    return replace(report, rows=tuple(rows))


def _suggestions(
    settings: Settings,
    pairs: Sequence[PairSettings],
    healths: Sequence[PairHealth],
    events: Mapping[str, Sequence[Event]],
    as_of: datetime,
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Make-up slots for bumped 1:1s still waiting for one (``rebook = "suggest"``)."""
    from calsync.engine.plan import plan_pair

    out = {}
    for pair, health in zip(pairs, healths, strict=True):
        if pair.rebook != "suggest":
            continue
        plan, _ = plan_pair(
            settings,
            pair,
            health,
            {pair.manager: events.get(pair.manager, []), pair.report: events.get(pair.report, [])},
            as_of,
        )
        if plan.suggestions:
            out[pair.report] = [(slot.start, slot.end) for slot in plan.suggestions[:3]]
    return out


def deliver(
    store: Store,
    manager: str,
    week: str,
    sender: str,
    compose: Callable[[], EmailMessage],
    mailer: Mailer,
    now: datetime,
    *,
    ignore_backoff: bool = False,
    resend: bool = False,
) -> SendOutcome:
    """Claim the (manager, week) send, compose and send the email, record the outcome."""
    claimed = sends.claim_send(
        store,
        manager,
        week,
        message_id(manager, week, sender),
        now,
        ignore_backoff=ignore_backoff,
        resend=resend,
    )
    if claimed is None:
        return SendOutcome(manager, week, "skipped", record=sends.get_send(store, manager, week))
    try:
        message = compose()
        mailer.send(message)
    except SendFailed as exc:
        retry_at = _retry_at(claimed.attempts, now) if exc.transient else None
        log.warning("weekly email to %s for %s not sent: %s", manager, week, exc)
        sends.mark_failed(store, manager, week, str(exc), now, retry_at)
        return SendOutcome(manager, week, "failed", error=str(exc), retry_at=retry_at)
    except Exception as exc:  # a bug while building one report must not stop the others
        log.exception("weekly email to %s for %s could not be built", manager, week)
        error = f"could not build the email: {type(exc).__name__}: {exc}"
        retry_at = _retry_at(claimed.attempts, now)
        sends.mark_failed(store, manager, week, error, now, retry_at)
        return SendOutcome(manager, week, "failed", error=error, retry_at=retry_at)
    sends.mark_sent(store, manager, week, now)
    log.info("weekly email sent to %s for %s", manager, week)
    return SendOutcome(manager, week, "sent")


def _retry_at(attempts: int, now: datetime) -> datetime | None:
    delay = retry_delay(attempts)
    return None if delay is None else now + delay


def send_due_reports(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    mailer: Mailer | None = None,
) -> list[SendOutcome]:
    """Send every manager's weekly email that is due as of ``now``; the daemon's entry point.

    Due: the manager's send time (``[report] send_day``/``send_time`` in their
    zone) passed less than ``SEND_WINDOW`` ago and that week's email is not
    recorded yet; or it failed and its retry time has come (until the next
    send time). Safe to call as often as
    you like, from several workers: each email is claimed in the store
    before it is sent. Returns what was attempted (sent or failed). Without
    ``[smtp]`` nothing is sent.
    """
    if settings.smtp is None:
        log.debug("no [smtp] configured: weekly emails are not sent")
        return []
    sender = settings.report.from_address
    assert sender is not None  # the config requires it with [smtp]
    if mailer is None:
        mailer = SmtpMailer(settings.smtp, base_dir=settings.base_dir)

    due: list[tuple[Person, IsoWeek]] = []
    recorded: dict[str, dict[str, sends.SendRecord]] = {}
    for manager in managers_of(settings):
        week, send_at = due_week(now, manager.zone, settings.report)
        key = str(week)
        if key not in recorded:
            recorded[key] = {record.manager: record for record in sends.sends(store, key)}
        record = recorded[key].get(manager.email)
        if record is None:
            if now - send_at <= SEND_WINDOW:
                due.append((manager, week))
        elif (
            record.state == "failed"
            and record.next_attempt_at is not None
            and record.next_attempt_at <= now
        ):
            due.append((manager, week))

    outcomes = []
    for manager, week in due:

        def compose(manager: Person = manager, week: IsoWeek = week) -> EmailMessage:
            (report,) = _build(settings, store, now, [(manager, week)])
            return build_message(report, sender)

        outcome = deliver(store, manager.email, str(week), sender, compose, mailer, now)
        if outcome.state != "skipped":
            outcomes.append(outcome)
    return outcomes


def report_problems(store: Store, now: datetime | None = None) -> list[str]:
    """Weekly emails that failed or were interrupted (each manager's latest week), for doctor."""
    now = now or datetime.now(UTC)
    problems = []
    for record in sends.latest_sends(store):
        what = f"weekly email to {record.manager} for {record.week}"
        again = f"calsync report --manager {record.manager} --week {record.week} --send"
        if record.state == "failed":
            attempts = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
            if record.next_attempt_at is not None:
                problems.append(
                    f"{what} failed ({attempts}): {record.last_error}; retried automatically "
                    f"after {record.next_attempt_at:%Y-%m-%d %H:%M} UTC"
                )
            else:
                problems.append(
                    f"{what} failed ({attempts}) and is not retried automatically: "
                    f"{record.last_error}; once fixed: {again}"
                )
        elif record.state == "sending" and now - record.claimed_at > INTERRUPTED_AFTER:
            problems.append(
                f"{what} was interrupted while sending at {record.claimed_at:%Y-%m-%d %H:%M} UTC; "
                f"it may not have arrived and is not resent automatically: {again} --resend"
            )
    return problems
