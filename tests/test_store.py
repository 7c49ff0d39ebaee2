"""The store, on SQLite and on a real PostgreSQL (see ``store_url`` in conftest)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, Text, cast, event, inspect, select, text, type_coerce
from sqlalchemy.orm import Session

from calsync.config import Settings, settings_from_dict
from calsync.engine.evaluate import evaluate_all, save_health, stored_occurrences
from calsync.model import Attendee, ChangeSet, Event, EventStatus, Response, Window
from calsync.policies.types import Finding, Occurrence, PairHealth, Status
from calsync.report import IsoWeek, build_reports, render_html, render_text, reports_document
from calsync.store import ApplyStats, Store, StoreError, SuspiciousSnapshot, codec, open_store
from calsync.store.db import alembic_config, normalize_url
from calsync.store.models import Base, EventRow, FindingRow, PairRow, PersonRow
from calsync.store.writes import audit_values
from calsync.timeutil import Cadence
from tests.report_support import SEND_NOW, seed_team, team_settings

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
OWNER = "ann@example.com"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def ev(uid: str, start: datetime, **fields: Any) -> Event:
    """A 30-minute event starting at ``start``."""
    return Event(uid=uid, start=start, end=start + timedelta(minutes=30), **fields)


def config(pairs: list[dict[str, Any]], names: dict[str, str] | None = None) -> Settings:
    people = ["ann@example.com", "bob@example.com", "cid@example.com"]
    return settings_from_dict(
        {
            "providers": {"feeds": {"kind": "ics", "path": "feeds"}},
            "people": [
                {"email": e, "provider": "feeds", "name": (names or {}).get(e, "")} for e in people
            ],
            "pairs": pairs,
        },
        source=Path("calsync.toml"),
    )


def health(manager: str, report: str, *findings: Finding, occurrences=()) -> PairHealth:
    return PairHealth(
        manager=manager,
        report=report,
        cadence=Cadence(),
        series_title=None,
        series_uids=(),
        occurrences=tuple(occurrences),
        adherence_4=None,
        adherence_12=None,
        findings=findings,
        next_start=None,
        last_held=None,
    )


@contextmanager
def session_of(store: Store) -> Iterator[Session]:
    with Session(store.engine) as session:
        yield session


@pytest.fixture
def calendar(store: Store) -> int:
    return store.ensure_calendar("feeds", "ann.ics", OWNER)


def stored(store: Store) -> list[Event]:
    return store.events_of([OWNER])[OWNER]


# -- schema -----------------------------------------------------------------------


def test_migrations_create_the_schema_and_reopening_is_a_no_op(store_url: str) -> None:
    with open_store(store_url) as store:
        tables = set(inspect(store.engine).get_table_names())
        calendar = store.ensure_calendar("feeds", "ann.ics", OWNER)
        store.apply_changes(calendar, ChangeSet(events=(ev("a", NOW),), cursor="c1"), NOW)
    assert tables >= {
        "people", "pairs", "calendars", "events", "occurrences", "findings", "outbox",
        "alembic_version",
    }  # fmt: skip

    with open_store(store_url) as store:  # migrations run again: nothing to do, nothing lost
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(ScriptDirectory.from_config(alembic_config()).get_current_head(),)]
        assert store.cursor(calendar) == "c1"
        assert [e.uid for e in stored(store)] == ["a"]


def test_models_and_migrations_describe_the_same_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_an_unopenable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot open database sqlite:///.*missing"):
        open_store(f"sqlite:///{tmp_path}/missing/dir/calsync.db")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("calsync.db")
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        open_store("mysql://u:secret@db/calsync")


# -- configuration ------------------------------------------------------------------


def test_sync_config_upserts_and_deactivates_pairs_without_deleting(store: Store) -> None:
    ann_bob = {"manager": "ann@example.com", "report": "bob@example.com"}
    ann_cid = {"manager": "ann@example.com", "report": "cid@example.com"}
    store.sync_config(config([ann_bob, ann_cid]))
    first_id = store.pair_id("ann@example.com", "cid@example.com")

    store.sync_config(
        config(
            [{**ann_bob, "cadence": "biweekly", "duration": "45m", "rebook": "auto"}],
            names={"bob@example.com": "Bob"},
        )
    )
    with session_of(store) as session:
        pairs = {(p.manager, p.report): p for p in session.scalars(select(PairRow))}
        bob = session.get(PersonRow, "bob@example.com")
    assert len(pairs) == 2
    kept = pairs["ann@example.com", "bob@example.com"]
    assert (kept.cadence, kept.duration_minutes, kept.min_duration_minutes, kept.rebook) == (
        "biweekly",
        45,
        15,
        "auto",
    )
    assert kept.active
    assert not pairs["ann@example.com", "cid@example.com"].active
    assert bob is not None and bob.name == "Bob"

    store.sync_config(config([ann_bob, ann_cid]))  # back in the config: same row, active again
    assert store.pair_id("ann@example.com", "cid@example.com") == first_id
    with session_of(store) as session:
        assert all(session.scalars(select(PairRow.active)))


# -- applying changes ----------------------------------------------------------------


def test_apply_counts_inserts_updates_and_unchanged(store: Store, calendar: int) -> None:
    a, b, c = ev("a", NOW + DAY), ev("b", NOW + 2 * DAY, etag="1"), ev("c", NOW + 3 * DAY)
    first = store.apply_changes(calendar, ChangeSet(events=(a, b, c), cursor="c1"), NOW)
    assert first == ApplyStats(inserted=3)

    retitled = ev("a", NOW + DAY, title="1:1 Ann / Bob")
    new_etag = ev("b", NOW + 2 * DAY, etag="2")  # etag churn, same content
    second = store.apply_changes(
        calendar, ChangeSet(events=(retitled, new_etag, c), cursor="c2"), NOW + HOUR
    )
    assert second == ApplyStats(updated=1, unchanged=2)
    assert store.cursor(calendar) == "c2"
    assert stored(store) == [retitled, new_etag, c]  # the new etag is kept all the same


def test_an_unchanged_change_set_only_moves_the_cursor(store: Store, calendar: int) -> None:
    store.apply_changes(calendar, ChangeSet(events=(ev("a", NOW),), cursor="c1"), NOW)
    stats = store.apply_changes(calendar, ChangeSet(unchanged=True, cursor="c2"), NOW + HOUR)
    assert stats == ApplyStats()
    assert store.cursor(calendar) == "c2"
    assert [e.uid for e in stored(store)] == ["a"]
    [status] = store.calendar_status()
    assert status.last_synced_at == NOW + HOUR


def test_tombstones_delete_events_and_win_over_upserts(store: Store, calendar: int) -> None:
    series = ev("s", NOW - 30 * DAY, recurrence=("RRULE:FREQ=WEEKLY",))
    moved = ev("s", NOW + 2 * DAY, original_start=NOW + DAY)
    single = ev("x", NOW + DAY)
    store.apply_changes(calendar, ChangeSet(events=(series, moved, single)), NOW)

    stats = store.apply_changes(
        calendar,
        ChangeSet(events=(ev("x", NOW + DAY, title="late"),), deleted=(moved.key, "x", "nope")),
        NOW,
    )
    assert stats == ApplyStats(deleted=2)
    assert stored(store) == [series]


def test_deletion_by_remote_id_keeps_a_deleted_series_history(store: Store, calendar: int) -> None:
    master = ev("s", NOW - 30 * DAY, recurrence=("RRULE:FREQ=WEEKLY",), remote_id="m1")
    held = ev("s", NOW - 2 * DAY, original_start=NOW - 2 * DAY)
    ahead = ev("s", NOW + 5 * DAY, original_start=NOW + 5 * DAY)
    single = ev("x", NOW - DAY, remote_id="x1")
    other = ev("y", NOW + DAY, remote_id="y1")
    store.apply_changes(calendar, ChangeSet(events=(master, held, ahead, single, other)), NOW)

    stats = store.apply_changes(
        calendar, ChangeSet(deleted_remote_ids=("m1", "x1", "unknown")), NOW
    )
    # The series' upcoming occurrence and the single event go; the master and
    # the held occurrence stay as history.
    assert stats == ApplyStats(deleted=2)
    assert {e.key for e in stored(store)} == {master.key, held.key, other.key}


def test_deletion_by_remote_id_of_a_series_not_yet_begun_leaves_nothing(
    store: Store, calendar: int
) -> None:
    """The new half of a split, deleted before its first occurrence: no history to keep.

    A full sync sweeps its master (its start is upcoming); a tombstone must too.
    """
    master = ev("n", NOW + 2 * DAY, recurrence=("RRULE:FREQ=WEEKLY",), remote_id="n1")
    first = ev("n", NOW + 2 * DAY, original_start=NOW + 2 * DAY)
    second = ev("n", NOW + 9 * DAY, original_start=NOW + 9 * DAY)
    other = ev("y", NOW + DAY, remote_id="y1")
    store.apply_changes(calendar, ChangeSet(events=(master, first, second, other)), NOW)

    stats = store.apply_changes(calendar, ChangeSet(deleted_remote_ids=("n1",)), NOW)
    assert stats == ApplyStats(deleted=3)
    assert {e.key for e in stored(store)} == {other.key}


def test_series_scope_replaces_a_series_upcoming_rows_only(store: Store, calendar: int) -> None:
    window = Window(NOW - 30 * DAY, NOW + 30 * DAY)
    master = ev("s", NOW - 30 * DAY, recurrence=("RRULE:FREQ=WEEKLY",))
    past = ev("s", NOW - 7 * DAY, original_start=NOW - 7 * DAY)
    old_slot = ev("s", NOW + 7 * DAY, original_start=NOW + 7 * DAY)
    unrelated = ev("t", NOW + 7 * DAY, original_start=NOW + 7 * DAY)
    store.apply_changes(calendar, ChangeSet(events=(master, past, old_slot, unrelated)), NOW)

    new_slot = ev("s", NOW + 8 * DAY, original_start=NOW + 8 * DAY)
    stats = store.apply_changes(
        calendar,
        ChangeSet(events=(master, new_slot), series_scope=("s",), window=window),
        NOW,
    )
    assert stats == ApplyStats(inserted=1, unchanged=1, deleted=1)
    assert {e.key for e in stored(store)} == {master.key, past.key, new_slot.key, unrelated.key}


def test_a_series_restated_from_its_pattern_keeps_its_past_rows(
    store: Store, calendar: int
) -> None:
    """Exchange edits a series: every occurrence comes back as the bare pattern."""
    window = Window(NOW - 30 * DAY, NOW + 30 * DAY)
    bob = "bob@example.com"

    def occurrence(
        days: int, response: Response = Response.ACCEPTED, etag: str = "1", **fields: Any
    ) -> Event:
        start = NOW + days * DAY
        people = (Attendee(OWNER, Response.ACCEPTED), Attendee(bob, response))
        return ev("s", start, original_start=start, attendees=people, etag=etag, **fields)

    master = ev("s", NOW - 21 * DAY, recurrence=("RRULE:FREQ=WEEKLY",))
    cancelled = occurrence(-21, status=EventStatus.CANCELLED)
    declined = occurrence(-14, Response.DECLINED)
    held = occurrence(-7)
    ahead = occurrence(7)
    store.apply_changes(calendar, ChangeSet(events=(master, cancelled, declined, held, ahead)), NOW)

    # The answer after the edit: the rule with its exceptions dropped, responses cleared.
    edited = ev("s", NOW - 21 * DAY, recurrence=("RRULE:FREQ=WEEKLY;COUNT=5",))
    restated = [occurrence(d, Response.NEEDS_ACTION, etag="2") for d in (-21, -14, -7, 7)]
    # An occurrence with data of its own (an exception) still lands in the past.
    moved = replace(held, start=held.start + HOUR, end=held.end + HOUR)
    answer = ChangeSet(
        events=(edited, *restated[:2], moved, restated[3]),
        series_scope=("s",),
        window=window,
        pattern_keys=(restated[0].key, restated[1].key, restated[3].key),
    )
    stats = store.apply_changes(calendar, answer, NOW)

    assert stats == ApplyStats(updated=3, unchanged=2)
    by_key = {e.key: e for e in stored(store)}
    assert by_key[master.key] == edited  # the series itself is upcoming business
    assert by_key[cancelled.key] == cancelled  # still cancelled, not held
    assert by_key[declined.key] == declined  # Bob's decline survives
    assert by_key[held.key] == moved
    assert by_key[ahead.key] == restated[3]  # upcoming rows follow the provider

    # The same statement as a full snapshot (a resync) keeps the history too.
    snapshot = replace(answer, series_scope=(), full=True)
    assert store.apply_changes(calendar, snapshot, NOW + HOUR) == ApplyStats(unchanged=5)
    assert {e.key: e for e in stored(store)} == by_key


def test_a_series_moved_to_a_new_time_does_not_double_its_past(
    store: Store, calendar: int
) -> None:
    """Exchange moves every occurrence, past ones too: new keys for old meetings."""
    window = Window(NOW - 30 * DAY, NOW + 30 * DAY)

    def occurrence(days: int, hour: int = 0) -> Event:
        start = NOW + days * DAY + hour * HOUR
        return ev("s", start, original_start=start)

    master = ev("s", NOW - 14 * DAY, recurrence=("RRULE:FREQ=WEEKLY",))
    recorded = [occurrence(d) for d in (-14, -7, 7)]
    store.apply_changes(calendar, ChangeSet(events=(master, *recorded)), NOW)

    moved = ev("s", NOW - 14 * DAY + HOUR, recurrence=("RRULE:FREQ=WEEKLY",))
    # One hour later, every week, and (a longer window) a week never read before.
    restated = [occurrence(d, hour=1) for d in (-21, -14, -7, 7)]
    answer = ChangeSet(
        events=(moved, *restated),
        series_scope=("s",),
        window=window,
        pattern_keys=tuple(e.key for e in restated),
    )
    stats = store.apply_changes(calendar, answer, NOW)

    assert stats == ApplyStats(inserted=2, updated=1, unchanged=2, deleted=1)
    # The old weeks stay as they were held; the upcoming one follows the move.
    expected = [restated[0], moved, *recorded[:2], restated[3]]
    assert {e.key: e for e in stored(store)} == {e.key: e for e in expected}


def test_full_snapshot_sweeps_upcoming_unseen_events_and_keeps_the_past(
    store: Store, calendar: int
) -> None:
    window = Window(NOW - 30 * DAY, NOW + 30 * DAY)
    held_last_week = ev("past", NOW - 7 * DAY)
    seen = ev("seen", NOW + DAY)
    gone = ev("gone", NOW + 2 * DAY)
    gone_occurrence = ev("series", NOW - DAY, original_start=NOW + DAY)  # moved earlier
    past_occurrence = ev("series", NOW + 3 * DAY, original_start=NOW - 6 * DAY)  # moved later
    beyond_window = ev("later", NOW + 60 * DAY)
    store.apply_changes(
        calendar,
        ChangeSet(
            events=(held_last_week, seen, gone, gone_occurrence, past_occurrence, beyond_window)
        ),
        NOW - 10 * DAY,
    )

    snapshot = ChangeSet(events=(seen, ev("new", NOW + 5 * DAY)), full=True, window=window)
    stats = store.apply_changes(calendar, snapshot, NOW)

    # Swept by effective start (original_start or start) in [now, window end).
    assert stats == ApplyStats(inserted=1, unchanged=1, deleted=2)
    assert {e.key for e in stored(store)} == {
        held_last_week.key,
        past_occurrence.key,
        seen.key,
        "new",
        beyond_window.key,
    }


def test_an_empty_snapshot_that_would_wipe_upcoming_events_writes_nothing(
    store: Store, calendar: int
) -> None:
    events = (ev("past", NOW - DAY), ev("next", NOW + DAY))
    store.apply_changes(calendar, ChangeSet(events=events, cursor="c1"), NOW - 2 * DAY)
    store.record_error(calendar, "timeout", NOW - HOUR)

    empty = ChangeSet(full=True, window=Window(NOW - 30 * DAY, NOW + 30 * DAY), cursor="c2")
    with pytest.raises(SuspiciousSnapshot, match=r"feeds calendar 'ann.ics' of ann@example.com"):
        store.apply_changes(calendar, empty, NOW)

    assert store.cursor(calendar) == "c1"
    assert stored(store) == sorted(events, key=lambda e: e.start)
    assert store.calendar_status()[0].last_error == "timeout"


def test_an_empty_snapshot_is_fine_when_only_the_past_is_stored(
    store: Store, calendar: int
) -> None:
    past = ev("past", NOW - DAY)
    store.apply_changes(calendar, ChangeSet(events=(past,)), NOW - 2 * DAY)
    empty = ChangeSet(full=True, window=Window(NOW - 30 * DAY, NOW + 30 * DAY), cursor="c2")
    assert store.apply_changes(calendar, empty, NOW) == ApplyStats()
    assert store.cursor(calendar) == "c2"
    assert stored(store) == [past]


@pytest.mark.parametrize(
    "failing", ["INSERT INTO events", "UPDATE events", "DELETE FROM events", "UPDATE calendars"]
)
def test_the_cursor_moves_with_the_changes_or_not_at_all(
    store: Store, calendar: int, failing: str
) -> None:
    a, b = ev("a", NOW + DAY), ev("b", NOW + 2 * DAY)
    store.apply_changes(calendar, ChangeSet(events=(a, b), cursor="c1"), NOW)
    before = stored(store)
    changes = ChangeSet(
        events=(ev("a", NOW + DAY, title="changed"), ev("c", NOW + 3 * DAY)),
        deleted=(b.key,),
        cursor="c2",
    )

    def crash(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(failing.upper()):
            raise RuntimeError(f"crash during {failing}")

    event.listen(store.engine, "before_cursor_execute", crash)
    try:
        with pytest.raises(RuntimeError, match="crash during"):
            store.apply_changes(calendar, changes, NOW + HOUR)
    finally:
        event.remove(store.engine, "before_cursor_execute", crash)

    assert store.cursor(calendar) == "c1"
    assert stored(store) == before
    # The same change set applies cleanly afterwards: nothing was half-done.
    assert store.apply_changes(calendar, changes, NOW + HOUR) == ApplyStats(1, 1, 0, 1)
    assert store.cursor(calendar) == "c2"


def test_success_clears_the_last_error(store: Store, calendar: int) -> None:
    store.record_error(calendar, "HTTP 500", NOW)
    [status] = store.calendar_status()
    assert (status.provider, status.calendar, status.owner) == ("feeds", "ann.ics", OWNER)
    assert (status.last_error, status.last_error_at, status.last_synced_at) == (
        "HTTP 500",
        NOW,
        None,
    )

    store.apply_changes(calendar, ChangeSet(unchanged=True, cursor="c1"), NOW + HOUR)
    [status] = store.calendar_status()
    assert (status.last_error, status.last_synced_at) == (None, NOW + HOUR)


def test_ensure_calendar_is_stable(store: Store) -> None:
    first = store.ensure_calendar("feeds", "ann.ics", "Ann@Example.com")
    assert store.ensure_calendar("feeds", "ann.ics", OWNER) == first
    assert store.ensure_calendar("feeds", "bob.ics", "bob@example.com") != first
    assert store.cursor(first) is None


# -- reading events back ---------------------------------------------------------------


def test_every_field_round_trips(store: Store, calendar: int) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    full = Event(
        uid="series-1@example.com",
        start=datetime(2026, 3, 29, 10, 0, 0, 123456, tzinfo=berlin),  # the DST switch day
        end=datetime(2026, 3, 29, 10, 30, tzinfo=berlin),
        title="1:1 Ann / Bob ✓",
        status=EventStatus.CANCELLED,
        organizer="ann@example.com",
        attendees=(
            Attendee("ann@example.com", Response.ACCEPTED),
            Attendee("bob@example.com", Response.DECLINED),
            Attendee("cid@example.com"),
        ),
        original_start=datetime(2026, 3, 28, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
        recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:20260406T080000Z"),
        all_day=True,
        timezone="Europe/Berlin",
        description="Agenda: https://docs.example.com/x\n— line two",
        transparent=True,
        remote_id="abc_20260329T080000Z",
        etag='"3381"',
        tags={"calsync.pair": "ann|bob", "calsync.key": "k1"},
    )
    bare = ev("bare", NOW)
    store.apply_changes(calendar, ChangeSet(events=(full, bare)), NOW)

    [first, second] = store.events_of([OWNER, "nobody@example.com"])[OWNER]
    assert (first, second) == (full, bare)
    for name in ("uid", "title", "status", "organizer", "attendees", "original_start"):
        assert getattr(first, name) == getattr(full, name)
    assert dict(first.tags) == dict(full.tags)
    assert first.start.utcoffset() == timedelta(0) and first.start.microsecond == 123456
    assert first.original_start is not None and first.original_start.utcoffset() == timedelta(0)
    assert store.events_of(["nobody@example.com"]) == {"nobody@example.com": []}
    assert store.all_events() == {OWNER: [full, bare]}


def test_nul_characters_are_replaced_on_every_backend(store: Store, calendar: int) -> None:
    store.apply_changes(calendar, ChangeSet(events=(ev("a", NOW, title="x\x00y"),)), NOW)
    assert stored(store)[0].title == "x\ufffdy"


# Printable text round-trips exactly; control characters are replaced (tested below).
_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n\r"), max_size=20
)
_instant = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]),
)


@st.composite
def _events(draw: st.DrawFn) -> Event:
    start = draw(_instant)
    return Event(
        uid=draw(_text.filter(bool)),
        start=start,
        # In UTC: wall-clock arithmetic on a local time can end before it starts
        # across a DST fold.
        end=start.astimezone(UTC)
        + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))),
        title=draw(_text),
        status=draw(st.sampled_from(EventStatus)),
        organizer=draw(st.none() | st.emails()),
        attendees=tuple(
            draw(st.lists(st.builds(Attendee, st.emails(), st.sampled_from(Response)), max_size=3))
        ),
        original_start=draw(st.none() | _instant),
        recurrence=tuple(draw(st.lists(_text, max_size=2))),
        all_day=draw(st.booleans()),
        timezone=draw(st.none() | _text),
        description=draw(_text),
        transparent=draw(st.booleans()),
        remote_id=draw(st.none() | _text),
        etag=draw(st.none() | _text),
        tags=draw(st.dictionaries(_text, _text, max_size=3)),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=_events())
def test_any_event_round_trips(store: Store, original: Event) -> None:
    calendar = store.ensure_calendar("feeds", "prop.ics", "prop@example.com")
    store.apply_changes(calendar, ChangeSet(events=(original,), full=True), original.start)
    assert store.events_of(["prop@example.com"]) == {"prop@example.com": [original]}
    # Written again, it is recognised as the same content.
    again = store.apply_changes(calendar, ChangeSet(events=(original,)), original.start)
    assert again == ApplyStats(unchanged=1)
    store.apply_changes(calendar, ChangeSet(deleted=(original.key,)), original.start)


def test_control_characters_are_stored_replaced(store: Store) -> None:
    """A NUL (PostgreSQL refuses it) or a terminal escape never lands in the database raw."""
    calendar = store.ensure_calendar("feeds", "esc.ics", "esc@example.com")
    event = Event(uid="u\x00", start=datetime(2026, 1, 1, tzinfo=UTC),
                  end=datetime(2026, 1, 1, 1, tzinfo=UTC), title="a\x1b[2Jb\x07\tc\n")
    store.apply_changes(calendar, ChangeSet(events=(event,), full=True), event.start)
    [stored] = store.events_of(["esc@example.com"])["esc@example.com"]
    assert stored.uid == "u\ufffd"
    assert stored.title == "a\ufffd[2Jb\ufffd\tc\n"


def test_reading_events_is_one_query(store: Store) -> None:
    for owner in ("ann@example.com", "bob@example.com"):
        calendar = store.ensure_calendar("feeds", f"{owner}.ics", owner)
        events = tuple(ev(f"{owner}-{i}", NOW + i * HOUR) for i in range(20))
        store.apply_changes(calendar, ChangeSet(events=events), NOW)

    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        found = store.events_of(["ann@example.com", "bob@example.com"])
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert [len(v) for v in found.values()] == [20, 20]
    assert len(selects) == 1


# -- evaluation results ------------------------------------------------------------------


def test_findings_open_update_resolve_and_reopen(store: Store) -> None:
    ann_bob = {"manager": "ann@example.com", "report": "bob@example.com"}
    store.sync_config(config([ann_bob]))
    gap = Finding("cadence_gap", "no 1:1 for 3 weeks", (NOW - 21 * DAY,))

    save_health(store, health("ann@example.com", "bob@example.com", gap), NOW)
    [opened] = store.open_findings()
    assert (opened.kind, opened.first_seen, opened.last_seen) == ("cadence_gap", NOW, NOW)
    assert opened.evidence == (NOW - 21 * DAY,)

    worse = Finding("cadence_gap", "no 1:1 for 4 weeks", (NOW - 28 * DAY, NOW), "critical")
    save_health(store, health("ann@example.com", "bob@example.com", worse), NOW + DAY)
    [updated] = store.open_findings(manager="Ann@Example.com")
    assert (updated.message, updated.severity) == ("no 1:1 for 4 weeks", "critical")
    assert (updated.first_seen, updated.last_seen) == (NOW, NOW + DAY)
    assert updated.evidence == (NOW - 28 * DAY, NOW)

    save_health(store, health("ann@example.com", "bob@example.com"), NOW + 2 * DAY)
    assert store.open_findings() == []

    save_health(store, health("ann@example.com", "bob@example.com", gap), NOW + 3 * DAY)
    [reopened] = store.open_findings()
    assert reopened.first_seen == NOW + 3 * DAY
    with session_of(store) as session:
        rows = session.scalars(select(FindingRow).order_by(FindingRow.id)).all()
    assert [(r.first_seen, r.resolved_at) for r in rows] == [
        (NOW, NOW + 2 * DAY),
        (NOW + 3 * DAY, None),
    ]

    assert store.open_findings(manager="bob@example.com") == []

    # As of a past instant: the episode that was open then, resolved later or not.
    [then] = store.open_findings(at=NOW + DAY + HOUR)
    assert (then.first_seen, then.resolved_at) == (NOW, NOW + 2 * DAY)
    assert store.open_findings(at=NOW + 2 * DAY) == []  # resolved by that evaluation
    assert store.open_findings(at=NOW - HOUR) == []  # not seen yet
    [now_open] = store.open_findings(at=NOW + 5 * DAY)
    assert (now_open.first_seen, now_open.resolved_at) == (NOW + 3 * DAY, None)

    store.sync_config(config([]))  # an inactive pair reports nothing
    assert store.open_findings() == []


def test_occurrences_are_replaced_by_each_evaluation(store: Store) -> None:
    store.sync_config(config([{"manager": "ann@example.com", "report": "bob@example.com"}]))
    held = Occurrence(NOW - 7 * DAY, NOW - 7 * DAY, NOW - 7 * DAY + HOUR, Status.HELD, uid="s")
    cancelled = Occurrence(
        NOW, NOW, NOW + HOUR, Status.CANCELLED, by="bob@example.com", uid="s", title="1:1"
    )
    moved = Occurrence(NOW + 7 * DAY, NOW + 8 * DAY, NOW + 8 * DAY + HOUR, Status.MOVED, None, True)

    save_health(store, health("ann@example.com", "bob@example.com", occurrences=[held]), NOW)
    save_health(
        store, health("ann@example.com", "bob@example.com", occurrences=[moved, cancelled]), NOW
    )
    # Kept as plain rows (the store does not import the policies); the engine translates.
    assert [o.status for o in store.occurrences_of("ann@example.com", "bob@example.com")] == [
        "cancelled",
        "moved",
    ]
    assert stored_occurrences(store, "ann@example.com", "bob@example.com") == [cancelled, moved]
    with pytest.raises(LookupError, match="no pair"):
        save_health(store, health("ann@example.com", "cid@example.com"), NOW)


def test_two_workers_saving_one_pairs_evaluation_take_turns(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    first.sync_config(config([{"manager": "ann@example.com", "report": "bob@example.com"}]))
    failures: list[Exception] = []

    def save(store: Store, barrier: threading.Barrier, result: PairHealth, now: datetime) -> None:
        barrier.wait()
        try:
            save_health(store, result, now)
        except Exception as exc:
            failures.append(exc)

    try:
        for hour in range(10):
            now = NOW + hour * HOUR
            result = health(
                "ann@example.com", "bob@example.com", Finding(f"kind-{hour}", "new"),
                occurrences=[Occurrence(now, now, now + HOUR, Status.HELD)],
            )
            barrier = threading.Barrier(2)
            threads = [
                threading.Thread(target=save, args=(store, barrier, result, now))
                for store in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        # Both saved every time, one after the other: no unique key was hit twice.
        assert failures == []
        [still_open] = first.open_findings()
        assert still_open.kind == "kind-9"
        assert len(first.occurrences_of("ann@example.com", "bob@example.com")) == 1
    finally:
        first.close()
        second.close()


def test_the_weekly_email_says_since_when_each_flag_is_open(store: Store) -> None:
    settings = team_settings()
    seed_team(store, settings)
    for day in (3, 10, 18):  # the daemon evaluated at noon on these days
        evaluate_all(settings, store, datetime(2026, 11, day, 12, tzinfo=UTC))
    evaluate_all(settings, store, SEND_NOW)  # after the reported week: changes nothing

    ann, bob = build_reports(settings, store, SEND_NOW, week=IsoWeek(2026, 47))
    cid = ann.rows[0]
    assert cid.name == "Cid Campos"
    tenth, eighteenth = (datetime(2026, 11, day, 12, tzinfo=UTC) for day in (10, 18))
    assert {f.kind: f.since for f in cid.flags} == {
        "repeated_cancellations": tenth,
        "cancellation_streak": tenth,
        "cadence_gap": tenth,
    }  # no_upcoming, open from the 3rd, was resolved on the 18th: not in the report
    assert {f.since for f in bob.rows[0].flags} == {eighteenth}
    assert (
        "   - The last 3 in a row did not happen, since Mon 2 Nov. Open since Tue 10 Nov.\n"
        in render_text(ann)
    )
    assert "Open since Wed 18 Nov." in render_html(bob)
    (entry,) = reports_document([ann], SEND_NOW)["reports"]
    assert {f["since"] for f in entry["reports"][0]["flags"]} == {"2026-11-10T12:00:00+00:00"}


# -- outbox ----------------------------------------------------------------------------


def test_outbox_enqueues_each_key_once(store: Store) -> None:
    store.sync_config(config([{"manager": "ann@example.com", "report": "bob@example.com"}]))
    pair = store.pair_id("ann@example.com", "bob@example.com")

    assert store.enqueue("k1", "create", {"start": NOW.isoformat()}, pair, now=NOW)
    assert not store.enqueue("k1", "create", {"start": "other"}, pair, now=NOW)
    assert store.enqueue("k2", "update", {}, now=NOW)
    assert [(i.key, i.payload, i.pair_id) for i in store.pending(10)] == [
        ("k1", {"start": NOW.isoformat()}, pair),
        ("k2", {}, None),
    ]

    store.mark_failed("k1", "HTTP 503", retry=True, now=NOW)
    store.mark_failed("k2", "HTTP 403", now=NOW)
    [retry] = store.pending(10)
    assert (retry.key, retry.attempts, retry.last_error) == ("k1", 1, "HTTP 503")

    store.mark_done("k1", "remote-1", now=NOW)
    assert store.pending(10) == []
    assert not store.enqueue("k1", "create", {}, pair, now=NOW)  # done stays done
    with pytest.raises(LookupError, match="k3"):
        store.mark_done("k3", None)


def test_completed_writes_land_with_their_audit_rows_or_not_at_all(store: Store) -> None:
    store.sync_config(config([{"manager": "ann@example.com", "report": "bob@example.com"}]))
    pair = store.pair_id("ann@example.com", "bob@example.com")
    for key in ("k1", "k2"):
        store.enqueue(key, "update_agenda", {}, pair, now=NOW)

    def audit(key: str) -> dict[str, Any]:
        return audit_values(key=key, kind="update_agenda", pair_id=pair, provider="work",
                            calendar="ann@example.com", remote_id=f"r-{key}", why="agenda",
                            before="", after="block", dry_run=False, now=NOW)

    # An unknown key in the chain: nothing of it is kept, k1 stays pending, unaudited.
    with pytest.raises(LookupError, match="k9"):
        store.complete_writes([("k1", "r-k1", audit("k1")), ("k9", None, audit("k9"))], now=NOW)
    assert [i.key for i in store.pending(10)] == ["k1", "k2"]
    assert store.writes() == []

    store.complete_writes([("k1", "r-k1", audit("k1")), ("k2", "r-k2", audit("k2"))], now=NOW)
    assert store.pending(10) == []
    assert [(w.key, w.remote_id, w.manager) for w in store.writes()] == [
        ("k1", "r-k1", "ann@example.com"), ("k2", "r-k2", "ann@example.com")]
    # A second completion (a re-run after a crash) records nothing twice.
    store.complete_writes([("k1", "r-k1", audit("k1"))], now=NOW)
    assert len(store.writes()) == 2


def test_migration_0006_keeps_feed_urls_only_as_digests(store_url: str) -> None:
    """A database from before 0006 held secret feed addresses in clear; after it, digests."""
    from alembic import command
    from sqlalchemy import create_engine

    from calsync.secrets import stored_calendar

    secret = "https://calendar.google.com/calendar/ical/ann/private-abc123/basic.ics"
    engine = create_engine(normalize_url(store_url))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(text("INSERT INTO calendars (provider, calendar, owner) "
                          "VALUES ('feeds', :url, 'ann@example.com')"), {"url": secret})
        conn.execute(text("INSERT INTO people (email, name, timezone, working_hours, provider,"
                          " calendar) VALUES ('ann@example.com', 'Ann', 'UTC', 'Mon 09:00-17:00',"
                          " 'feeds', :url)"), {"url": secret})
    engine.dispose()
    with open_store(store_url) as store:  # migrates to head
        with store.engine.connect() as conn:
            kept = conn.execute(text("SELECT calendar FROM calendars")).scalars().all()
            person = conn.execute(text("SELECT calendar FROM people")).scalars().all()
        assert kept == [stored_calendar(secret)] and person == [stored_calendar(secret)]
        # ...and the calendar is the same one to a sync that names it by its URL.
        assert store.ensure_calendar("feeds", secret, "ann@example.com") == 1


@contextmanager
def statements_on(store: Store) -> Iterator[list[str]]:
    """Every statement sent to the database while inside; executemany counts once."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("count", [10, 300])
