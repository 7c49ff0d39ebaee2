"""The directory's roster, pure: who is in scope, what changed, and the effective settings.

Three functions, no I/O:

- :func:`plan_update`: one source's complete read against what the store
  holds for it -> the store update and the difference shown to a person (new
  people, new pairs, manager changes, departures);
- :func:`effective_settings`: the TOML merged with the stored roster. Every
  command uses it, so sync, check, report and the web app see directory pairs
  without knowing where a pair came from. The TOML wins for any key it sets on
  a person or a pair; pairs the directory ended become ``ended_pairs``;
- :func:`scope_of`: the first scope of a source that covers a report.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from calsync.config import (
    CsvDirectory,
    EndedPair,
    GoogleDirectory,
    GraphDirectory,
    PairSettings,
    Person,
    Settings,
)
from calsync.providers.directory.entries import DirectoryEntry, DirectoryListing
from calsync.store.directory import Roster, RosterPair, RosterPerson, RosterUpdate
from calsync.timeutil import WorkingHours

log = logging.getLogger(__name__)
SourceSettings = GraphDirectory | GoogleDirectory | CsvDirectory


@dataclass(frozen=True, slots=True)
class Difference:
    """What applying one source's read changes, in words a person checks before applying."""

    source: str
    new_people: tuple[str, ...] = ()
    new_pairs: tuple[tuple[str, str], ...] = ()  # (manager, report)
    manager_changes: tuple[tuple[str, str, str], ...] = ()  # (report, old, new manager)
    departures: tuple[str, ...] = ()
    ended: tuple[tuple[str, str, str], ...] = ()  # (manager, report, reason)
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.new_people or self.new_pairs or self.manager_changes
                    or self.departures or self.ended)


def scope_of(
    source: SourceSettings, entry: DirectoryEntry, listed: Mapping[str, DirectoryEntry]
) -> int | None:
    """The index of the first scope of ``source`` covering ``entry`` as a report, or None."""
    for index, scope in enumerate(source.scopes):
        if scope.root is not None:
            if _under(entry, scope.root, scope.depth, listed):
                return index
        elif scope.org_units:
            unit = entry.org_unit or ""
            if any(unit == u or u == "/" or unit.startswith(u + "/") for u in scope.org_units):
                return index
        elif scope.groups:
            mine = {g.lower() for g in entry.groups}
            if any(g.lower() in mine for g in scope.groups):
                return index
        else:
            return index
    return None


def _under(entry: DirectoryEntry, root: str, depth: int | None,
           listed: Mapping[str, DirectoryEntry]) -> bool:
    """Whether ``root`` is ``entry``'s manager, or theirs..., at most ``depth`` levels up."""
    level, current, seen = 1, entry.manager, {entry.email}
    while current is not None and current not in seen:
        if current == root:
            return depth is None or level <= depth
        seen.add(current)
        above = listed.get(current)
        current = above.manager if above is not None else None
        level += 1
    return False


def plan_update(
    source: SourceSettings,
    listing: DirectoryListing,
    stored: Roster,
    known: Collection[str] = (),
) -> tuple[RosterUpdate, Difference]:
    """One source's complete read against its stored roster.

    ``known``: emails the TOML lists, who may manage people the source lists.
    Only a complete read reaches here (a failed one raised), so people missing
    from ``listing`` have left.
    """
    name = source.label
    listed = {e.email: e for e in listing.entries}
    people = tuple(
        RosterPerson(name, e.email, e.name, e.manager, e.timezone,
                     e.working_hours.text if e.working_hours else None)
        for e in listing.entries
    )
    wanted: dict[str, tuple[str, int]] = {}  # report -> (manager, scope)
    for entry in listing.entries:
        if entry.manager is None or (entry.manager not in listed and entry.manager not in known):
            continue
        scope = scope_of(source, entry, listed)
        if scope is not None:
            wanted[entry.email] = (entry.manager, scope)

    present = {p.email for p in stored.people if p.left_at is None}
    open_by_report = {p.report: p for p in stored.pairs if p.ended_at is None}
    started: list[tuple[str, str, int]] = []
    ended: list[tuple[str, str, str]] = []
    rescoped: list[tuple[str, str, int]] = []
    new_pairs: list[tuple[str, str]] = []
    changes: list[tuple[str, str, str]] = []
    for report, (manager, scope) in wanted.items():
        current = open_by_report.get(report)
        if current is None:
            started.append((manager, report, scope))
            new_pairs.append((manager, report))
        elif current.manager != manager:
            ended.append((current.manager, report, f"{report} now reports to {manager}"))
            started.append((manager, report, scope))
            changes.append((report, current.manager, manager))
        elif current.scope != scope:
            rescoped.append((manager, report, scope))
    departures = tuple(sorted(present - set(listed)))
    for report, current in open_by_report.items():
        if report in wanted:
            continue
        if report not in listed:
            reason = f"{report} left the directory"
        elif current.manager not in listed and current.manager not in known:
            reason = f"{current.manager} left the directory"
        elif listed[report].manager is None:
            reason = f"{report} has no manager in the directory"
        elif listed[report].manager != current.manager:
            reason = f"{report} now reports to {listed[report].manager}, outside the scopes"
        else:
            reason = f"{report} is no longer in any scope of {name}"
        ended.append((current.manager, report, reason))
    update = RosterUpdate(name, people, departures, tuple(started), tuple(ended),
                          tuple(rescoped))
    difference = Difference(
        name,
        new_people=tuple(sorted(set(listed) - present)),
        new_pairs=tuple(sorted(new_pairs)),
        manager_changes=tuple(sorted(changes)),
        departures=departures,
        ended=tuple(sorted(e for e in ended if e[1] not in {c[0] for c in changes})),
        notes=listing.notes,
    )
    return update, difference


