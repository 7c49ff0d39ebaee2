"""Excused 1:1s as people see them: the stored record, the 1:1 page, the table, the email."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from calsync.cli.check_table import health_table, legend
from calsync.engine.evaluate import (
    occurrence_of,
    occurrence_row,
    policy_params,
    stored_occurrences,
)
from calsync.policies import Occurrence, PairHealth, Status
from calsync.report.model import build_manager_report, report_json
from calsync.report.render import render_html, render_text
from calsync.report.schedule import IsoWeek
from calsync.store import Store
from calsync.timeutil import Cadence
from tests.support import Clock
from tests.web_support import DEV, FIRST, HALF, MARIA, NOW, WEEK, Team, team_settings

REASON = "Dev away (out of office)"


def _record() -> list[Occurrence]:
    """Mon 2 and 9 Nov held, 16 Nov excused (Dev away), 23 and 30 Nov ahead."""
    statuses = [Status.HELD, Status.HELD, Status.EXCUSED, Status.UPCOMING, Status.UPCOMING]
    return [
        Occurrence(FIRST + i * WEEK, FIRST + i * WEEK, FIRST + i * WEEK + HALF, status,
                   reason=REASON if status is Status.EXCUSED else None)
        for i, status in enumerate(statuses)
    ]


def test_an_excused_occurrence_keeps_its_reason_through_the_store(store: Store,
                                                                  tmp_path: Path) -> None:
    store.sync_config(team_settings(tmp_path))
    store.save_evaluation(MARIA, DEV, [occurrence_row(o) for o in _record()], [], NOW)
    back = stored_occurrences(store, MARIA, DEV)
    assert back == _record()
    # A cancelled one keeps its ``by``; only an excused one reads the column as the reason.
    cancelled = Occurrence(FIRST, FIRST, FIRST + HALF, Status.CANCELLED, by=MARIA)
    assert occurrence_of(occurrence_row(cancelled)) == cancelled


@pytest.fixture
def team(tmp_path: Path, store: Store) -> Iterator[Team]:
    running = Team(team_settings(tmp_path), store, Clock(NOW))
    store.save_evaluation(MARIA, DEV, [occurrence_row(o) for o in _record()], [], NOW)
    yield running
    running.close()


def test_the_1on1_page_says_why_and_topics_wait_for_a_1on1_that_takes_place(
    team: Team,
) -> None:
    maria = team.sign_in(MARIA)
    page = team.page()
    text = maria.get(page).text
    assert f"excused: {REASON}" in text
    api = maria.get("/api/pairs/" + page.rsplit("/", 1)[1] + "/agenda").json()
    excused = [m for m in api["history"] if m["status"] == "excused"]
    assert [(m["reason"], m["by"]) for m in excused] == [(REASON, None)]
    # Dev is away on Mon 23 Nov as well: that 1:1 will not take place, so the
    # page's next 1:1 (where topics go) is the 30th.
    rows = [occurrence_row(o) for o in _record()]
    rows[3] = occurrence_row(Occurrence(FIRST + 3 * WEEK, FIRST + 3 * WEEK,
                                        FIRST + 3 * WEEK + HALF, Status.EXCUSED,
                                        reason=REASON))
    team.store.save_evaluation(MARIA, DEV, rows, [], NOW)
    text = maria.get(page).text
    assert "Next 1:1 · Mon 30 Nov 2026, 10:00" in text


def _health() -> PairHealth:
    return PairHealth(
        manager=MARIA, report=DEV, cadence=Cadence(weeks=1), series_title="Maria / Dev 1:1",
        series_uids=("s",), occurrences=tuple(_record()), adherence_4=1.0, adherence_12=1.0,
        findings=(), next_start=FIRST + 3 * WEEK, last_held=FIRST + WEEK,
        away=("Dev away 16\u201320 Nov",),
    )


def test_the_table_draws_excused_and_names_the_leave_instead_of_healthy(
    tmp_path: Path,
) -> None:
    settings = team_settings(tmp_path)
    console = Console(width=200, record=True, color_system=None)
    console.print(health_table(settings, [_health()], NOW))
    console.print(legend())
    text = console.export_text()
    assert "\u2713" not in text  # no stray glyphs: held is ●, excused is –
    assert "●●–" in text
    assert "Dev away 16\u201320 Nov" in text and "healthy" not in text
    assert "– excused (someone away)" in text


def test_the_email_says_who_was_away_and_counts_it_apart(tmp_path: Path) -> None:
    settings = team_settings(tmp_path)
    as_of = NOW + timedelta(days=2)
    report = build_manager_report(
        settings.person(MARIA), {p.email: p for p in settings.people}, settings.pairs,
        [_health()], [], week=IsoWeek(2026, 47), as_of=as_of,
        policy=policy_params(settings.policy), generated_at=as_of,
    )
    text, html = render_text(report), render_html(report)
    for part in (text, html):
        assert "Dev away 16\u201320 Nov" in part
        assert "1 excused (someone away)" in part
        assert "excused: someone was away" in part  # the legend shows it once it is drawn
    document = report_json(report)
    assert document["counts"]["excused"] == 1
    row = document["reports"][0]
    assert row["away"] == ["Dev away 16\u201320 Nov"]
    assert [c["kind"] for c in row["strip"]][:3] == ["held", "held", "excused"]
    assert row["strip"][2]["note"].endswith(f"excused, {REASON}")


def test_the_record_on_me_says_why_a_1on1_was_excused() -> None:
    from zoneinfo import ZoneInfo

    from calsync.report.record import record_summary

    summary = record_summary(_record(), DEV, lambda email: email.split("@")[0],
                             ZoneInfo("Europe/London"), NOW)
    texts = {entry.status: entry.text for entry in summary.entries}
    assert texts["excused"] == f"excused: {REASON}"
    assert summary.adherence_4 == 1.0  # two held; the excused one is not counted


def test_no_nudge_before_a_1on1_that_someone_is_away_for() -> None:
    from calsync.policies.nudges import nudgeable

    ahead = FIRST + 3 * WEEK  # Mon 23 Nov, after NOW
    upcoming = Occurrence(ahead, ahead, ahead + HALF, Status.UPCOMING)
    excused = Occurrence(ahead, ahead, ahead + HALF, Status.EXCUSED, reason=REASON)
    assert nudgeable(upcoming, NOW) and not nudgeable(excused, NOW)
