"""Booking a suggested make-up (engine/book.py) on the Google emulator and real daemon cycles.

The browser story is ``test_web_team.py``; here: many requests at the same
instant from separate store objects book one make-up, and a write calsync
could not perform lets the person choose another time under the same key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator

from calsync.config import IcsProvider
from calsync.engine.book import book_make_up, pending_make_up
from calsync.store import open_store
from tests.google_team_support import DEV, MARIA, RunningTeam, cancel, makeups, seed, write_config
from tests.support import at_once

THURSDAY = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Team(RunningTeam):
    """The team with ``rebook = "suggest"``: make-ups wait for someone to book one."""

    def __init__(self, tmp_path: Path, google: GoogleEmulator) -> None:
        self.google = google
        self.master = seed(google)
        config = write_config(tmp_path, google, rebook="suggest", agenda_template=False)
        super().__init__(config, THURSDAY)
        self.pair = self.settings.pairs[0]


@pytest.fixture
def team(tmp_path: Path, google: GoogleEmulator) -> Iterator[Team]:
    running = Team(tmp_path, google)
    running.cycle(THURSDAY)
    cancel(google, running.master, MONDAY)
    running.cycle(FRIDAY)
    yield running
    running.close()


def test_many_requests_at_once_book_one_make_up(team: Team) -> None:
    pending = pending_make_up(team.settings, team.store, team.pair, FRIDAY)
    assert pending is not None and pending.queued is None
    assert pending.bump.original_start == MONDAY and len(pending.suggestions) == 3
    slots = [s.start for s in pending.suggestions]
    stores = [open_store(team.settings.database_url()) for _ in range(6)]

    def click(index: int) -> str:
        booking = book_make_up(team.settings, stores[index], team.pair, slots[index % 2],
                               FRIDAY, by=MARIA)
        return booking.state

    try:  # every "tab" posts at the same instant, some with another slot
        states = sorted(at_once(click, range(len(stores))))
    finally:
        for store in stores:
            store.close()
    assert states == ["already"] * 5 + ["queued"]
    team.cycle(FRIDAY + timedelta(minutes=5))
    [made] = makeups(team.google, MARIA)
    [invited] = makeups(team.google, DEV)
    assert made["id"] == invited["id"]
    assert datetime.fromisoformat(made["start"]["dateTime"]) in slots[:2]
    assert "chosen by maria@example.com" in team.store.writes()[-1].why


def test_a_write_calsync_could_not_perform_lets_the_person_choose_again(team: Team) -> None:
    pending = pending_make_up(team.settings, team.store, team.pair, FRIDAY)
    assert pending is not None
    first, second = pending.suggestions[0].start, pending.suggestions[1].start
    booked = book_make_up(team.settings, team.store, team.pair, first, FRIDAY, by=MARIA)
    assert (booked.state, booked.provider, booked.calendar) == ("queued", "work", MARIA)
    # The calendar refused the write for good (as after its last retry).
    assert booked.key is not None
    team.store.mark_failed(booked.key, "the calendar refused: 409 conflict", retry=False)
    again = pending_make_up(team.settings, team.store, team.pair, FRIDAY)
    assert again is not None and again.queued is not None and again.queued.state == "failed"
    assert again.key == booked.key  # the same 1:1 to make up, the same key

    retried = book_make_up(team.settings, team.store, team.pair, second, FRIDAY, by=MARIA)
    assert retried.state == "queued" and retried.key == booked.key
    assert book_make_up(team.settings, team.store, team.pair, first, FRIDAY,
                        by=DEV).state == "already"
    team.cycle(FRIDAY + timedelta(minutes=5))
    [made] = makeups(team.google, MARIA)
    assert datetime.fromisoformat(made["start"]["dateTime"]) == second


def test_a_slot_that_is_not_free_is_refused_with_fresh_suggestions(team: Team) -> None:
    pending = pending_make_up(team.settings, team.store, team.pair, FRIDAY)
    assert pending is not None
    # The bumped time itself is never free (it just proved not to work), nor is 03:00.
    for start in (MONDAY, MONDAY.replace(hour=3)):
        refused = book_make_up(team.settings, team.store, team.pair, start, FRIDAY, by=MARIA)
        assert refused.state == "taken"
        assert refused.message.startswith("That time is no longer free for both of you.")
        assert [s.start for s in refused.suggestions] == [s.start for s in pending.suggestions]
    assert [i for i in team.store.pending() if i.key.startswith("makeup|")] == []


def test_a_calendar_calsync_only_reads_is_never_booked(team: Team) -> None:
    pending = pending_make_up(team.settings, team.store, team.pair, FRIDAY)
    assert pending is not None
    read_only = team.settings.model_copy(
        update={"providers": {"work": IcsProvider(kind="ics", path="feeds")}})
    refused = book_make_up(read_only, team.store, team.pair, pending.suggestions[0].start,
                           FRIDAY, by=MARIA)
    assert refused.state == "refused" and "ICS feed" in refused.message
    assert team.store.outbox_item(pending.key) is None