def test_a_full_sync_writes_in_a_bounded_number_of_statements(
    store: Store, calendar: int, count: int
) -> None:
    # The write path batches: inserts, updates and deletes are one statement
    # each (executemany), however many events a calendar holds.
    events = tuple(ev(f"e{n}", NOW + n * HOUR) for n in range(count))
    with statements_on(store) as first:
        stats = store.apply_changes(calendar, ChangeSet(events=events, full=True, cursor="c1"), NOW)
    assert stats == ApplyStats(inserted=count)
    assert first.count("INSERT") == 1
    assert len(first) <= 8

    changed = tuple(
        ev(e.uid, e.start, title="moved") if n % 2 else e for n, e in enumerate(events[1:])
    )
    with statements_on(store) as second:
        stats = store.apply_changes(
            calendar, ChangeSet(events=changed, full=True, cursor="c2"), NOW
        )
    assert stats == ApplyStats(
        updated=len(changed) // 2, unchanged=len(changed) - len(changed) // 2, deleted=1
    )
    assert second.count("INSERT") == 0
    assert second.count("UPDATE") <= 2  # the changed events, then the calendar's cursor
    assert second.count("DELETE") == 1
    assert len(second) <= 8


# -- how rows are encoded (codec.RowEncoder) ----------------------------------------


