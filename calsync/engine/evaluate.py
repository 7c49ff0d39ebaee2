"""Run the pure policies over what the store holds, and keep the results.

The store keeps plain rows and never imports the policies; the translation
between the two is here: ``save_health`` (``PairHealth`` -> rows) and
``stored_occurrences`` (rows -> ``Occurrence``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from calsync.config import PairSettings, PolicySettings, Settings
from calsync.engine.away import away_of
from calsync.engine.setup import with_proposal
from calsync.model import Event
from calsync.policies import (
    Finding,
    Occurrence,
    PairHealth,
    PairParams,
    PolicyParams,
    Status,
    evaluate_pair,
)
from calsync.store import FindingRecord, Store, StoredOccurrence


def pair_params(settings: Settings, pair: PairSettings) -> PairParams:
    manager = settings.person(pair.manager)
    report = settings.person(pair.report)
    return PairParams(
        manager=pair.manager,
        report=pair.report,
        cadence=pair.cadence,
        duration=pair.duration,
        min_duration=pair.min_duration,
        manager_name=manager.display,
        report_name=report.display,
        manager_zone=manager.timezone,
        title_hint=pair.title,
    )


def policy_params(policy: PolicySettings) -> PolicyParams:
    cancel_k, cancel_n = policy.cancellations
    shorten_k, shorten_n = policy.shortening
    return PolicyParams(
        cancel_k=cancel_k,
        cancel_n=cancel_n,
        max_gap=policy.max_gap,
        streak=policy.streak,
        shorten_k=shorten_k,
        shorten_n=shorten_n,
        horizon_periods=policy.horizon_periods,
    )


def evaluate_all(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    pairs: Sequence[PairSettings] | None = None,
    calendars: Mapping[str, Sequence[Event]] | None = None,
) -> list[PairHealth]:
    """The health of ``pairs`` (default: every configured pair) as of ``now``, saved.

    ``calendars`` (owner -> events) saves a second read of the store when the
    caller already holds them.
    """
    policy = policy_params(settings.policy)
    chosen = list(settings.pairs if pairs is None else pairs)
    if calendars is None:
        calendars = load_calendars(store, chosen)
    healths = []
    away = away_of(settings, calendars, now,
                   {email for pair in chosen for email in (pair.manager, pair.report)})
    for pair in chosen:
        events = {
            pair.manager: calendars.get(pair.manager, []),
            pair.report: calendars.get(pair.report, []),
        }
        health = evaluate_pair(events, pair_params(settings, pair), policy, now,
                               away={p: away[p] for p in (pair.manager, pair.report)})
        health = with_proposal(settings, pair, events, health, now)  # no series: a slot
        save_health(store, health, now)
        healths.append(health)
    return healths


def load_calendars(store: Store, pairs: Sequence[PairSettings]) -> dict[str, list[Event]]:
    """Every event of the people in ``pairs``, in one read of the store."""
    emails = {email for pair in pairs for email in (pair.manager, pair.report)}
    return store.events_of(emails) if emails else {}


def save_health(store: Store, health: PairHealth, now: datetime) -> None:
    """Keep a pair's evaluation: its occurrences, and its findings' history."""
    store.save_evaluation(
        health.manager,
        health.report,
        [occurrence_row(o) for o in health.occurrences],
        [finding_record(f) for f in health.findings],
        now,
    )


def stored_occurrences(store: Store, manager: str, report: str) -> list[Occurrence]:
    """The occurrences of the pair's last saved evaluation, oldest first."""
    return [occurrence_of(row) for row in store.occurrences_of(manager, report)]


def occurrence_row(occurrence: Occurrence) -> StoredOccurrence:
    return StoredOccurrence(
        original_start=occurrence.original_start,
        start=occurrence.start,
        end=occurrence.end,
        status=occurrence.status.value,
        # An excused 1:1 was bumped by nobody: its ``by`` column keeps why it
        # is excused instead ("Ana away (out of office)"), so no migration.
        by=occurrence.reason if occurrence.status is Status.EXCUSED else occurrence.by,
        in_window=occurrence.in_window,
        uid=occurrence.uid,
        title=occurrence.title,
    )


def occurrence_of(row: StoredOccurrence) -> Occurrence:
    excused = row.status == Status.EXCUSED.value
    return Occurrence(
        original_start=row.original_start,
        start=row.start,
        end=row.end,
        status=Status(row.status),
        by=None if excused else row.by,
        reason=row.by if excused else None,
        in_window=row.in_window,
        uid=row.uid,
        title=row.title,
    )


def finding_record(finding: Finding) -> FindingRecord:
    return FindingRecord(finding.kind, finding.message, finding.evidence, finding.severity)
