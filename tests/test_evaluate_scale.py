"""Evaluation in bounded memory, reads of only what it needs, and the idle cycle's writes.

The results themselves are pinned by the golden ``check --json`` documents
(``test_golden.py``, ``test_golden_scale.py``); these tests pin how they are
reached: one manager's group of calendars at a time, a read that leaves out
what no evaluation looks at, busy times converted once, and unchanged
calendars' cursors written in one statement per batch.
"""

from __future__ import annotations

import json
import random
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from bench.bench_slots import BERLIN, KOLKATA, LONDON, NEW_YORK, NOW, make_request
from bench.generate_team import write_big_team
from calsync.cli.check_json import check_document, write_check_document
from calsync.config import Settings, load_settings
from calsync.demo.sample import DEMO_NOW
from calsync.engine import groups
from calsync.engine.evaluate import evaluate_all
from calsync.engine.plan import PreparedBusy, evaluate_and_plan
from calsync.engine.sync import CalendarResult, sync_all, sync_batch
from calsync.model import Attendee, ChangeSet, Event, Response
from calsync.policies.busy import busy_of
from calsync.policies.index import CalendarIndex
from calsync.policies.slots import Availability, BusyTimes, find_slots
from calsync.providers.factory import build_readers
from calsync.store import Store, open_store
from calsync.store.base import CHUNK

PAIRS = 30  # four managers: groups of 8, 8, 8 and 6 reports


@pytest.fixture(scope="module")
def synced_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Store]]:
    folder = tmp_path_factory.mktemp("team")
    settings = load_settings(write_big_team(folder, PAIRS, DEMO_NOW, seed=3))
    store = open_store(f"sqlite:///{folder / 'calsync.db'}")
    sync_all(settings, store, build_readers(settings), DEMO_NOW)
    yield settings, store
    store.close()


def test_evaluation_holds_one_group_of_calendars_at_a_time(
    synced_team: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = synced_team
    loaded: list[tuple[int, int]] = []  # (owners in this group, owners still alive from others)
    alive: list[weakref.ref[CalendarIndex]] = []
    real = groups.load_group

    def watched(store: Store, group: groups.Group, since: datetime) -> dict[str, CalendarIndex]:
        still = sum(1 for ref in alive if ref() is not None)
        calendars = real(store, group, since)
        alive.extend(weakref.ref(index) for index in calendars.values())
        loaded.append((len(calendars), still))
        return calendars

    monkeypatch.setattr(groups, "load_group", watched)
    healths, plans = evaluate_and_plan(settings, store, {}, DEMO_NOW, enqueue=False)

    assert len(healths) == len(plans) == PAIRS
    assert [h.report for h in healths] == [p.report for p in settings.pairs]
    managers = {pair.manager for pair in settings.pairs}
    assert len(loaded) == len(managers) == 4
    # Each read is one manager's calendar and their reports', and when it is
    # read no calendar of an earlier group is still held by anybody.
    assert [owners for owners, _ in loaded] == [9, 9, 9, 7]
    assert all(still == 0 for _, still in loaded)


def test_the_evaluation_read_leaves_out_only_what_no_evaluation_looks_at(
    synced_team: tuple[Settings, Store],
) -> None:
    settings, store = synced_team
    [group, *_] = groups.manager_groups(settings.pairs)
    since = groups.read_since(settings, DEMO_NOW)
    everything = store.events_of(group.owners)
    needed = store.events_for_pairs(
        group.owners, [(p.manager, p.report) for p in group.pairs], since
    )
    pair_people = {frozenset((p.manager, p.report)) for p in group.pairs}
    pair_series = {
        e.uid for events in everything.values() for e in events
        if e.is_series and e.emails in pair_people
    }
    left_out = 0
    for owner, events in everything.items():
        kept = needed[owner]
        assert [e for e in events if e in set(kept)] == kept  # same order, a subset
        for missing in (e for e in events if e not in set(kept)):
            left_out += 1
            assert not missing.is_series and not missing.tags
            assert missing.uid not in pair_series
            assert missing.end < since
    assert left_out > 0  # a year of other meetings is not read


def test_busy_times_prepared_once_find_the_same_slots_as_plain_pairs() -> None:
    rng = random.Random(11)
    requests = [make_request(rng, 120, (BERLIN, LONDON), ("Mon-Fri 09:00-17:00",) * 2)
                for _ in range(15)]
    requests += [make_request(rng, 60, (NEW_YORK, KOLKATA),
                              ("Mon-Fri 09:00-17:00", "Mon-Fri 10:00-18:30")) for _ in range(5)]
    for request in requests:
        prepared = []
        for person in request.people:
            assert isinstance(person.busy, tuple)
            # A whole year of history around the fortnight, and a span to take out again.
            extra = [(NOW - timedelta(days=d), NOW - timedelta(days=d) + timedelta(hours=1))
                     for d in range(2, 300, 3)]
            bumped = (NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))
            busy = BusyTimes([*person.busy, *extra, bumped]).edited(remove=[bumped])
            prepared.append(Availability(email=person.email, zone=person.zone,
                                         hours=person.hours, busy=busy, name=person.name))
        plain = find_slots(request, NOW, limit=None)
        fast = find_slots(replace(request, people=tuple(prepared)), NOW, limit=None)
        assert fast == plain


