"""Values the policies take and return. Plain data: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

from calsync.timeutil import Cadence


class Status(StrEnum):
    HELD = "held"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    MOVED = "moved"
    SHORTENED = "shortened"
    UPCOMING = "upcoming"
    # Bumped, and calsync (or someone) booked a make-up inside its window.
    MADE_UP = "made_up"
    # An expected period with nothing on either calendar (the series ended).
    MISSED = "missed"
    # Fell while either person was away (leave, out of office, public holiday):
    # neither kept nor missed, and no make-up is owed.
    EXCUSED = "excused"


# Statuses that mean the 1:1 did not happen in its period.
NOT_HELD = frozenset({Status.CANCELLED, Status.DECLINED, Status.MISSED})


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One expected 1:1 of a pair, keyed by the start the cadence gave it."""

    original_start: datetime
    start: datetime
    end: datetime
    status: Status
    by: str | None = None  # who cancelled or declined
    in_window: bool | None = None  # for moves: still inside the cadence window?
    uid: str | None = None
    title: str = ""
    reason: str | None = None  # why it is excused: "Ana away (out of office)"

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def moved(self) -> bool:
        return self.start != self.original_start

    @property
    def kept(self) -> bool:
        """The 1:1 took place in its period (shortened and in-window moves count)."""
        if self.status in (Status.HELD, Status.SHORTENED):
            return True
        if self.status is Status.MADE_UP:
            return True
        return self.status is Status.MOVED and bool(self.in_window)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    message: str
    evidence: tuple[datetime, ...] = ()
    severity: str = "warning"  # "info" | "warning" | "critical"


@dataclass(frozen=True, slots=True)
class PairParams:
    """The slice of settings a policy needs about one pair."""

    manager: str
    report: str
    cadence: Cadence
    duration: timedelta
    min_duration: timedelta
    manager_name: str = ""
    report_name: str = ""
    manager_zone: str = "UTC"
    title_hint: str | None = None

    @property
    def key(self) -> str:
        return f"{self.manager}|{self.report}"


@dataclass(frozen=True, slots=True)
class PolicyParams:
    cancel_k: int = 2
    cancel_n: int = 4
    max_gap: float = 1.5
    streak: int = 2
    shorten_k: int = 3
    shorten_n: int = 6
    horizon_periods: int = 12


@dataclass(frozen=True, slots=True)
class PairHealth:
    manager: str
    report: str
    cadence: Cadence
    series_title: str | None
    series_uids: tuple[str, ...]
    occurrences: tuple[Occurrence, ...]
    adherence_4: float | None
    adherence_12: float | None
    findings: tuple[Finding, ...]
    next_start: datetime | None
    last_held: datetime | None
    bumped_by: dict[str, int] = field(default_factory=dict)  # email -> cancels + declines
    #: For a pair with no series: the recurring slot calsync proposes (or books).
    proposal: SeriesProposal | None = None
    # Leave that excused shown occurrences, for reports: "Ana away 16–27 Nov".
    away: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesProposal:
    """A recurring slot for a pair with no 1:1 series (policies.recurring_slot).

    The series repeats at ``local_start`` on ``weekday`` in ``zone`` (the
    manager's: the series is created on the manager's calendar in that zone).
    ``starts`` are the occurrences checked, ``conflicts`` those of them that
    are busy on one of the two calendars.
    """

    weekday: int  # 0 = Monday, in ``zone``
    local_start: time
    zone: str  # IANA name
    duration: timedelta
    cadence: Cadence
    starts: tuple[datetime, ...]
    conflicts: tuple[datetime, ...]
    rrule: str  # "RRULE:FREQ=WEEKLY;BYDAY=TU"
    text: str  # "Tuesdays 10:00-10:30 New York (16:00 Berlin), free 7 of the next 8 weeks"

    @property
    def first_start(self) -> datetime:
        return self.starts[0]

    @property
    def free(self) -> int:
        return len(self.starts) - len(self.conflicts)

    @property
    def total(self) -> int:
        return len(self.starts)
