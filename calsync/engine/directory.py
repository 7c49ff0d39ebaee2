"""``people sync``: read every directory source, show the difference, apply it.

Each source is read whole. A source that fails (network, permission, a CSV
with bad rows) is reported and changes nothing, so a failed or partial read
never ends a pair; the sources that read are applied, each in one
transaction. ``dry_run`` computes the same difference and stores nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from calsync.config import EndedPair, Settings
from calsync.engine.evaluate import stored_occurrences
from calsync.engine.roster import Difference, effective_settings, plan_update
from calsync.policies import Occurrence
from calsync.providers.directory.entries import (
    DirectoryError,
    DirectoryInputError,
    DirectoryReader,
)
from calsync.providers.directory.sources import open_directories
from calsync.store import Store

log = logging.getLogger(__name__)

#: More departures than this (and than half a source) in one read need --force.
MASS_DEPARTURE = 3


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    source: str
    difference: Difference | None = None
    error: DirectoryError | None = None

    @property
    def bad_input(self) -> bool:
        return isinstance(self.error, DirectoryInputError)


def people_sync(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    dry_run: bool = False,
    force: bool = False,
    readers: dict[str, DirectoryReader] | None = None,
) -> list[SourceOutcome]:
    """Read each source of the TOML ``settings`` and apply (or, dry, only compute) it.

    A read that would have more than half the people a source listed (and more
    than ``MASS_DEPARTURE``) leave at once is refused unless ``force``.
    """
    known = {p.email for p in settings.people}
    if readers is None:
        with open_directories(settings, known=known) as opened:
            return people_sync(settings, store, now, dry_run=dry_run, force=force,
                               readers=opened)
    roster = store.directory_roster()
    outcomes = []
    for source in settings.directory.sources:
        try:
            listing = readers[source.label].read()
        except DirectoryError as exc:
            log.warning("directory %s: %s", source.label, exc.message)
            outcomes.append(SourceOutcome(source.label, error=exc))
            continue
        stored = roster.of(source.label)
        update, difference = plan_update(source, listing, stored, known)
        present = sum(1 for p in stored.people if p.left_at is None)
        if not force and len(update.left) > max(MASS_DEPARTURE, present // 2):
            # Like a calendar that suddenly looks empty: more likely a wrong scope,
            # a truncated export or a changed permission than half the company leaving.
            outcomes.append(SourceOutcome(source.label, difference, DirectoryError(
                source.label, f"{len(update.left)} of the {present} people it listed before "
                "are missing: nothing applied (if they really left, run `calsync people "
                "sync --force`)")))
            continue
        if not dry_run:
            store.apply_directory(update, now)
        outcomes.append(SourceOutcome(source.label, difference))
    return outcomes


def with_directory(settings: Settings, store: Store) -> Settings:
    """The effective settings: the TOML merged with the stored roster."""
    if not settings.directory.sources:
        return settings
    return effective_settings(settings, store.directory_roster())


@dataclass(frozen=True, slots=True)
class EndedHistory:
    """A pair the directory ended, with the 1:1s of its last evaluation (its history)."""

    pair: EndedPair
    occurrences: tuple[Occurrence, ...] = ()


def ended_histories(settings: Settings, store: Store) -> list[EndedHistory]:
    """Every ended pair of the effective settings, with its last evaluated occurrences."""
    out = []
    for pair in settings.ended_pairs:
        try:
            occurrences = tuple(stored_occurrences(store, pair.manager, pair.report))
        except LookupError:
            occurrences = ()  # ended before any command evaluated it
        out.append(EndedHistory(pair, occurrences))
    return out


def display_name(settings: Settings, email: str) -> str:
    """A person's display name; the address's local part once they left."""
    try:
        return settings.person(email).display
    except KeyError:
        return email.split("@", 1)[0]


def refresh(toml: Settings, store: Store, now: datetime) -> Settings:
    """The daemon's daily read: apply every source that reads, log the rest; new settings."""
    for outcome in people_sync(toml, store, now):
        if outcome.error is not None:
            log.warning("directory %s not refreshed: %s", outcome.source, outcome.error.message)
        elif outcome.difference is not None and not outcome.difference.empty:
            d = outcome.difference
            log.info("directory %s: %d new people, %d new pairs, %d manager changes, "
                     "%d departures", outcome.source, len(d.new_people), len(d.new_pairs),
                     len(d.manager_changes), len(d.departures))
    return with_directory(toml, store)
