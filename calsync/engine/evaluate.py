"""Run the pure policies over what the store holds, and keep the results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from calsync.config import PairSettings, PolicySettings, Settings
from calsync.model import Event
from calsync.policies import PairHealth, PairParams, PolicyParams, evaluate_pair
from calsync.store import Store


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
    for pair in chosen:
        events = {
            pair.manager: calendars.get(pair.manager, []),
            pair.report: calendars.get(pair.report, []),
        }
        health = evaluate_pair(events, pair_params(settings, pair), policy, now)
        store.save_health(health, now)
        healths.append(health)
    return healths


def load_calendars(store: Store, pairs: Sequence[PairSettings]) -> dict[str, list[Event]]:
    """Every event of the people in ``pairs``, in one read of the store."""
    emails = {email for pair in pairs for email in (pair.manager, pair.report)}
    return store.events_of(emails) if emails else {}
