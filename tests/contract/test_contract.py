"""The provider contract: the same 1:1 history and the same changes give the same events.

Every test runs against every backend (``backend`` fixture). The expected rows
come from ``History``, a model that knows nothing about any provider, so the
backends agree with each other because each agrees with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from calsync.model import AgendaBlock, EventStatus, Response
from calsync.providers.base import NewEvent, ProviderError
from tests.contract.harness import Harness
from tests.contract.history import (
    DEV,
    FIRST_UPCOMING,
    MARIA,
    NEW_SERIES,
    NOW,
    NY_NAME,
    PAST_CANCELLED,
    PAST_DECLINED,
    PAST_SHORTENED,
    SERIES_UID,
    original_start,
)

NEXT = FIRST_UPCOMING  # Monday 23 November
LATER = FIRST_UPCOMING + 4  # Monday 21 December


def synced(backend: Harness) -> Callable[[], list]:
    """Seed, sync once into a store kept for the test, and return a re-sync-and-read."""
    backend.seed()
    store = backend.store
    first = backend.sync(store)
    assert first.ok, first.message

    def again() -> list:
        result = backend.sync(store)
        assert result.ok, result.message
        return backend.rows(store)

    return again


def full_sync_rows(backend: Harness) -> list:
    """What one fresh full sync of the remote calendar stores, for comparison."""
    with backend.fresh_store() as store:
        result = backend.sync(store)
        assert result.ok, result.message
        return backend.rows(store)


#: Where a backend disagrees with the contract today: a product bug, reported, not hidden.
#: Strict: the test fails the suite as soon as the backend starts agreeing.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def known_bug(request: pytest.FixtureRequest, backend: Harness, what: str) -> None:
    reason = KNOWN_BUGS.get((backend.name, what))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def upcoming(rows: list) -> list:
    """Rows whose effective start is not yet past: what a fresh sync must also hold."""
    return [r for r in rows if (r.original_start or r.start) >= NOW]


# -- reading the history -------------------------------------------------------------


def test_first_sync_reads_the_seeded_history(backend: Harness) -> None:
    backend.seed()
    with backend.fresh_store() as store:
        result = backend.sync(store)
        assert result.ok, result.message
        rows = backend.rows(store)
    assert rows == backend.history.expected()
    by_original = {r.original_start: r for r in rows if r.kind == "occurrence"}
    assert len(by_original) == 20
    # Across the DST change: 09:00 New York is 13:00Z in October, 14:00Z in November.
    assert original_start(7) == datetime(2026, 10, 26, 13, 0, tzinfo=UTC)
    assert original_start(8) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert by_original[original_start(PAST_CANCELLED)].status is EventStatus.CANCELLED
    shortened = by_original[original_start(PAST_SHORTENED)]
    assert shortened.end - shortened.start == timedelta(minutes=15)
    assert by_original[original_start(PAST_DECLINED)].dev is Response.DECLINED


def test_an_idle_sync_is_unchanged(backend: Harness) -> None:
    again = synced(backend)
    before = again()
    result = backend.sync(backend.store)
    assert result.ok and result.unchanged
    assert backend.rows(backend._store) == before  # type: ignore[attr-defined]


# -- one change, then an incremental sync -----------------------------------------------

CHANGES: dict[str, Callable[[Harness], None]] = {
    "cancel one instance": lambda b: b.cancel(NEXT),
    "move one instance": lambda b: b.move(LATER, datetime(2026, 12, 22, 16, 0, tzinfo=UTC)),
    "shorten one instance": lambda b: b.shorten(NEXT + 1, 15),
    "the attendee declines one instance": lambda b: b.decline_as_attendee(NEXT + 2),
    "split the series": lambda b: b.split_series(LATER + 2, (14, 30)),
    "delete the series": lambda b: b.delete("series"),
    "delete the one-off": lambda b: b.delete("single"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_reaches_the_store(
    request: pytest.FixtureRequest, backend: Harness, change: str
) -> None:
    if change == "split the series":
        known_bug(request, backend, "split")
    again = synced(backend)
    CHANGES[change](backend)
    rows = again()
    assert rows == backend.history.expected()
    assert upcoming(rows) == upcoming(full_sync_rows(backend))


def test_every_change_at_once(request: pytest.FixtureRequest, backend: Harness) -> None:
    known_bug(request, backend, "split")
    again = synced(backend)
    for change in CHANGES.values():
        if change is not CHANGES["delete the series"]:
            change(backend)
    assert again() == backend.history.expected()


def test_a_split_series_continues_at_the_new_time(backend: Harness) -> None:
    again = synced(backend)
    backend.split_series(LATER, (14, 30))
    rows = again()
    old = [r for r in rows if r.uid == SERIES_UID and r.kind == "occurrence"]
    new = [r for r in rows if r.uid == NEW_SERIES and r.kind == "occurrence"]
    assert max(r.original_start for r in old) == original_start(LATER - 1)
    assert new[0].start == datetime(2026, 12, 21, 19, 30, tzinfo=UTC)  # 14:30 New York
    assert len(old) + len(new) == 20


def test_deleting_the_series_keeps_its_history(backend: Harness) -> None:
    again = synced(backend)
    backend.delete("series")
    rows = again()
    occurrences = [r for r in rows if r.kind == "occurrence"]
    assert occurrences and all(r.original_start < NOW for r in occurrences)
    assert any(r.kind == "series" and r.uid == SERIES_UID for r in rows)


def test_deleting_a_split_series_keeps_only_the_history(backend: Harness) -> None:
    again = synced(backend)
    backend.split_series(NEXT + 1, (10, 0))
    again()
    backend.delete("series")  # both halves; the new one has not begun
    rows = again()
    assert rows == backend.history.expected()
    assert not [r for r in rows if r.uid == NEW_SERIES]
    assert upcoming(rows) == upcoming(full_sync_rows(backend))


# -- cursors and faults ----------------------------------------------------------------------


@pytest.mark.requires("incremental")
def test_an_expired_cursor_resyncs_in_full_and_keeps_history(backend: Harness) -> None:
    again = synced(backend)
    backend.cancel(NEXT)
    backend.delete("series")
    backend.expire_cursor()
    result = backend.sync(backend.store)
    assert result.ok and result.resynced, result.message
    assert backend.rows(backend._store) == backend.history.expected()  # type: ignore[attr-defined]
    assert again() == backend.history.expected()


def test_a_resync_over_a_shorter_past_keeps_what_it_no_longer_shows(backend: Harness) -> None:
    again = synced(backend)
    before = again()
    backend.reconfigure(past_days=14)
    backend.expire_cursor()
    assert again() == before == backend.history.expected()


@pytest.mark.requires("faults")
@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_failures_are_retried_with_backoff(backend: Harness, status: int) -> None:
    again = synced(backend)
    backend.cancel(NEXT)
    backend.inject(status, 2)
    assert again() == backend.history.expected()
    assert len(backend.sleeps) == 2


@pytest.mark.requires("faults")
def test_failures_beyond_the_retries_keep_the_store_and_recover(backend: Harness) -> None:
    again = synced(backend)
    before = backend.rows(backend.store)
    backend.cancel(NEXT)
    backend.inject(503, 50)
    result = backend.sync(backend.store)
    assert not result.ok and "503" in result.message
    assert backend.rows(backend._store) == before  # type: ignore[attr-defined]
    backend.inject(503, 0)
    assert again() == backend.history.expected()


@pytest.mark.requires("batch")
def test_a_batch_fetch_gives_what_a_single_fetch_gives(backend: Harness) -> None:
    backend.seed()
    batch = backend.batch_reader()
    assert batch is not None
    [(calendar, fetched)] = batch.fetch_many([(backend.calendar, None)], NOW).items()
    single = backend.reader().fetch_changes(backend.calendar, None, NOW)
    assert calendar == backend.calendar and not isinstance(fetched, Exception)
    assert sorted(e.key for e in fetched.events) == sorted(e.key for e in single.events)


# -- writes, only through the CalendarWriter port -----------------------------------------------

MAKEUP_KEY = f"makeup|{MARIA}|{DEV}|20261123T140000Z|1"


def makeup() -> NewEvent:
    return NewEvent(
        title="1:1 Maria / Dev (make-up)",
        start=datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        end=datetime(2026, 11, 25, 15, 30, tzinfo=UTC),
        organizer=MARIA,
        attendees=(MARIA, DEV),
        timezone=NY_NAME,
        tags={"pair": f"{MARIA}|{DEV}", "for": "2026-11-23T14:00:00Z"},
    )


@pytest.mark.requires("write")
def test_an_owned_event_is_created_exactly_once_and_read_back(backend: Harness) -> None:
    again = synced(backend)
    writer = backend.writer()
    assert writer is not None
    remote_id = writer.create_owned(backend.calendar, makeup(), MAKEUP_KEY)
    assert writer.create_owned(backend.calendar, makeup(), MAKEUP_KEY) == remote_id
    again()
    made = [e for e in backend.events(backend.store)
            if e.tags.get("key") == MAKEUP_KEY]  # fmt: skip
    assert [(e.remote_id, e.start, e.end, e.status) for e in made] == [
        (remote_id, makeup().start, makeup().end, EventStatus.CONFIRMED)
    ]
    assert made[0].tags["pair"] == f"{MARIA}|{DEV}"
    assert made[0].response_of(DEV) is not None


@pytest.mark.requires("write")
def test_the_agenda_block_is_written_once_into_the_series(backend: Harness) -> None:
    again = synced(backend)
    writer = backend.writer()
    assert writer is not None
    [master] = [e for e in backend.events(backend.store)
                if e.is_series and e.uid == SERIES_UID]  # fmt: skip
    url = "https://docs.example.com/1on1/maria-dev"
    block = AgendaBlock(url)
    writer.update_description(backend.calendar, master.remote_id, block)
    writer.update_description(backend.calendar, master.remote_id, block)
    rows = again()
    [master] = [e for e in backend.events(backend.store)
                if e.is_series and e.uid == SERIES_UID]  # fmt: skip
    assert master.description.count(url) == 1 and block.is_in(master.description)
    assert rows == backend.history.expected()  # only the description changed


@pytest.mark.requires("write")
def test_undo_deletes_only_calsyncs_event_and_restores_the_description(
    backend: Harness,
) -> None:
    again = synced(backend)
    writer = backend.writer()
    assert writer is not None
    [master] = [e for e in backend.events(backend.store)
                if e.is_series and e.uid == SERIES_UID]  # fmt: skip
    original = master.description
    remote_id = writer.create_owned(backend.calendar, makeup(), MAKEUP_KEY)
    block = AgendaBlock("https://docs.example.com/1on1/maria-dev")
    writer.update_description(backend.calendar, master.remote_id, block)
    again()

    with pytest.raises(ProviderError):  # another key: not calsync's event to delete
        writer.delete_owned(backend.calendar, remote_id, MAKEUP_KEY + "|other")
    writer.delete_owned(backend.calendar, remote_id, MAKEUP_KEY)
    writer.delete_owned(backend.calendar, remote_id, MAKEUP_KEY)  # already gone is fine
    removal = AgendaBlock(block.url, remove=True)
    writer.update_description(backend.calendar, master.remote_id, removal)
    writer.update_description(backend.calendar, master.remote_id, removal)
    rows = again()
    events = backend.events(backend.store)
    assert not [e for e in events if e.tags.get("key") == MAKEUP_KEY
                and e.status is not EventStatus.CANCELLED]  # fmt: skip
    [master] = [e for e in events if e.is_series and e.uid == SERIES_UID]
    assert master.description == original  # people's text, byte for byte
    assert rows == backend.history.expected()
