"""Which 1:1s were bumped and need a make-up, and which make-ups exist. Pure.

An upcoming or just-missed occurrence is bumped when it is cancelled, when
either person declines it, when it is moved out of its cadence window, or when
either person has accepted another meeting over it. A move inside the window
is respected. A 1:1 that another scheduling tool manages is left alone.

Make-ups are events calsync created, tagged with the pair (``pair``), the
regular start they replace (``for``) and their key. A make-up that was itself
cancelled or declined is "bumped"; the next attempt gets a new key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.model import Event, EventStatus, Response, to_utc
from calsync.policies.index import indexed
from calsync.policies.types import Occurrence, PairParams, Status

MAX_MAKEUP_ATTEMPTS = 2  # the make-up and one re-booking of it; then a finding instead
TOOL_MARKERS = ("reclaim.ai", "clockwise", "getclockwise.com", "motion.app")


def makeup_key(pair_key: str, original_start: datetime, attempt: int) -> str:
    """The deterministic key of one make-up: the same bump always gets the same key."""
    stamp = to_utc(original_start).strftime("%Y%m%dT%H%M%SZ")
    return f"makeup|{pair_key}|{stamp}|{attempt}"


def agenda_key(calendar: str, remote_id: str, block_digest: str) -> str:
    return f"agenda|{calendar}|{remote_id}|{block_digest}"


@dataclass(frozen=True, slots=True)
class MakeUp:
    for_start: datetime
    attempt: int
    start: datetime
    end: datetime
    uid: str
    bumped: bool
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Bump:
    original_start: datetime
    start: datetime
    end: datetime
    reason: str  # cancelled | declined | moved_out | conflict
    by: str | None
    detail: str
    attempt: int  # the make-up attempt this bump calls for (1, 2, ...)


def managed_by_tool(event: Event) -> str | None:
    """The scheduling tool that manages an event, if its markers say so."""
    text = f"{event.title}\n{event.description}".lower()
    for marker in TOOL_MARKERS:
        if marker in text:
            return marker.split(".")[0].capitalize()
    return None


def _declined_by(event: Event, people: Sequence[str]) -> str | None:
    for person in people:
        if event.response_of(person) is Response.DECLINED:
            return person
    return None


def makeups_of(
    events_by_owner: Mapping[str, Sequence[Event]], pair: PairParams
) -> dict[datetime, list[MakeUp]]:
    """The pair's make-ups, grouped by the regular start they replace, by attempt."""
    people = (pair.manager, pair.report)
    copies: dict[str, list[tuple[str, Event]]] = {}
    for owner, index in indexed(events_by_owner).items():
        for event in index.tagged(pair.key):
            if event.tags.get("for"):
                copies.setdefault(event.uid, []).append((owner, event))
    out: dict[datetime, list[MakeUp]] = {}
    for uid, found in copies.items():
        main = next((e for owner, e in found if owner == e.organizer), found[0][1])
        try:
            for_start = to_utc(datetime.fromisoformat(main.tags["for"].replace("Z", "+00:00")))
            attempt = int(main.tags.get("attempt", "1"))
        except ValueError:
            continue
        cancelled = any(e.status is EventStatus.CANCELLED for _, e in found)
        declined = None
        for owner, event in found:
            declined = declined or _declined_by(event, [owner]) or _declined_by(event, people)
        out.setdefault(for_start, []).append(
            MakeUp(
                for_start=for_start,
                attempt=attempt,
                start=main.start,
                end=main.end,
                uid=uid,
                bumped=cancelled or declined is not None,
                by=main.organizer if cancelled else declined,
            )
        )
    for makeups in out.values():
        makeups.sort(key=lambda m: m.attempt)
    return out


def with_makeups(
    occurrences: Sequence[Occurrence], makeups: Mapping[datetime, Sequence[MakeUp]]
) -> list[Occurrence]:
    """Occurrences whose missed 1:1 was made up become ``made_up`` at the make-up's time."""
    out = []
    for occurrence in occurrences:
        live = [m for m in makeups.get(occurrence.original_start, ()) if not m.bumped]
        # A live make-up supersedes the occurrence, whatever became of it: after a
        # conflict the original may still sit on the calendar, unattended.
        if live:
            makeup = live[-1]
            occurrence = Occurrence(
                original_start=occurrence.original_start,
                start=makeup.start,
                end=makeup.end,
                status=Status.MADE_UP,
                by=occurrence.by,
                in_window=True,
                uid=makeup.uid,
                title=occurrence.title,
            )
        out.append(occurrence)
    return out


def _conflict(
    occurrence: Occurrence, events_by_owner: Mapping[str, Sequence[Event]], pair: PairParams
) -> tuple[str, Event] | None:
    """Another meeting either person accepted over this occurrence."""
    calendars = indexed(events_by_owner)
    for person in (pair.manager, pair.report):
        index = calendars.get(person)
        if index is None:
            continue
        # Only timed, opaque, live, non-series events overlapping it, in calendar order.
        for event in index.blocking_over(occurrence.start, occurrence.end):
            if event.uid == occurrence.uid:
                continue
            if event.tags.get("pair") == pair.key:
                continue  # our own make-up
            response = event.response_of(person)
            if response is Response.ACCEPTED or (event.organizer == person and response is None):
                return person, event
    return None


def detect_bumps(
    occurrences: Sequence[Occurrence],
    events_by_owner: Mapping[str, Sequence[Event]],
    pair: PairParams,
    now: datetime,
    lookback: timedelta = timedelta(days=1),
    horizon: timedelta | None = None,
) -> list[Bump]:
    """Bumps that call for a make-up now: just missed (``lookback``) or ahead (``horizon``).

    The horizon defaults to one cadence period: far-off conflicts may still
    resolve themselves.
    """
    horizon = horizon if horizon is not None else pair.cadence.period
    events_by_owner = indexed(events_by_owner)  # once for every occurrence's conflicts
    makeups = makeups_of(events_by_owner, pair)
    bumps = []
    for occurrence in occurrences:
        if not now - lookback <= occurrence.original_start < now + horizon:
            continue
        earlier = makeups.get(occurrence.original_start, [])
        if any(not m.bumped for m in earlier):
            continue  # already made up
        attempt = len(earlier) + 1
        reason, by, detail = _bump_reason(occurrence, events_by_owner, pair, now)
        if reason is None:
            continue
        if earlier and earlier[-1].bumped:
            detail += f"; the make-up on {earlier[-1].start:%a %d %b %H:%M} UTC was bumped too"
        bumps.append(
            Bump(
                original_start=occurrence.original_start,
                start=occurrence.start,
                end=occurrence.end,
                reason=reason,
                by=by,
                detail=detail,
                attempt=attempt,
            )
        )
    return bumps


def _bump_reason(
    occurrence: Occurrence,
    events_by_owner: Mapping[str, Sequence[Event]],
    pair: PairParams,
    now: datetime,
) -> tuple[str | None, str | None, str]:
    if occurrence.status is Status.CANCELLED:
        return "cancelled", occurrence.by, "cancelled"
    if occurrence.status is Status.DECLINED:
        return "declined", occurrence.by, "declined"
    if occurrence.status is Status.MOVED and occurrence.in_window is False:
        return "moved_out", None, "moved out of its cadence window"
    if occurrence.start >= now and occurrence.status in (
        Status.UPCOMING,
        Status.SHORTENED,
        Status.MOVED,
    ):
        clash = _conflict(occurrence, events_by_owner, pair)
        if clash is not None:
            person, event = clash
            return "conflict", person, f"{person} accepted \u201c{event.title}\u201d over it"
    return None, None, ""
