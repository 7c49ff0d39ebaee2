"""Who is away when: each person's away spans, from their stored events and their config.

The policies take the spans as values (``calsync.policies.away``); this is
where they are gathered: out-of-office events the providers tagged, and the
public holidays of the person's ``holidays`` region around ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from calsync.config import Settings
from calsync.model import Event
from calsync.policies.away import AwaySpan, holiday_spans, spans_from_events

# Holidays ahead of ``now``: past the furthest a make-up or an upcoming 1:1 is
# planned (the providers read 120 days ahead by default).
_AHEAD = timedelta(days=200)


@lru_cache(maxsize=256)
def _holidays(region: str, zone: ZoneInfo, first: date, last: date) -> tuple[AwaySpan, ...]:
    # The daemon evaluates every few minutes: a region's years are computed once.
    return tuple(holiday_spans(region, zone, first, last))


def _holiday_range(settings: Settings, now: datetime) -> tuple[date, date]:
    """The days whose holidays matter: the longest history a pair reports, and ahead.

    Only these, so excusing stays cheap for a team with years of holidays.
    """
    period = max((pair.cadence.period for pair in settings.pairs), default=timedelta(weeks=1))
    back = period * (settings.policy.horizon_periods + 2)
    return (now - back).date(), (now + _AHEAD).date()


def away_of(
    settings: Settings,
    calendars: Mapping[str, Sequence[Event]],
    now: datetime,
    emails: Iterable[str] | None = None,
) -> dict[str, list[AwaySpan]]:
    """email -> away spans, for ``emails`` (default: every owner in ``calendars``)."""
    out: dict[str, list[AwaySpan]] = {}
    for email in calendars if emails is None else emails:
        person = next((p for p in settings.people if p.email == email), None)
        zone = person.zone if person is not None else None
        spans = spans_from_events(calendars.get(email, ()), email, zone)
        if person is not None and person.holidays:
            first, last = _holiday_range(settings, now)
            spans.extend(_holidays(person.holidays, person.zone, first, last))
        out[email] = spans
    return out
