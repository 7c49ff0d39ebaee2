"""Evaluation one manager's group at a time, so memory follows a group, not the team.

A group is a manager and the reports of the pairs being evaluated: every
question about those pairs is answered from those calendars only. The groups
are read one after the other, and each is dropped before the next is read, so
a 10,000-pair team needs the memory of its largest group (plus the results),
not of every event of every person at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.config import PairSettings, Settings
from calsync.policies.index import CalendarIndex
from calsync.store import Store


@dataclass(frozen=True, slots=True)
class Group:
    manager: str
    pairs: tuple[PairSettings, ...]

    @property
    def owners(self) -> tuple[str, ...]:
        """The calendars the group reads: the manager's, then each report's."""
        return tuple(dict.fromkeys((self.manager, *(p.report for p in self.pairs))))


def manager_groups(pairs: Sequence[PairSettings]) -> list[Group]:
    """The pairs grouped by manager, in the order managers first appear."""
    by_manager: dict[str, list[PairSettings]] = {}
    for pair in pairs:
        by_manager.setdefault(pair.manager, []).append(pair)
    return [Group(manager, tuple(members)) for manager, members in by_manager.items()]


def read_since(settings: Settings, now: datetime) -> datetime:
    """The oldest end of an event (outside a pair's own history) evaluation can look at.

    Busy times and conflicts are only ever looked for from ``now`` on (a slot
    never starts in the past; a conflict is with an upcoming 1:1); the lookback
    and the buffer around meetings are kept, with a day to spare.
    """
    daemon = settings.daemon
    return now - max(daemon.rebook_lookback, timedelta(days=1)) - daemon.buffer - timedelta(days=1)


def load_group(store: Store, group: Group, since: datetime) -> dict[str, CalendarIndex]:
    """What evaluating the group's pairs reads, each owner's events indexed once."""
    events = store.events_for_pairs(
        group.owners, [(p.manager, p.report) for p in group.pairs], since
    )
    return {owner: CalendarIndex(found) for owner, found in events.items()}


def stream_groups(
    store: Store, settings: Settings, pairs: Sequence[PairSettings], now: datetime
) -> Iterator[tuple[Group, dict[str, CalendarIndex]]]:
    """Each group with its calendars, read when the previous one is done with.

    The mapping handed out is emptied before the next group is read: a loop
    variable still naming it then holds an empty dict, not a group of events.
    """
    since = read_since(settings, now)
    for group in manager_groups(pairs):
        calendars = load_group(store, group, since)
        yield group, calendars
        calendars.clear()
