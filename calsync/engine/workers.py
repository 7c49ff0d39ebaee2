"""This worker's share of the team when several ``calsync run`` share one database.

A worker has an id (host:pid:random), and each cycle :meth:`Worker.renew` sends
its heartbeat, renews its leases and claims its fair share of the manager groups
(a manager with their reports: the unit that is evaluated and planned together)
and of the calendars of people in no pair. A group's worker also syncs the
calendars whose home is that group -- a manager's is their own group, anyone
else's is their manager's -- so a group is evaluated right after its own
calendars were read, never from another worker's half-finished cycle. No
calendar is synced and no pair evaluated or booked by two workers in one
cycle; the outbox's own leases and
deterministic keys keep each write once even across a takeover. A worker that
dies stops renewing: its leases expire after ``lease_ttl`` and the others take
its share at their next cycle. On SQLite (one process) the worker owns all.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.config import PairSettings, Settings
from calsync.store import Store
from calsync.store.leases import WorkerShare

MIN_TTL = timedelta(minutes=1)


def new_worker_id() -> str:
    """host:pid:random: readable in ``doctor``, unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def lease_ttl(settings: Settings) -> timedelta:
    """How long a share outlives its worker's last heartbeat."""
    daemon = settings.daemon
    return max(MIN_TTL, daemon.lease_ttl or 3 * daemon.poll_interval)


@dataclass(frozen=True, slots=True)
class Share:
    """What one worker does this cycle: people's calendars and managers' groups, by email."""

    people: frozenset[str]
    managers: frozenset[str]
    everything: bool = False

    def calendars(self, settings: Settings) -> set[str]:
        """The calendar ids (as configured) of the people in this share."""
        return {p.calendar_id for p in settings.people if p.email in self.people}

    def pairs(self, pairs: list[PairSettings]) -> list[PairSettings]:
        """The pairs of this share's groups (a pair belongs to its manager's group)."""
        return [p for p in pairs if p.manager in self.managers]


def home_groups(settings: Settings) -> dict[str, str | None]:
    """Each person's home group (by manager email), whose worker syncs their calendar.

    A manager's home is their own group; a report's, their (first) manager's; a
    person in no pair has none (their calendar is leased on its own).
    """
    managers = {p.manager for p in settings.pairs}
    first_manager: dict[str, str] = {}
    for pair in settings.pairs:
        first_manager.setdefault(pair.report, pair.manager)
    return {
        p.email: p.email if p.email in managers else first_manager.get(p.email)
        for p in settings.people
    }


def whole_team(settings: Settings) -> Share:
    return Share(
        frozenset(p.email for p in settings.people),
        frozenset(p.manager for p in settings.pairs),
        everything=True,
    )


class Worker:
    """One worker's identity and leases on one store."""

    def __init__(self, settings: Settings, store: Store, worker_id: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.id = worker_id or new_worker_id()
        self.ttl = lease_ttl(settings)
        # SQLite serves one process: leases would only divide the team by stale heartbeats.
        self.shared = store.engine.dialect.name == "postgresql"

    def renew(self, now: datetime) -> Share:
        """Heartbeat, renew, and claim this cycle's share of the team."""
        if not self.shared:
            return whole_team(self.settings)
        self.store.heartbeat(self.id, now, self.ttl)
        homes = home_groups(self.settings)
        managers = self.store.claim_leases(
            self.id, "group", set(homes.values()) - {None}, now, self.ttl
        )
        loners = self.store.claim_leases(
            self.id, "calendar", {p for p, home in homes.items() if home is None}, now, self.ttl
        )
        people = {p for p, home in homes.items() if home in managers} | loners
        return Share(frozenset(people), frozenset(managers))

    def heartbeat(self, now: datetime) -> None:
        """Keep the share through a long cycle: renew it between the cycle's steps."""
        if self.shared:
            self.store.heartbeat(self.id, now, self.ttl)

    def release(self) -> None:
        """Stopping cleanly: give the share back at once instead of after the TTL."""
        if self.shared:
            self.store.release_leases(self.id)


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One worker as ``doctor`` and ``/healthz`` show it."""

    worker: str
    alive: bool
    calendars: int
    groups: int
    lease_expires: datetime
    last_heartbeat: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.worker,
            "alive": self.alive,
            "calendars": self.calendars,
            "groups": self.groups,
            "lease_expires": self.lease_expires.isoformat(),
            "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
        }


def team_shares(settings: Settings, store: Store, now: datetime) -> list[WorkerView]:
    """Every worker that left a heartbeat: its calendars and groups (empty on SQLite)."""
    homes = home_groups(settings)
    return [_view(share, homes) for share in store.worker_shares(now)]


def _view(share: WorkerShare, homes: dict[str, str | None]) -> WorkerView:
    calendars = sum(1 for home in homes.values() if home in share.groups)
    return WorkerView(
        worker=share.worker,
        alive=share.alive,
        calendars=calendars + len(share.calendars),
        groups=len(share.groups),
        lease_expires=share.expires_at,
        last_heartbeat=share.last_heartbeat,
    )
