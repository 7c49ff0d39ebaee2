"""A pair's cadence health: adherence, and the findings that need attention."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calsync.model import Event
from calsync.policies.away import Away, away_notes, away_time, excuse
from calsync.policies.bumps import MAX_MAKEUP_ATTEMPTS, MakeUp, makeups_of, with_makeups
from calsync.policies.occurrences import classify, missed_after
from calsync.policies.series import SeriesCandidate, choose_series, series_events
from calsync.policies.types import (
    NOT_HELD,
    Finding,
    Occurrence,
    PairHealth,
    PairParams,
    PolicyParams,
    Status,
)


def happened(occurrence: Occurrence) -> bool:
    """Whether the 1:1 took place in its own period."""
    return occurrence.kept


def missed(occurrence: Occurrence) -> bool:
    """Did not happen in its period: cancelled, declined, missed, or moved out of it."""
    if occurrence.status in NOT_HELD:
        return True
    return occurrence.status is Status.MOVED and occurrence.in_window is False


def settled(occurrences: Sequence[Occurrence], now: datetime) -> list[Occurrence]:
    """Expected occurrences whose outcome is known as of ``now``, oldest first.

    An occurrence counts once its regular time has passed, except one moved to
    a time still ahead: its period is not over until it has been held.
    """
    out = []
    for occurrence in occurrences:
        if occurrence.original_start >= now:
            continue
        if occurrence.status is Status.EXCUSED:
            continue  # neither kept nor missed: outside every count and streak
        if not missed(occurrence) and occurrence.end > now:
            continue
        out.append(occurrence)
    return out


def adherence(occurrences: Sequence[Occurrence], now: datetime, periods: int) -> float | None:
    """Share of the last ``periods`` settled occurrences that were kept; None with no history."""
    recent = settled(occurrences, now)[-periods:]
    if not recent:
        return None
    return sum(1 for o in recent if happened(o)) / len(recent)


def _when(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}"


def _names(pair: PairParams) -> dict[str, str]:
    return {
        pair.manager: pair.manager_name or pair.manager,
        pair.report: pair.report_name or pair.report,
    }


def _who(email: str | None, pair: PairParams) -> str:
    if email is None:
        return "someone"
    return _names(pair).get(email, email)


def _miss_reasons(misses: Sequence[Occurrence], pair: PairParams) -> str:
    counts: Counter[str] = Counter()
    for occurrence in misses:
        if occurrence.status is Status.CANCELLED:
            counts[f"cancelled by {_who(occurrence.by, pair)}"] += 1
        elif occurrence.status is Status.DECLINED:
            counts[f"declined by {_who(occurrence.by, pair)}"] += 1
        elif occurrence.status is Status.MOVED:
            counts["moved out of its week" if pair.cadence.weeks == 1 and not pair.cadence.monthly
                   else "moved out of its period"] += 1
        else:
            counts["with nothing on the calendar"] += 1
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())


def repeated_cancellations(
    occurrences: Sequence[Occurrence], pair: PairParams, policy: PolicyParams, now: datetime
) -> Finding | None:
    recent = settled(occurrences, now)[-policy.cancel_n :]
    misses = [o for o in recent if missed(o)]
    if len(misses) < policy.cancel_k:
        return None
    return Finding(
        kind="repeated_cancellations",
        message=(
            f"{len(misses)} of the last {len(recent)} 1:1s did not happen "
            f"({_miss_reasons(misses, pair)})."
        ),
        evidence=tuple(o.original_start for o in misses),
        severity="warning",
    )


def cancellation_streak(
    occurrences: Sequence[Occurrence], pair: PairParams, policy: PolicyParams, now: datetime
) -> Finding | None:
    streak: list[Occurrence] = []
    for occurrence in reversed(settled(occurrences, now)):
        if not missed(occurrence):
            break
        streak.append(occurrence)
    if len(streak) < policy.streak:
        return None
    streak.reverse()
    zone = ZoneInfo(pair.manager_zone)
    return Finding(
        kind="cancellation_streak",
        message=(
            f"The last {len(streak)} 1:1s in a row did not happen, "
            f"since {_when(streak[0].original_start, zone)} ({_miss_reasons(streak, pair)})."
        ),
        evidence=tuple(o.original_start for o in streak),
        severity="critical" if len(streak) >= policy.streak + 1 else "warning",
    )


def last_held(occurrences: Sequence[Occurrence], now: datetime) -> Occurrence | None:
    kept = [o for o in occurrences if happened(o) and o.end <= now]
    return max(kept, key=lambda o: o.start, default=None)


def cadence_gap(
    occurrences: Sequence[Occurrence],
    pair: PairParams,
    policy: PolicyParams,
    now: datetime,
    away: Away | None = None,
) -> Finding | None:
    """No 1:1 for too long, counting only the time both people were present."""
    limit = pair.cadence.period * policy.max_gap
    held = last_held(occurrences, now)
    zone = ZoneInfo(pair.manager_zone)
    if held is not None:
        absent = away_time(away or {}, held.start, now)
        gap = now - held.start - absent
        if gap <= limit:
            return None
        return Finding(
            kind="cadence_gap",
            message=(
                f"No 1:1 held for {_days(gap)}{_not_counting(absent)} "
                f"(last on {_when(held.start, zone)}); "
                f"the agreed cadence is {pair.cadence.label}."
            ),
            evidence=(held.start,),
            severity="critical",
        )
    expected = settled(occurrences, now)
    if not expected:
        return None
    absent = away_time(away or {}, expected[0].original_start, now)
    if now - expected[0].original_start - absent <= limit:
        return None
    return Finding(
        kind="cadence_gap",
        message=(
            f"No 1:1 held since the history begins ({_when(expected[0].original_start, zone)}); "
            f"the agreed cadence is {pair.cadence.label}."
        ),
        evidence=(expected[0].original_start,),
        severity="critical",
    )


def _not_counting(absent: timedelta) -> str:
    if absent < timedelta(days=1):
        return ""
    return f", not counting {'1 day' if absent.days == 1 else _days(absent)} away"


def _days(span: timedelta) -> str:
    days = span.days
    if days >= 14:
        return f"{days // 7} weeks"
    return f"{days} days"


def next_meeting(occurrences: Sequence[Occurrence], now: datetime) -> Occurrence | None:
    ahead = [
        o
        for o in occurrences
        if o.start >= now and o.status not in NOT_HELD and not missed(o)
        and o.status is not Status.EXCUSED
    ]
    return min(ahead, key=lambda o: o.start, default=None)


def no_upcoming(
    occurrences: Sequence[Occurrence], pair: PairParams, now: datetime,
    away: Away | None = None,
) -> Finding | None:
    horizon = pair.cadence.period + pair.cadence.period / 7
    upcoming = next_meeting(occurrences, now)
    # Time either person is away until then does not count: the 1:1 after
    # two weeks of leave is on the books.
    if upcoming is not None and (
        upcoming.start - now - away_time(away or {}, now, upcoming.start) <= horizon
    ):
        return None
    zone = ZoneInfo(pair.manager_zone)
    if upcoming is None:
        message = "Nothing is on the books: no upcoming 1:1 on either calendar."
        evidence: tuple[datetime, ...] = ()
    else:
        message = (
            f"Nothing on the books in the next {_days(horizon)}; the next 1:1 is "
            f"{_when(upcoming.start, zone)}."
        )
        evidence = (upcoming.start,)
    return Finding(kind="no_upcoming", message=message, evidence=evidence, severity="critical")


def chronic_shortening(
    occurrences: Sequence[Occurrence],
    scheduled: Mapping[str, timedelta],
    pair: PairParams,
    policy: PolicyParams,
    now: datetime,
) -> Finding | None:
    kept = [o for o in settled(occurrences, now) if happened(o)][-policy.shorten_n :]
    short = [o for o in kept if o.end - o.start < scheduled.get(o.uid or "", pair.duration)]
    if len(short) < policy.shorten_k:
        return None
    average = sum(o.minutes for o in short) // len(short)
    length = int(max(scheduled.values(), default=pair.duration).total_seconds() // 60)
    return Finding(
        kind="chronic_shortening",
        message=(
            f"{len(short)} of the last {len(kept)} 1:1s were cut short "
            f"(about {average} of {length} minutes)."
        ),
        evidence=tuple(o.original_start for o in short),
        severity="warning",
    )


def evaluate_pair(
    events_by_owner: Mapping[str, Sequence[Event]],
    pair: PairParams,
    policy: PolicyParams,
    now: datetime,
    *,
    away: Away | None = None,
) -> PairHealth:
    """Everything calsync knows about one pair's 1:1s as of ``now``.

    ``away`` (email -> spans, see ``policies.away``) excuses the 1:1s that
    fell while either person was away.
    """
    chain = choose_series(events_by_owner, pair)
    if not chain:
        names = _names(pair)
        return PairHealth(
            manager=pair.manager,
            report=pair.report,
            cadence=pair.cadence,
            series_title=None,
            series_uids=(),
            occurrences=(),
            adherence_4=None,
            adherence_12=None,
            findings=(
                Finding(
                    kind="no_series",
                    message=(
                        f"No recurring 1:1 between {names[pair.manager]} and "
                        f"{names[pair.report]} was found on either calendar."
                    ),
                    severity="critical",
                ),
            ),
            next_start=None,
            last_held=None,
        )
    scheduled = {c.uid: c.master.duration for c in chain}
    grouped = series_events(events_by_owner, scheduled)
    everything = classify(grouped, scheduled, pair, now)
    latest = chain[-1].master
    zone = ZoneInfo(latest.timezone or pair.manager_zone)
    everything += missed_after(everything, pair.cadence, zone, latest.duration, now)
    makeups = makeups_of(events_by_owner, pair)
    everything = with_makeups(everything, makeups)
    if away:
        everything = excuse(everything, away, pair)

    horizon_start = now - pair.cadence.period * policy.horizon_periods
    occurrences = [o for o in everything if o.original_start >= horizon_start]

    settled_set = set(settled(occurrences, now))
    findings: list[Finding] = []
    for finding in (
        repeated_cancellations(occurrences, pair, policy, now),
        cancellation_streak(occurrences, pair, policy, now),
        cadence_gap(everything, pair, policy, now, away),
        no_upcoming(everything, pair, now, away),
        chronic_shortening(occurrences, scheduled, pair, policy, now),
        cadence_mismatch(chain[-1], pair),
        makeup_bumped(makeups, pair, now),
    ):
        if finding is not None:
            findings.append(finding)

    # A bump counts for fairness even when it was made up.
    bumped: Counter[str] = Counter(
        o.by
        for o in occurrences
        if o.by and (o.status is Status.MADE_UP or (o.status in NOT_HELD and o in settled_set))
    )
    upcoming = next_meeting(everything, now)
    held = last_held(everything, now)
    # Only the recent history and what is on the books is reported.
    ahead = now + pair.cadence.period * 2
    shown = [o for o in occurrences if o.original_start < now or o.start < ahead]
    return PairHealth(
        manager=pair.manager,
        report=pair.report,
        cadence=pair.cadence,
        series_title=latest.title,
        series_uids=tuple(c.uid for c in chain),
        occurrences=tuple(shown),
        adherence_4=adherence(occurrences, now, 4),
        adherence_12=adherence(occurrences, now, 12),
        findings=tuple(findings),
        next_start=upcoming.start if upcoming else None,
        last_held=held.start if held else None,
        bumped_by=dict(bumped),
        away=away_notes(shown, away or {}, pair),
    )


def makeup_bumped(
    makeups: Mapping[datetime, Sequence[MakeUp]], pair: PairParams, now: datetime
) -> Finding | None:
    """The make-up of a bumped 1:1 was bumped again, as many times as calsync tries."""
    zone = ZoneInfo(pair.manager_zone)
    given_up = [
        for_start
        for for_start, attempts in makeups.items()
        if len(attempts) >= MAX_MAKEUP_ATTEMPTS
        and all(m.bumped for m in attempts)
        and for_start >= now - pair.cadence.period * 2
    ]
    if not given_up:
        return None
    latest = max(given_up)
    return Finding(
        kind="makeup_bumped",
        message=(
            f"The 1:1 of {_when(latest, zone)} was bumped, and so were its make-ups; "
            "calsync stopped rebooking it. Time to talk about the slot."
        ),
        evidence=tuple(sorted(given_up)),
        severity="critical",
    )


def cadence_mismatch(series: SeriesCandidate, pair: PairParams) -> Finding | None:
    """The calendar series repeats otherwise than the pair agreed, or by a rule calsync
    cannot read as one 1:1 per period (twice a week, every weekday...)."""
    series_cadence = series.cadence
    if series_cadence == pair.cadence:
        return None
    if series_cadence is None:
        rule = next(
            (line for line in series.master.recurrence if line.upper().startswith("RRULE:")),
            "its dates",
        )
        return Finding(
            kind="cadence_mismatch",
            message=(
                f"The calendar series repeats by {rule}, which is not one 1:1 every few weeks "
                f"or a month; the agreed cadence is {pair.cadence.label}."
            ),
            severity="info",
        )
    return Finding(
        kind="cadence_mismatch",
        message=(
            f"The calendar series repeats {series_cadence.label}, "
            f"but the agreed cadence is {pair.cadence.label}."
        ),
        severity="info",
    )


def fairness(healths: Sequence[PairHealth]) -> dict[str, list[tuple[str, int, dict[str, int]]]]:
    """Per manager: reports ranked by how often their 1:1 was bumped, with by whom."""
    out: dict[str, list[tuple[str, int, dict[str, int]]]] = {}
    for health in healths:
        total = sum(health.bumped_by.values())
        out.setdefault(health.manager, []).append((health.report, total, dict(health.bumped_by)))
    for rows in out.values():
        rows.sort(key=lambda row: (-row[1], row[0]))
    return out
