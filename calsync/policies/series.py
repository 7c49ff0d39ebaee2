"""Which recurring series on two people's calendars is their 1:1.

A candidate is a recurring series whose people (attendees and organizer) are
exactly the pair; either may organize. Titles that read like a 1:1 and an
RRULE matching the agreed cadence rank higher. Series that were split (Google
ends the old series and starts ``<uid>_R<date>``; people also end one series
and create another) are chained when they follow each other in time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from calsync.model import Event
from calsync.policies.index import OccurrenceKey, indexed
from calsync.policies.types import PairParams
from calsync.timeutil import Cadence

_ONE_ON_ONE = re.compile(
    r"1\s*[:\-/x]\s*1|\b1\s*on\s*1\b|\bone[\s\-]*on[\s\-]*one\b|\b1o1\b|\b1:1s?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SeriesCandidate:
    uid: str
    master: Event
    title: str
    cadence: Cadence | None
    first: datetime
    last: datetime
    score: int


def _first_name(name: str, email: str) -> str:
    base = name.strip() or email.split("@", 1)[0]
    return base.split()[0].lower() if base.split() else base.lower()


def title_score(title: str, pair: PairParams) -> int:
    """How much a title reads like this pair's 1:1."""
    lowered = title.lower()
    if pair.title_hint and lowered.strip() == pair.title_hint.lower().strip():
        return 100
    score = 0
    if _ONE_ON_ONE.search(title):
        score += 10
    names = (
        _first_name(pair.manager_name, pair.manager),
        _first_name(pair.report_name, pair.report),
    )
    mentioned = sum(1 for name in names if name and re.search(rf"\b{re.escape(name)}\b", lowered))
    score += 3 * mentioned
    return score


def _rrule(master: Event) -> str | None:
    for line in master.recurrence:
        if line.upper().startswith("RRULE:"):
            return line
    return None


def candidates(
    events_by_owner: Mapping[str, Sequence[Event]], pair: PairParams
) -> list[SeriesCandidate]:
    """Every recurring series that is only the two of them, best first."""
    people = frozenset({pair.manager, pair.report})
    calendars = indexed(events_by_owner)
    masters: dict[str, Event] = {}
    # The organizer's copy wins: it is the one whose changes reach everybody.
    for owner, index in calendars.items():
        for event in index.masters_of(people):
            current = masters.get(event.uid)
            if current is None or event.organizer == owner:
                masters[event.uid] = event
    spans: dict[str, tuple[datetime, datetime]] = {}
    for index in calendars.values():
        for uid in masters:
            span = index.span_of(uid)
            if span is None:
                continue
            known = spans.get(uid)
            spans[uid] = span if known is None else (min(known[0], span[0]),
                                                     max(known[1], span[1]))
    found = []
    for uid, master in masters.items():
        rule = _rrule(master)
        cadence = Cadence.from_rrule(rule) if rule else None
        first, last = spans.get(uid) or (master.start, master.start)
        score = title_score(master.title, pair)
        if cadence == pair.cadence:
            score += 5
        elif cadence is None:
            score -= 5
        found.append(
            SeriesCandidate(uid, master, master.title, cadence, first, last, score)
        )
    found.sort(key=lambda c: (c.score, c.last, c.uid), reverse=True)
    return found


def _related(a: SeriesCandidate, b: SeriesCandidate) -> bool:
    if a.uid.startswith(b.uid + "_R") or b.uid.startswith(a.uid + "_R"):
        return True
    return _norm(a.title) == _norm(b.title) and a.cadence == b.cadence


def _norm(title: str) -> str:
    return " ".join(title.lower().split())


def choose_series(
    events_by_owner: Mapping[str, Sequence[Event]], pair: PairParams
) -> list[SeriesCandidate]:
    """The pair's 1:1 series, oldest first (several when it was split), or []."""
    ranked = [c for c in candidates(events_by_owner, pair) if c.score > 0]
    if not ranked:
        return []
    chain = [ranked[0]]
    for candidate in ranked[1:]:
        if not any(_related(candidate, member) for member in chain):
            continue
        if any(_overlap(candidate, member) for member in chain):
            continue
        chain.append(candidate)
    return sorted(chain, key=lambda c: c.first)


def _overlap(a: SeriesCandidate, b: SeriesCandidate) -> bool:
    return a.first <= b.last and b.first <= a.last


def series_events(
    events_by_owner: Mapping[str, Sequence[Event]], uids: Iterable[str]
) -> dict[OccurrenceKey, list[tuple[str, Event]]]:
    """Occurrences of the chosen series, grouped by occurrence key, with their owner."""
    wanted = list(dict.fromkeys(uids))
    grouped: dict[OccurrenceKey, list[tuple[str, Event]]] = {}
    for owner, index in indexed(events_by_owner).items():
        for uid in wanted:
            for key, event in index.occurrences_of(uid):
                grouped.setdefault(key, []).append((owner, event))
    return grouped
