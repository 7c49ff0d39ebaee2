"""A person books a suggested make-up slot (``rebook = "suggest"``): checked, then queued.

The team page offers the slots the planner suggests for a bumped 1:1; the
"book this" button ends here. Nothing is written to a calendar from the web
request: the make-up goes into the same outbox as the daemon's, under the
same deterministic key (pair, bumped occurrence, attempt; never the click),
and the daemon's next cycle performs it, finding the key on the calendar
first. A double click, a second tab or a retried POST therefore books at
most one make-up: the second request finds the key already queued.

Before queueing, the slot is checked again against the stored free/busy of
both people (what the last sync saw): a slot that stopped being free is
refused, with the fresh suggestions. A conflict only the provider knows of
shows when the outbox write fails: the team page shows the error, and the
person may choose another time, which replaces the failed write under the
same key (``Store.requeue``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from calsync.config import IcsProvider, PairSettings, Settings
from calsync.engine.actions import encode
from calsync.engine.evaluate import pair_params, policy_params
from calsync.engine.plan import makeup_write, pair_page_url, plan_pair, slot_request
from calsync.model import Event
from calsync.policies import PairHealth, evaluate_pair
from calsync.policies.bumps import Bump, makeup_key
from calsync.policies.slots import Slot, find_slots
from calsync.secrets import shown_calendar
from calsync.store import Store
from calsync.store.outbox import OutboxItem

# What a booking request came to.
BookingState = Literal["queued", "already", "taken", "nothing", "refused"]


@dataclass(frozen=True, slots=True)
class Booking:
    state: BookingState
    message: str  # in plain words, for the page
    suggestions: list[Slot] = field(default_factory=list)  # fresh ones (for "taken")
    key: str | None = None
    # Where the make-up is written (for "queued"): the daemon may sync it at once.
    provider: str | None = None
    calendar: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """The make-up wanted for a pair right now, and what became of its outbox key."""

    bump: Bump
    key: str
    suggestions: list[Slot]
    queued: OutboxItem | None  # None: nobody booked it yet


def _calendars(store: Store, pair: PairSettings) -> dict[str, list[Event]]:
    events = store.events_of({pair.manager, pair.report})
    return {pair.manager: events.get(pair.manager, []), pair.report: events.get(pair.report, [])}


def _health(settings: Settings, pair: PairSettings, events: Mapping[str, Sequence[Event]],
            now: datetime) -> PairHealth:
    return evaluate_pair(events, pair_params(settings, pair), policy_params(settings.policy), now)


def pending_make_up(settings: Settings, store: Store, pair: PairSettings,
                    now: datetime) -> Pending | None:
    """The bumped 1:1 of a ``suggest`` pair still waiting for its make-up, if any."""
    if pair.rebook != "suggest":
        return None
    events = _calendars(store, pair)
    health = _health(settings, pair, events, now)
    plan, _ = plan_pair(settings, pair, health, events, now)
    if not plan.bumps:
        return None
    bump = plan.bumps[-1]
    key = makeup_key(pair_params(settings, pair).key, bump.original_start, bump.attempt)
    return Pending(bump, key, plan.suggestions, store.outbox_item(key))


def book_make_up(settings: Settings, store: Store, pair: PairSettings, start: datetime,
                 now: datetime, *, by: str) -> Booking:
    """Queue the make-up at ``start`` (one of the suggested slots) for ``pair``'s latest bump."""
    if pair.rebook != "suggest":
        return Booking("refused", "calsync books this pair's make-ups itself, or not at all.")
    if settings.daemon.dry_run:
        return Booking("refused", "calsync runs as a dry run: it books nothing.")
    events = _calendars(store, pair)
    health = _health(settings, pair, events, now)
    plan, _ = plan_pair(settings, pair, health, events, now)
    if not plan.bumps:
        return Booking("nothing", "No 1:1 is waiting for a make-up: nothing was booked.")
    bump = plan.bumps[-1]
    params = pair_params(settings, pair)
    key = makeup_key(params.key, bump.original_start, bump.attempt)
    existing = store.outbox_item(key)
    if existing is not None and existing.state != "failed":
        return Booking("already", "This make-up is already booked.", key=key)
    # Every free slot, not only the three shown: a slot someone saw a minute ago is
    # still fine to book while it is free, even if a better one has opened since.
    request = slot_request(settings, params, health, events, bump, now)
    free = find_slots(request, now, limit=None).slots
    chosen = next((slot for slot in free if slot.start == start), None)
    if chosen is None:
        return Booking("taken", "That time is no longer free for both of you. "
                       "Here are the times that are free now.", plan.suggestions, key)
    page = pair_page_url(settings, store, pair.manager, pair.report, now)
    queued = makeup_write(settings, params, health, events, bump, chosen, page=page,
                          booked_by=by)
    if isinstance(settings.providers.get(queued.action.provider), IcsProvider):
        return Booking("refused", f"calsync cannot book it: "
                       f"{shown_calendar(queued.action.calendar)} is read from an ICS feed, "
                       "which calsync never writes to.", key=key)
    kind, payload = encode(queued.action)
    if existing is not None:
        # calsync could not write the last time chosen: this one replaces it, same key.
        done = store.requeue(queued.key, payload, now=now)
    else:
        done = store.enqueue(queued.key, kind, payload,
                             store.pair_id(pair.manager, pair.report), now=now)
    if not done:
        return Booking("already", "This make-up is already booked.", key=key)
    action = queued.action
    return Booking("queued", "Booked: calsync puts it on both calendars now; "
                   "it shows here after the next sync.", key=key,
                   provider=action.provider, calendar=action.calendar)