def _raw_columns(store: Store, calendar: int) -> list[tuple[Any, ...]]:
    """The stored text of the JSON and instant columns, as the database holds it."""
    table = EventRow.__table__
    columns = [cast(table.c[name], Text) for name in ("attendees", "recurrence", "tags")]
    columns += [type_coerce(table.c[name], String) if store.engine.dialect.name == "sqlite"
                else table.c[name] for name in ("original_start", "start", "end")]
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(*columns).where(table.c.calendar_id == calendar).order_by(table.c.key)
        )]


def test_pre_encoded_values_are_stored_as_the_column_types_would_store_them(
    store: Store, calendar: int
) -> None:
    # The writer binds JSON text and instants it encoded itself; reading code
    # compares the stored text (``recurrence != '[]'``) and SQLite orders
    # instants as text, so the stored form must be the column types' own.
    events = (
        ev("s", NOW, attendees=(Attendee("ann@example.com", Response.ACCEPTED),
                                Attendee("bob@example.com")),
           recurrence=("RRULE:FREQ=WEEKLY",), tags={"key": "k\x1b1", "pair": "ann|bob"}),
        ev("s", NOW + DAY, original_start=NOW + DAY, description="x\ny"),
        ev("t", datetime(2026, 5, 21, 9, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))),
    )
    store.apply_changes(calendar, ChangeSet(events=events), NOW)
    other = store.ensure_calendar("feeds", "copy.ics", "copy@example.com")
    with store.engine.begin() as connection:  # the same rows through the column types
        connection.execute(EventRow.__table__.insert(), [
            {**codec_values(event), "calendar_id": other, "content_hash": "-", "updated_at": NOW}
            for event in events
        ])
    assert _raw_columns(store, calendar) == _raw_columns(store, other)
    read = store.events_of([OWNER])[OWNER]
    assert read == store.events_of(["copy@example.com"])["copy@example.com"]
    in_order = sorted(events, key=lambda e: e.start)
    assert [replace(e, tags={}) for e in read] == [replace(e, tags={}) for e in in_order]
    assert dict(read[0].tags) == {"key": "k\ufffd1", "pair": "ann|bob"}


