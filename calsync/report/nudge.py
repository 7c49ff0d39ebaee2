"""The nudge before each 1:1: the record -> due nudges -> SMTP, each sent at most once.

``send_due_nudges`` is what the daemon calls every cycle. Which nudges are due
is pure (:mod:`calsync.policies.nudges`, on the record of the last
evaluation); each is claimed in the same send ledger as the weekly email
(:mod:`calsync.store.report_sends`, ``kind = "nudge"``) before it is sent, so
a restart, a second worker or a retry never sends it twice. A send that
failed is retried with the weekly email's backoff until the 1:1 starts.

The email is short and plain: when (in the recipient's zone), the agenda as
it stands, and the link to the pair's page to add topics (``[web]
public_url``). An empty agenda says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from calsync.config import PairSettings, Settings
from calsync.engine.agenda import pair_agenda
from calsync.engine.evaluate import stored_occurrences
from calsync.policies.agenda import page_url
from calsync.policies.nudges import EMPTY, DueNudge, Recipient, due_nudges
from calsync.report.mailer import SendFailed, SmtpMailer
from calsync.report.service import Mailer, retry_delay
from calsync.store import Store
from calsync.store import report_sends as sends

log = logging.getLogger(__name__)

# doctor shows nudges that failed for good within this long (older ones are moot).
PROBLEM_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class NudgeOutcome:
    person: str
    key: str
    state: str  # "sent" | "failed"
    error: str | None = None


def nudge_message_id(person: str, key: str, sender: str) -> str:
    digest = hashlib.sha256(f"{person}\n{key}".encode()).hexdigest()[:24]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "calsync.invalid"
    return f"<calsync-nudge.{digest}@{domain}>"


def due_for_pair(settings: Settings, store: Store, pair: PairSettings,
                 now: datetime) -> list[DueNudge]:
    """The pair's nudges whose time has come, from the record of its last evaluation."""
    web = settings.web
    people = [
        Recipient(p.email, p.zone, p.hours)
        for p in (settings.person(pair.manager), settings.person(pair.report))
    ]
    return due_nudges(stored_occurrences(store, pair.manager, pair.report),
                      f"{pair.manager}|{pair.report}", people, now,
                      lead=web.nudge, empty_lead=web.nudge_empty)


def send_due_nudges(
    settings: Settings, store: Store, now: datetime, *, mailer: Mailer | None = None
) -> list[NudgeOutcome]:
    """Send every nudge due at ``now`` that nobody has sent yet; what was attempted.

    Off unless ``[web] nudge`` (or ``nudge_empty``) and ``[smtp]`` are set.
    """
    web = settings.web
    if (web.nudge is None and web.nudge_empty is None) or settings.smtp is None:
        return []
    sender = settings.report.from_address
    assert sender is not None  # the config requires it with [smtp]
    if mailer is None:
        mailer = SmtpMailer(settings.smtp, base_dir=settings.base_dir)
    outcomes = []
    for pair in settings.pairs:
        due = due_for_pair(settings, store, pair, now)
        if not due:
            continue
        recorded = {
            (r.manager, r.week): r
            for key in {n.key for n in due}
            for r in sends.sends(store, key, kind=sends.NUDGE)
        }
        for nudge in due:
            record = recorded.get((nudge.person, nudge.key))
            if record is not None and not (
                record.state == "failed" and record.next_attempt_at is not None
                and record.next_attempt_at <= now
            ):
                continue
            outcome = _deliver(settings, store, pair, nudge, sender, mailer, now)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes


