"""A pair's record in plain words, for either person (pure: no I/O, no clock).

The weekly email speaks to the manager ("cancelled by you"); the report's own
page (``/me``) speaks to the report. ``record_entries`` turns the record's
past occurrences into lines addressed to whoever reads them, in their zone:
held, cancelled and by whom, moved, made up. A status this module does not
know (a newer calsync may record more) is shown as its name, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync.policies.health import adherence
from calsync.policies.meeting import past_occurrences
from calsync.policies.types import Occurrence


@dataclass(frozen=True, slots=True)
class RecordEntry:
    start: datetime  # when it took (or was to take) place
    status: str  # the record's status value: a CSS class and a chip
    text: str  # "cancelled by Maria", addressed to the reader


@dataclass(frozen=True, slots=True)
class RecordSummary:
    entries: tuple[RecordEntry, ...]  # newest first
    adherence_4: float | None
    adherence_12: float | None


def _when(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def entry_text(occurrence: Occurrence, reader: str, name: Callable[[str], str],
               zone: ZoneInfo) -> str:
    status = str(getattr(occurrence.status, "value", occurrence.status))
    who = "someone" if not occurrence.by else "you" if occurrence.by == reader \
        else name(occurrence.by)
    regular = _when(occurrence.original_start, zone)
    if status in ("cancelled", "declined"):
        return f"{status} by {who}"
    if status == "made_up":
        return f"made up on {_when(occurrence.start, zone)} (was {regular})"
    if status == "moved":
        if occurrence.in_window is False:
            return f"moved out of its period (was {regular})"
        return f"held, moved from {regular}"
    if status == "shortened":
        return f"held, shortened to {occurrence.minutes} minutes"
    if status == "missed":
        return "nothing on the calendar"
    if status == "excused":  # someone was away: the reason says who, or which holiday
        return f"excused: {occurrence.reason}" if occurrence.reason else "excused"
    return status.replace("_", " ")


def record_summary(occurrences: Sequence[Occurrence], reader: str, name: Callable[[str], str],
                   zone: ZoneInfo, now: datetime, *, limit: int = 12) -> RecordSummary:
    """The last ``limit`` 1:1s of the record, newest first, and the adherence over 4 and 12."""
    past = past_occurrences(occurrences, now)[:limit]
    entries = tuple(
        RecordEntry(o.start, str(getattr(o.status, "value", o.status)),
                    entry_text(o, reader, name, zone))
        for o in past
    )
    return RecordSummary(entries, adherence(occurrences, now, 4),
                         adherence(occurrences, now, 12))