def codec_values(event: Event) -> dict[str, Any]:
    """An event's column values as plain Python (what SQLAlchemy's types encode)."""
    clean = codec.clean
    return {
        "key": clean(event.key), "uid": clean(event.uid), "original_start": event.original_start,
        "start": event.start, "end": event.end, "title": clean(event.title),
        "status": event.status.value, "organizer": event.organizer,
        "attendees": [{"email": a.email, "response": a.response.value} for a in event.attendees],
        "recurrence": list(event.recurrence), "all_day": event.all_day,
        "timezone": event.timezone, "description": clean(event.description),
        "transparent": event.transparent, "remote_id": event.remote_id, "etag": event.etag,
        "tags": {clean(k): clean(v) for k, v in event.tags.items()},
    }


_BASE = ev("h", NOW, title="1:1", organizer="ann@example.com", description="d",
           attendees=(Attendee("ann@example.com", Response.ACCEPTED),), remote_id="r1",
           etag="e1", timezone="Europe/Berlin", tags={"key": "k"})


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"start": NOW - HOUR}, id="start"),
        pytest.param({"end": NOW + HOUR}, id="end"),
        pytest.param({"title": "1:1 "}, id="title"),
        pytest.param({"title": "", "description": "1:1d"}, id="text-moved-between-fields"),
        pytest.param({"status": EventStatus.CANCELLED}, id="status"),
        pytest.param({"organizer": None}, id="organizer-gone"),
        pytest.param({"attendees": (Attendee("ann@example.com", Response.DECLINED),)},
                     id="a-response"),
        pytest.param({"attendees": ()}, id="attendees-gone"),
        pytest.param({"recurrence": ("RRULE:FREQ=DAILY",)}, id="recurrence"),
        pytest.param({"all_day": True}, id="all_day"),
        pytest.param({"timezone": None}, id="timezone-gone"),
        pytest.param({"description": "d "}, id="description"),
        pytest.param({"transparent": True}, id="transparent"),
        pytest.param({"remote_id": "r2"}, id="remote_id"),
        pytest.param({"tags": {"key": "k2"}}, id="a-tag"),
        pytest.param({"tags": {}}, id="tags-gone"),
    ],
)
def test_every_field_but_the_etag_counts_as_a_change(
    store: Store, calendar: int, changed: dict[str, Any]
) -> None:
    store.apply_changes(calendar, ChangeSet(events=(_BASE,)), NOW)
    same = store.apply_changes(calendar, ChangeSet(events=(replace(_BASE, etag="e2"),)), NOW)
    assert same == ApplyStats(unchanged=1)
    new = replace(_BASE, **changed)
    assert store.apply_changes(calendar, ChangeSet(events=(new,)), NOW) == ApplyStats(updated=1)
    assert stored(store) == [new]


