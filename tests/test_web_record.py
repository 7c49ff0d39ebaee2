"""The team page, the report's own page and booking over real HTTP: who sees what, CSRF.

The browser story (booking on the Google emulator) is ``test_web_team.py``;
here the record is stored directly and the rules are checked one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.policies.types import Occurrence, Status
from calsync.report.record import entry_text, record_summary
from calsync.store import Store, StoredOccurrence
from tests.support import Clock
from tests.web_support import (
    BOSS,
    DEV,
    EVE,
    FIRST,
    HALF,
    LENA,
    MARIA,
    NOW,
    WEEK,
    Team,
    csrf_of,
    team_settings,
)


def record(statuses: list[tuple[str, str | None]]) -> list[StoredOccurrence]:
    return [
        StoredOccurrence(FIRST + i * WEEK, FIRST + i * WEEK, FIRST + i * WEEK + HALF, status, by)
        for i, (status, by) in enumerate(statuses)
    ]


@pytest.fixture
def team(tmp_path: Path, store: Store) -> Iterator[Team]:
    running = Team(team_settings(tmp_path), store, Clock(NOW))
    # Mon 2 held, 9 declined by Dev, 16 cancelled by Maria, 23 and 30 ahead.
    store.save_evaluation(MARIA, DEV, record(
        [("held", None), ("declined", DEV), ("cancelled", MARIA), ("upcoming", None),
         ("upcoming", None)]), [], NOW)
    store.save_evaluation(MARIA, LENA, record([("held", None), ("held", None)]), [], NOW)
    yield running
    running.close()


def test_the_pages_need_a_session(team: Team) -> None:
    with team.client() as anonymous:
        assert anonymous.get("/team").headers["location"] == "/signin?next=/team"
        assert anonymous.get("/me").headers["location"] == "/signin?next=/me"


def test_a_report_sees_their_record_in_their_own_words_and_zone(team: Team) -> None:
    dev = team.sign_in(DEV)
    page = dev.get("/me")
    assert page.status_code == 200
    text = page.text
    assert "With Maria Chen" in text
    # Dev is in Kolkata: 15:00 UTC is 20:30 there; newest first.
    assert text.index("Mon 16 Nov 2026, 20:30") < text.index("Mon 9 Nov 2026, 20:30")
    assert "cancelled by Maria Chen" in text and "declined by you" in text
    assert "33% of the last 4" in text  # 1 of the 3 settled was held
    assert "Lena" not in text  # a colleague's pair is not on his page
    assert 'href="/me"' in text and 'href="/team"' not in text


def test_a_colleague_pair_is_403_for_the_report_and_for_booking(team: Team) -> None:
    dev = team.sign_in(DEV)
    lena_page = team.page(MARIA, LENA)
    assert dev.get(lena_page).status_code == 403
    token = csrf_of(dev, "/me")
    refused = dev.post(lena_page + "/book",
                       data={"csrf": token, "start": "2026-11-24T15:00:00+00:00"})
    assert refused.status_code == 403
    assert team.store.pending() == []


def test_booking_needs_the_csrf_token_and_a_time(team: Team) -> None:
    maria = team.sign_in(MARIA)
    page = team.page(MARIA, DEV)
    assert maria.post(page + "/book", data={"start": "2026-11-24T15:00:00Z"}).status_code == 403
    token = csrf_of(maria, "/team")
    assert maria.post(page + "/book", data={"csrf": token, "start": "soon"}).status_code == 400
    # No calendar shows a bumped 1:1: nothing is waiting, nothing is booked, and the page says so.
    answer = maria.post(page + "/book", data={"csrf": token, "start": "2026-11-24T15:00:00Z"})
    assert answer.status_code == 303 and answer.headers["location"] == "/team"
    assert "No 1:1 is waiting for a make-up: nothing was booked." in maria.get("/team").text
    assert "nothing was booked" not in maria.get("/team").text  # said once, not forever
    assert team.store.pending() == []


def test_the_team_page_is_the_managers_and_lists_only_their_reports(team: Team) -> None:
    maria = team.sign_in(MARIA)
    page = maria.get("/team")
    assert page.status_code == 200
    assert "Dev Patel" in page.text and "Lena Fischer" in page.text
    assert page.text.count('class="card team-row') == 2
    assert f'href="{team.page(MARIA, DEV)}"' in page.text
    for person in (DEV, EVE, BOSS):  # a report, someone in no pair, an admin
        other = team.sign_in(person).get("/team")
        assert other.status_code == 200
        assert "You do not manage anyone" in other.text
        assert "team-row" not in other.text and "Lena Fischer" not in other.text
    nobody = team.sign_in(EVE).get("/me")
    assert "calsync looks after no 1:1 with a manager of yours" in nobody.text


def test_record_lines_speak_to_the_reader_and_show_unknown_statuses() -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)

    def line(status: Status | str, by: str | None = None, moved: int = 0,
             in_window: bool | None = None) -> str:
        occurrence = Occurrence(start, start + moved * HALF, start + (moved + 1) * HALF,
                                status, by, in_window)  # type: ignore[arg-type]
        return entry_text(occurrence, DEV, {MARIA: "Maria"}.get, zone)

    assert line(Status.CANCELLED, MARIA) == "cancelled by Maria"
    assert line(Status.DECLINED, DEV) == "declined by you"
    assert line(Status.MADE_UP, MARIA, moved=50) == (
        "made up on Tue 17 Nov, 17:00 (was Mon 16 Nov, 16:00)")
    assert line(Status.MOVED, moved=2, in_window=True) == "held, moved from Mon 16 Nov, 16:00"
    assert line(Status.MOVED, moved=30, in_window=False) == (
        "moved out of its period (was Mon 16 Nov, 16:00)")
    assert line(Status.MISSED) == "nothing on the calendar"
    assert line("excused") == "excused"  # a status a newer calsync records: shown, not dropped
    summary = record_summary([Occurrence(start, start, start + HALF, Status.HELD)], DEV,
                             str, zone, start + WEEK)
    assert [e.text for e in summary.entries] == ["held"] and summary.adherence_4 == 1.0
