"""calsync's Prometheus metrics, served by the daemon at ``GET /metrics``.

The metrics live in calsync's own :data:`REGISTRY`, not in prometheus_client's
global default registry: importing calsync never adds collectors to a host
application, and the process/platform collectors stay out of the output.

The rest of the code calls the small ``record_*``/``set_*``/``observe_*``
functions below and never touches prometheus_client itself. Outcome labels are
a closed set: an unknown outcome is a programming error (ValueError), so the
label cardinality stays bounded. ``provider`` comes from the configuration (a
provider's name, or for push the kind ``google``/``outlook``), never a
calendar or a person.

Each ``calsync run`` process has its own counters; with several workers,
Prometheus scrapes each one and ``sum()`` adds them up.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "API_OUTCOMES",
    "CONTENT_TYPE",
    "EMAIL_OUTCOMES",
    "PUSH_OUTCOMES",
    "REBOOK_OUTCOMES",
    "REGISTRY",
    "SYNC_OUTCOMES",
    "observe_cycle",
    "record_api_call",
    "record_email",
    "record_push",
    "record_rebook",
    "record_sync",
    "render",
    "set_findings",
]

#: What ``GET /metrics`` answers with: the text exposition format 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SYNC_OUTCOMES = frozenset({"ok", "error", "unchanged"})
API_OUTCOMES = frozenset({"ok", "retry", "error"})
REBOOK_OUTCOMES = frozenset({"booked", "no_slot", "failed"})
EMAIL_OUTCOMES = frozenset({"sent", "failed"})
PUSH_OUTCOMES = frozenset({"accepted", "rejected"})

#: A cycle syncs, evaluates, acts and mails: from under a second to minutes.
CYCLE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

REGISTRY = CollectorRegistry(auto_describe=True)

SYNCS = Counter(
    "calsync_syncs",
    "Calendar syncs by provider and outcome (ok, error, unchanged).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
API_CALLS = Counter(
    "calsync_api_calls",
    "Calendar API calls by provider and outcome (ok, retry, error).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
FINDINGS = Gauge(
    "calsync_findings",
    "Open findings of the last evaluation, by kind.",
    ["kind"],
    registry=REGISTRY,
)
REBOOKS = Counter(
    "calsync_rebooks",
    "Make-up 1:1s calsync tried to book, by outcome (booked, no_slot, failed).",
    ["outcome"],
    registry=REGISTRY,
)
EMAILS = Counter(
    "calsync_email_sends",
    "Digest emails, by outcome (sent, failed).",
    ["outcome"],
    registry=REGISTRY,
)
PUSHES = Counter(
    "calsync_push_notifications",
    "Push notifications received, by provider kind and outcome (accepted, rejected).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
CYCLE_SECONDS = Histogram(
    "calsync_cycle_seconds",
    "Duration of one daemon cycle (sync, evaluate, act, report).",
    buckets=CYCLE_BUCKETS,
    registry=REGISTRY,
)
LAST_CYCLE = Gauge(
    "calsync_last_cycle_timestamp_seconds",
    "Unix time when the last daemon cycle finished (alert when it gets old).",
    registry=REGISTRY,
)

# The closed label sets exist from the start, at zero, so rate() and absent()
# work before the first event.
for _outcome in sorted(REBOOK_OUTCOMES):
    REBOOKS.labels(outcome=_outcome)
for _outcome in sorted(EMAIL_OUTCOMES):
    EMAILS.labels(outcome=_outcome)

_findings_lock = threading.Lock()
_finding_kinds: set[str] = set()


def _check(outcome: str, allowed: frozenset[str], what: str) -> str:
    if outcome not in allowed:
        raise ValueError(f"{what} outcome {outcome!r} is not one of {sorted(allowed)}")
    return outcome


def _provider(provider: str) -> str:
    if not provider:
        raise ValueError("provider label is empty")
    return provider


def record_sync(provider: str, outcome: str) -> None:
    """One calendar synced: ``ok`` (changes applied), ``unchanged`` or ``error``."""
    SYNCS.labels(_provider(provider), _check(outcome, SYNC_OUTCOMES, "sync")).inc()


def record_api_call(provider: str, outcome: str) -> None:
    """One API request: ``ok``, ``retry`` (it will be retried) or ``error`` (gave up)."""
    API_CALLS.labels(_provider(provider), _check(outcome, API_OUTCOMES, "api call")).inc()


def set_findings(counts: Mapping[str, int]) -> None:
    """The open findings per kind after an evaluation.

    A kind seen earlier but missing from ``counts`` drops to 0, so a resolved
    finding does not stay on the dashboard with its old value.
    """
    with _findings_lock:
        for kind in _finding_kinds - set(counts):
            FINDINGS.labels(kind=kind).set(0)
        for kind, count in counts.items():
            if count < 0:
                raise ValueError(f"finding count for {kind!r} is negative: {count}")
            FINDINGS.labels(kind=kind).set(count)
        _finding_kinds.update(counts)


def record_rebook(outcome: str) -> None:
    """One make-up attempt: ``booked``, ``no_slot`` or ``failed``."""
    REBOOKS.labels(outcome=_check(outcome, REBOOK_OUTCOMES, "rebook")).inc()


def record_email(outcome: str) -> None:
    """One digest email: ``sent`` or ``failed``."""
    EMAILS.labels(outcome=_check(outcome, EMAIL_OUTCOMES, "email")).inc()


def record_push(provider: str, outcome: str) -> None:
    """One push notification (one Graph item): ``accepted`` or ``rejected``."""
    PUSHES.labels(_provider(provider), _check(outcome, PUSH_OUTCOMES, "push")).inc()


def observe_cycle(seconds: float, finished_at: datetime) -> None:
    """A daemon cycle took ``seconds`` and finished at ``finished_at`` (timezone-aware)."""
    if finished_at.tzinfo is None:
        raise ValueError("finished_at must be timezone-aware")
    CYCLE_SECONDS.observe(max(0.0, seconds))
    LAST_CYCLE.set(finished_at.timestamp())


def render() -> bytes:
    """All calsync metrics in the Prometheus text format (serve with :data:`CONTENT_TYPE`)."""
    return generate_latest(REGISTRY)