def test_an_empty_text_is_not_the_same_content_as_none(store: Store, calendar: int) -> None:
    none = replace(_BASE, timezone=None, remote_id=None)
    store.apply_changes(calendar, ChangeSet(events=(none,)), NOW)
    for empty in (replace(none, timezone=""), replace(none, timezone="", remote_id="")):
        assert store.apply_changes(calendar, ChangeSet(events=(empty,)), NOW) == ApplyStats(
            updated=1
        )


@pytest.mark.postgres
def test_a_bulk_sync_refreshes_the_planner_statistics_on_postgresql(
    postgres, team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.config import load_settings
    from calsync.demo.sample import DEMO_NOW
    from calsync.engine.sync import sync_all
    from calsync.providers.factory import build_readers, close_readers
    from calsync.store import base

    def analyzed(store: Store) -> bool:
        with store.engine.connect() as connection:
            return connection.execute(text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'events'"
            )).scalar_one()

    def first_sync(threshold: int) -> tuple[int, bool]:
        monkeypatch.setattr(base, "ANALYZE_AFTER_ROWS", threshold)
        url = postgres.create_database()
        settings = load_settings(team).model_copy(update={"database": url})
        readers = build_readers(settings)
        try:
            with open_store(url) as store:
                results = sync_all(settings, store, readers, DEMO_NOW)
                return sum(r.inserted for r in results), analyzed(store)
        finally:
            close_readers(readers)
            postgres.drop_database(url)

    loaded, refreshed = first_sync(threshold=100)
    assert loaded > 100 and refreshed
    # A pass that changes fewer rows leaves it to autovacuum.
    assert first_sync(threshold=loaded + 1) == (loaded, False)