def _deliver(settings: Settings, store: Store, pair: PairSettings, nudge: DueNudge,
             sender: str, mailer: Mailer, now: datetime) -> NudgeOutcome | None:
    topics = _open_topics(settings, store, pair, nudge, now)
    if nudge.kind == EMPTY and topics:
        return None  # there is something to talk about: no reminder (asked again later)
    claimed = sends.claim_send(store, nudge.person, nudge.key,
                               nudge_message_id(nudge.person, nudge.key, sender), now,
                               kind=sends.NUDGE)
    if claimed is None:
        return None  # another worker has it
    try:
        mailer.send(compose(settings, store, pair, nudge, topics, sender, now))
    except SendFailed as exc:
        delay = retry_delay(claimed.attempts) if exc.transient else None
        retry_at = None if delay is None else now + delay
        log.warning("nudge to %s (%s) not sent: %s", nudge.person, nudge.key, exc)
        sends.mark_failed(store, nudge.person, nudge.key, str(exc), now, retry_at)
        return NudgeOutcome(nudge.person, nudge.key, "failed", str(exc))
    except Exception as exc:  # a bug in one nudge must not leave it claimed for ever
        log.exception("nudge to %s (%s) could not be built", nudge.person, nudge.key)
        error = f"could not build the email: {type(exc).__name__}: {exc}"
        delay = retry_delay(claimed.attempts)
        sends.mark_failed(store, nudge.person, nudge.key, error, now,
                          None if delay is None else now + delay)
        return NudgeOutcome(nudge.person, nudge.key, "failed", error)
    sends.mark_sent(store, nudge.person, nudge.key, now)
    log.info("nudge sent to %s for the 1:1 of %s", nudge.person, nudge.occurrence.start)
    return NudgeOutcome(nudge.person, nudge.key, "sent")


def _open_topics(settings: Settings, store: Store, pair: PairSettings, nudge: DueNudge,
                 now: datetime) -> list[str]:
    """The topics not yet discussed on the nudged 1:1's agenda, in their order."""
    today = now.astimezone(settings.person(nudge.person).zone).date()
    agenda = pair_agenda(store, pair.manager, pair.report, nudge.person, now, today)
    if agenda.current.key != nudge.occurrence.original_start:
        return []  # a later 1:1 than the next one: its topics are still to come
    return [view.topic.title for view in agenda.current.topics if not view.discussed]


def compose(settings: Settings, store: Store, pair: PairSettings, nudge: DueNudge,
            topics: Sequence[str], sender: str, now: datetime) -> EmailMessage:
    person = settings.person(nudge.person)
    other = settings.person(pair.report if nudge.person == pair.manager else pair.manager)
    occurrence = nudge.occurrence
    local = occurrence.start.astimezone(person.zone)
    when = f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M}"
    short = f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
    public = settings.web.public_url
    link = None
    if public:
        link = page_url(public, store.page_id(pair.manager, pair.report, now)) + "#agenda"
    lines = [f"Hello {person.display.split()[0]},", ""]
    if nudge.kind == EMPTY:
        subject = f"No topics yet for your 1:1 with {other.display} ({short})"
        lines.append(f"nothing is on the agenda of your 1:1 with {other.display} on {when} "
                     f"({person.timezone}) yet.")
    else:
        subject = f"Your 1:1 with {other.display}: {short}"
        lines.append(f"your 1:1 with {other.display} is on {when} ({person.timezone}), "
                     f"{occurrence.minutes} minutes.")
        if nudge.made_up:
            original = occurrence.original_start.astimezone(person.zone)
            lines.append(f"It is the make-up for the 1:1 of {original:%a} {original.day} "
                         f"{original:%b}.")
        lines.append("")
        if topics:
            lines.append("On the agenda:")
            lines += [f"  {number}. {title}" for number, title in enumerate(topics, 1)]
        else:
            lines.append("No topics yet.")
    lines.append("")
    if link:
        lines.append(f"Add what you want to talk about: {link}")
    else:
        lines.append("Add what you want to talk about on the pair's calsync page.")
    lines += ["", "-- calsync"]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = person.email
    message["Message-ID"] = nudge_message_id(person.email, nudge.key, sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines) + "\n")
    return message


def nudge_problems(store: Store, now: datetime) -> list[str]:
    """Nudges of the last week that failed and are not retried, for ``calsync doctor``."""
    problems = []
    for record in sends.sends(store, kind=sends.NUDGE):
        if record.claimed_at < now - PROBLEM_WINDOW:
            continue
        if record.state != "failed" or record.next_attempt_at is not None:
            continue  # sent, in progress, or still retried automatically
        # The key is "<kind>|<manager>|<report>|<occurrence>" (policies.nudges.nudge_key).
        _, manager, report, when = [*record.week.split("|"), "", "", ""][:4]
        problems.append(
            f"nudge to {record.manager} before the 1:1 of {manager} / {report} "
            f"({when.removeprefix('made_up@')}) failed after {record.attempts} attempt"
            f"{'s' if record.attempts != 1 else ''} and is not retried: {record.last_error}"
        )
    return problems
