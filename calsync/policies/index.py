"""One owner's events, indexed once for every pair that reads them. Pure.

A manager's calendar is read by each of their reports' evaluations; scanning
it whole for every question (which series is the 1:1, which copies belong to
it, which make-ups exist, what clashes with an occurrence) made evaluation
cost grow with calendar size times questions. ``CalendarIndex`` answers each
question from a dictionary built in one pass, and computes every occurrence
key once.

``CalendarIndex`` is itself a ``Sequence[Event]`` (the events in their given
order), so code that only iterates an owner's events keeps working when it is
handed one. The policies call ``indexed`` on what they receive: an index is
used as it is, a plain sequence is indexed on the spot.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import overload

from calsync.model import Event, EventStatus

# An occurrence is its series and its original start (``model.Event``'s identity);
# the pair compares and hashes in a fraction of the time of ``Event.key``'s string.
OccurrenceKey = tuple[str, datetime]


class CalendarIndex(Sequence[Event]):
    """One owner's events with the lookups evaluation needs, built in one pass."""

    __slots__ = (
        "__weakref__",
        "_block_ends",
        "_block_span",
        "_block_starts",
        "_blocking",
        "_events",
        "_keys",
        "_masters",
        "_occurrences",
        "_series",
        "_spans",
        "_tagged",
        "_uids",
    )

    def __init__(self, events: Sequence[Event]) -> None:
        self._events = tuple(events)
        # Series masters by their people (attendees and organizer).
        self._masters: dict[frozenset[str], list[Event]] = {}
        # Every series master, in the given order.
        self._series: list[Event] = []
        # Every event by uid with its position: built when the agenda first asks.
        self._uids: dict[str, list[tuple[int, Event]]] | None = None
        # Occurrences by uid, and with their keys once a pair asks for that series.
        self._occurrences: dict[str, list[Event]] = {}
        self._keys: dict[str, list[tuple[OccurrenceKey, Event]]] = {}
        # Earliest and latest original start of a series' occurrences, once asked.
        self._spans: dict[str, tuple[datetime, datetime] | None] = {}
        # Events calsync tagged with a pair (make-ups), by pair key.
        self._tagged: dict[str, list[tuple[int, Event]]] = {}
        # Timed events that may block: not series, not all day, not cancelled, opaque.
        blocking: list[tuple[datetime, int, Event]] = []
        occurrences = self._occurrences
        cancelled = EventStatus.CANCELLED
        for position, event in enumerate(self._events):
            if event.recurrence:
                self._series.append(event)
                self._masters.setdefault(event.emails, []).append(event)
            if event.original_start is not None:
                bucket = occurrences.get(event.uid)
                if bucket is None:
                    occurrences[event.uid] = [event]
                else:
                    bucket.append(event)
            if event.tags:
                pair = event.tags.get("pair")
                if pair is not None:
                    self._tagged.setdefault(pair, []).append((position, event))
            if not (event.recurrence or event.all_day or event.transparent
                    or event.status is cancelled):
                blocking.append((event.start, position, event))
        blocking.sort()  # by start, then position: positions are unique, events never compared
        self._blocking = blocking
        self._block_starts = [start for start, _, _ in blocking]
        self._block_ends = [event.end for _, _, event in blocking]
        self._block_span = max(
            (event.end - event.start for _, _, event in blocking), default=timedelta(0)
        )

    # -- Sequence[Event] -------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self._events[index]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CalendarIndex):
            return self._events == other._events
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self._events) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so not hashable

    def __repr__(self) -> str:
        return f"CalendarIndex({len(self._events)} events)"

    # -- lookups ---------------------------------------------------------------------

    def masters_of(self, people: frozenset[str]) -> Sequence[Event]:
        """Series masters whose people are exactly ``people``, in the given order."""
        return self._masters.get(people, ())

    def masters(self) -> Sequence[Event]:
        """Every series master, in the given order."""
        return self._series

    def related(self, uids: Iterable[str], pair_key: str) -> list[Event]:
        """Events with one of ``uids`` or tagged with the pair, in the given order."""
        if self._uids is None:
            self._uids = {}
            for position, event in enumerate(self._events):
                self._uids.setdefault(event.uid, []).append((position, event))
        found = dict(self._tagged.get(pair_key, ()))
        for uid in uids:
            found.update(self._uids.get(uid, ()))
        return [found[position] for position in sorted(found)]

    def occurrences_of(self, uid: str) -> Sequence[tuple[OccurrenceKey, Event]]:
        """(occurrence key, event) of each occurrence of the series ``uid``."""
        keyed = self._keys.get(uid)
        if keyed is None:
            # Computed once per series and calendar, whichever pair asks first.
            keyed = self._keys[uid] = [
                ((uid, event.original_start), event)
                for event in self._occurrences.get(uid, ())
                if event.original_start is not None
            ]
        return keyed

    def span_of(self, uid: str) -> tuple[datetime, datetime] | None:
        """Earliest and latest original start among the series' occurrences."""
        if uid not in self._spans:
            starts = [e.original_start for e in self._occurrences.get(uid, ())
                      if e.original_start is not None]
            self._spans[uid] = (min(starts), max(starts)) if starts else None
        return self._spans[uid]

    def tagged(self, pair_key: str) -> Sequence[Event]:
        """Events calsync tagged with this pair (its make-ups), in the given order."""
        return [event for _, event in self._tagged.get(pair_key, ())]

    def blocking_over(self, start: datetime, end: datetime) -> list[Event]:
        """Timed, opaque, not cancelled, non-series events overlapping [start, end).

        In the given order of the events, like a scan of the whole calendar.
        """
        low = bisect_left(self._block_starts, start - self._block_span)
        high = bisect_left(self._block_starts, end)
        hits = [
            self._blocking[i] for i in range(low, high) if self._block_ends[i] > start
        ]
        hits.sort(key=lambda item: item[1])
        return [event for _, _, event in hits]


def indexed(events_by_owner: Mapping[str, Sequence[Event]]) -> dict[str, CalendarIndex]:
    """Each owner's events as a ``CalendarIndex`` (an index passed in is used as it is)."""
    return {
        owner: events if isinstance(events, CalendarIndex) else CalendarIndex(events)
        for owner, events in events_by_owner.items()
    }