def test_busy_times_refuse_naive_instants() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        BusyTimes([(datetime(2026, 11, 20, 9), datetime(2026, 11, 20, 10))])


class _IdleBatchReader:
    """A batch-capable provider whose every calendar is unchanged."""

    name = "idle"

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        return ChangeSet(unchanged=True, cursor=f"{calendar}@{now:%H%M}")

    def fetch_many(
        self, requests: list[tuple[str, str | None]], now: datetime
    ) -> dict[str, ChangeSet]:
        return {calendar: self.fetch_changes(calendar, cursor, now)
                for calendar, cursor in requests}

    def fetch_stream(
        self, requests: list[tuple[str, str | None]], now: datetime
    ) -> Iterator[tuple[str, ChangeSet]]:
        for calendar, cursor in requests:
            yield calendar, self.fetch_changes(calendar, cursor, now)


@contextmanager
def _calendar_updates(store: Store) -> Iterator[list[bool]]:
    """Each UPDATE of the calendars table the store sends, as its executemany flag."""
    seen: list[bool] = []

    def before(_conn, _cursor, statement: str, _params, _context, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE CALENDARS"):
            seen.append(executemany)

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", before)


@pytest.mark.parametrize("calendars", [3, CHUNK + 200])
def test_an_idle_batch_writes_cursors_in_one_statement_per_chunk(
    store: Store, calendars: int
) -> None:
    members = [(f"cal{n}@example.com", f"p{n}@example.com") for n in range(calendars)]
    reader = _IdleBatchReader()
    sync_batch(store, reader, "idle", members, DEMO_NOW)  # first sight: ids made, cursors set
    later = DEMO_NOW + timedelta(minutes=5)
    with _calendar_updates(store) as seen:
        results = sync_batch(store, reader, "idle", members, later)
    assert all(r.ok and r.unchanged for r in results)
    assert seen == [True] * -(-calendars // CHUNK)  # one executemany per chunk
    ids = store.calendar_ids()
    stored = store.cursors(ids[("idle", c)] for c, _ in members)
    assert sorted(stored.values()) == sorted(f"{c}@{later:%H%M}" for c, _ in members)
    status = {s.calendar: s for s in store.calendar_status()}
    assert all(status[c].last_synced_at == later for c, _ in members)


def test_an_idle_ics_cycle_writes_cursors_in_one_statement(team: Path) -> None:
    settings = load_settings(team)
    with open_store(f"sqlite:///{team.parent / 'idle.db'}") as store:
        readers = build_readers(settings)
        sync_all(settings, store, readers, DEMO_NOW)
        later = DEMO_NOW + timedelta(minutes=5)
        with _calendar_updates(store) as seen:
            results = sync_all(settings, store, readers, later)
        assert results and all(r.ok and r.unchanged for r in results)
        assert seen == [True]
        assert all(s.last_synced_at == later for s in store.calendar_status())


def test_an_idle_batch_after_a_failure_clears_the_error(store: Store) -> None:
    members = [("cal@example.com", "p@example.com")]
    sync_batch(store, _IdleBatchReader(), "idle", members, DEMO_NOW)
    [calendar_id] = store.calendar_ids().values()
    store.record_error(calendar_id, "boom", DEMO_NOW)
    sync_batch(store, _IdleBatchReader(), "idle", members, DEMO_NOW + timedelta(minutes=1))
    [status] = store.calendar_status()
    assert status.last_error is None
    assert status.last_synced_at == DEMO_NOW + timedelta(minutes=1)


def test_the_evaluation_read_on_each_backend(store: Store) -> None:
    """``events_for_pairs`` on SQLite and PostgreSQL: the JSON and time filters, the decoding."""
    ann, bob, eve = "ann@example.com", "bob@example.com", "eve@example.com"
    now = DEMO_NOW
    year_ago = now - timedelta(days=365)

    def at(when: datetime, uid: str, people: tuple[str, ...], **kw: object) -> Event:
        return Event(uid=uid, start=when, end=when + timedelta(minutes=30), organizer=people[0],
                     attendees=tuple(Attendee(p, Response.ACCEPTED) for p in people), **kw)

    rule = ("RRULE:FREQ=WEEKLY",)
    series = at(year_ago, "one-on-one", (ann, bob), recurrence=rule, title="Ann / Bob 1:1")
    old_copy = at(year_ago, "one-on-one", (ann, bob), original_start=year_ago)
    team = at(year_ago, "team", (ann, bob, eve), recurrence=rule)
    old_team = at(year_ago, "team", (ann, bob, eve), original_start=year_ago)
    old_single = at(year_ago, "lunch", (ann,))
    old_makeup = at(year_ago, "makeup", (ann, bob), tags={"pair": "ann|bob", "for": "x"})
    soon = at(now + timedelta(days=1), "review", (ann, eve), description="notes")
    for owner in (ann, bob):
        calendar = store.ensure_calendar("feeds", f"{owner}.ics", owner)
        events = (series, old_copy, team, old_team, old_single, old_makeup, soon)
        store.apply_changes(calendar, ChangeSet(events=events, cursor="c"), now)

    read = store.events_for_pairs([ann, bob], [(ann, bob)], now - timedelta(days=2))
    everything = store.events_of([ann, bob])
    for owner in (ann, bob):
        assert [e.uid for e in everything[owner]] == [
            "lunch", "makeup", "one-on-one", "one-on-one", "team", "team", "review"]
        # The year-old single and the year-old occurrence of someone else's series are left out.
        assert read[owner] == [e for e in everything[owner]
                               if e not in (old_single, old_team)]
        assert read[owner] == [old_makeup, series, old_copy, team, soon]
    assert store.events_for_pairs([eve], [(ann, eve)], now) == {eve: []}


def test_re_evaluating_some_pairs_reads_only_their_calendars(
    synced_team: tuple[Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon re-evaluates the pairs a write touched: only their group is read."""
    settings, store = synced_team
    read: list[tuple[str, ...]] = []
    real = groups.load_group

    def watched(store: Store, group: groups.Group, since: datetime) -> dict[str, CalendarIndex]:
        read.append(group.owners)
        return real(store, group, since)

    monkeypatch.setattr(groups, "load_group", watched)
    touched = [settings.pairs[9], settings.pairs[12]]  # two reports of the second manager
    [first, second] = evaluate_all(settings, store, DEMO_NOW, pairs=touched)
    assert (first.report, second.report) == (touched[0].report, touched[1].report)
    assert read == [(touched[0].manager, touched[0].report, touched[1].report)]


def test_prepared_busy_times_are_busy_of_converted_once(
    synced_team: tuple[Settings, Store],
) -> None:
    settings, store = synced_team
    [group, *_] = groups.manager_groups(settings.pairs)
    calendars = store.events_of(group.owners)
    everything = (-(2**62), 2**62)
    checked = 0
    for person in group.owners[:3]:
        mine = calendars[person]
        prepared = PreparedBusy.of(mine, person)
        for occurrence in [e for e in mine if e.original_start is not None][::25]:
            skip = ({occurrence.uid}, {occurrence.original_start})
            busy, away = busy_of(mine, person, *skip)
            fast_busy, fast_away = prepared.without(*skip)
            assert sorted(fast_busy.between(*everything)) == BusyTimes(busy).between(*everything)
            assert sorted(fast_away.between(*everything)) == BusyTimes(away).between(*everything)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("pairs", [0, 1, PAIRS])
def test_the_check_document_written_pair_by_pair_is_the_whole_document(
    synced_team: tuple[Settings, Store], pairs: int
) -> None:
    settings, store = synced_team
    chosen = settings.pairs[:pairs]
    healths, plans = evaluate_and_plan(settings, store, {}, DEMO_NOW, enqueue=False,
                                       pairs=chosen)
    calendars = [CalendarResult("feeds", "m0000.ics", "m0000@bench.example.com", ok=False,
                                message="boom", warnings=("odd \u00e9v\u00e9nement",))]
    whole = check_document(settings, healths, calendars, DEMO_NOW, plans)
    pieces: list[str] = []
    write_check_document(pieces.append, settings, zip(healths, plans, strict=True), calendars,
                         DEMO_NOW)
    assert "".join(pieces) == json.dumps(whole, indent=2, ensure_ascii=False) + "\n"


def test_results_come_in_the_order_pairs_are_given(synced_team: tuple[Settings, Store]) -> None:
    settings, store = synced_team
    chosen = [settings.pairs[i] for i in (0, 10, 1, 20, 2, 29)]  # managers interleaved
    healths, plans = evaluate_and_plan(settings, store, {}, DEMO_NOW, enqueue=False,
                                       pairs=chosen)
    assert [(h.manager, h.report) for h in healths] == [(p.manager, p.report) for p in chosen]
    assert [(p.manager, p.report) for p in plans] == [(p.manager, p.report) for p in chosen]