def effective_settings(settings: Settings, roster: Roster) -> Settings:
    """The TOML's settings with the directory's people and pairs merged in.

    The TOML wins for every key it sets on a person or a pair; the rest comes
    from the directory (a person's zone and hours; the holiday region of the
    report's scope, else of the source) or the pair's scope
    (cadence, duration, min_duration, rebook, setup). A source no longer configured
    is ignored. Pairs the directory ended become ``ended_pairs`` unless the
    TOML lists them.
    """
    sources = {s.label: s for s in settings.directory.sources}
    if not sources:
        return settings
    toml_people = {p.email: p for p in settings.people}
    toml_pairs = {p.key: p for p in settings.pairs}

    found: dict[str, tuple[SourceSettings, RosterPerson]] = {}
    for person in roster.people:
        if person.source in sources and person.left_at is None and person.email not in found:
            found[person.email] = (sources[person.source], person)

    directory_pairs: dict[str, PairSettings] = {}
    # A report's holiday region comes from the scope covering their pair.
    regions: dict[str, str] = {}
    for pair in roster.pairs:
        source = sources.get(pair.source)
        key = f"{pair.manager}|{pair.report}"
        if source is None or pair.ended_at is not None or key in directory_pairs:
            continue
        if not all(e in found or e in toml_people for e in (pair.manager, pair.report)):
            continue  # a stale row: the person's source row says they left
        scope = source.scopes[min(pair.scope, len(source.scopes) - 1)]
        if scope.holidays:
            regions.setdefault(pair.report, scope.holidays)
        data: dict[str, Any] = {"manager": pair.manager, "report": pair.report,
                                **scope.pair_defaults()}
        directory_pairs[key] = PairSettings.model_validate(_overlay(data, toml_pairs.get(key)))

    pairs = [directory_pairs.get(p.key) or p for p in settings.pairs]
    pairs += [p for key, p in directory_pairs.items() if key not in toml_pairs]
    needed = {e for p in pairs for e in (p.manager, p.report) if e in found}
    known = set(toml_people) | needed
    for pair in [p for p in pairs if not {p.manager, p.report} <= known]:
        # A [[pairs]] override of a pair the directory does not (or no longer) give.
        missing = sorted({pair.manager, pair.report} - known)
        log.warning("pair %s / %s: %s in neither [[people]] nor the directory; skipped",
                    pair.manager, pair.report, " and ".join(missing))
        pairs.remove(pair)

    people = []
    for person in settings.people:
        people.append(_person(*found[person.email], person, region=regions.get(person.email))
                      if person.email in found else person)
    people += [_person(*found[e], region=regions.get(e))
               for e in sorted(needed - set(toml_people))]

    active = {p.key for p in pairs}
    ended: dict[str, RosterPair] = {}
    for pair in roster.pairs:
        key = f"{pair.manager}|{pair.report}"
        if pair.source in sources and pair.ended_at is not None and key not in active:
            ended[key] = pair  # the latest stretch wins (rows are oldest first)
    ended_pairs = tuple(
        EndedPair(manager=p.manager, report=p.report, ended=p.ended_at.date(),
                  reason=p.end_reason or "")
        for p in ended.values() if p.ended_at is not None
    )
    return settings.model_copy(
        update={"people": people, "pairs": pairs, "ended_pairs": ended_pairs}
    )


def _overlay(data: dict[str, Any], toml: PairSettings | Person | None) -> dict[str, Any]:
    """``data`` with every key the TOML set on ``toml`` taking precedence."""
    if toml is None:
        return data
    return {**data, **{k: getattr(toml, k) for k in toml.model_fields_set}}


def _person(
    source: SourceSettings,
    row: RosterPerson,
    toml: Person | None = None,
    *,
    region: str | None = None,
) -> Person:
    hours = source.working_hours
    if row.working_hours:
        # Checked when read; a row calsync can no longer parse keeps the default.
        with suppress(ValueError):
            hours = WorkingHours.parse(row.working_hours)
    data: dict[str, Any] = {
        "email": row.email,
        "name": row.name,
        "timezone": row.timezone or source.timezone,
        "working_hours": hours,
        "provider": source.provider,
        "holidays": region or source.holidays,
    }
    return Person.model_validate(_overlay(data, toml))
