"""``setup = "auto"``: a pair with no 1:1 gets its recurring series created, exactly once.

Real ``calsync run --once`` processes against the Google emulator, killed at
the outbox's crash points, then ``check --json`` and ``undo`` on the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.engine.outbox import LEASE
from tests.google_team_support import DEV, MARIA, team_config, write_config
from tests.support import Clock, cli

# Thursday 3 Dec 2026, 08:00 in New York: the pair has never had a 1:1 series.
NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
LATER = NOW + LEASE + timedelta(minutes=1)


def seed_without_a_series(google: GoogleEmulator) -> None:
    google.add_calendar(MARIA)
    google.add_calendar(DEV)
    # Dev's standing Monday team meeting covers the whole overlap of their days:
    # the proposal has to go around it, to Tuesday.
    google.insert_event(DEV, {
        "summary": "Team weekly",
        "start": {"dateTime": "2026-11-02T14:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-02T18:00:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    })


def series(google: GoogleEmulator, calendar: str) -> list[dict]:
    """Live recurring events titled as the pair's 1:1 on ``calendar``."""
    return [
        e for e in google.events(calendar)
        if e.get("recurrence") and e.get("status") != "cancelled"
        and e.get("summary") == "1:1 Maria / Dev"
    ]


def run_once(config: Path, now: datetime, crash: str | None = None) -> int:
    env = {**os.environ, "CALSYNC_CRASH_AT": crash} if crash else None
    done = subprocess.run(
        [sys.executable, "-m", "calsync.cli", "-c", str(config), "run", "--once",
         "--now", now.isoformat()],
        capture_output=True, timeout=120, env=env,
    )
    assert done.returncode in (0, 86), done.stderr.decode()[-2000:]
    return done.returncode


def pair_of(config: Path, now: datetime) -> dict:
    code, out, err = cli(config, "check", "--json", "--no-sync", "--now", now.isoformat())
    assert code == 0, err + out
    (pair,) = json.loads(out)["pairs"]
    return pair


def test_suggest_proposes_the_slot_and_writes_nothing(google, tmp_path):
    seed_without_a_series(google)
    config = write_config(tmp_path, google, rebook=None, setup="suggest")
    assert run_once(config, NOW) == 0
    assert series(google, MARIA) == []
    pair = pair_of(config, NOW)
    assert pair["proposal"] == {
        "weekday": "tuesday",
        "local_start": "10:00",
        "zone": "America/New_York",
        "minutes": 30,
        "cadence": "weekly",
        "rrule": "RRULE:FREQ=WEEKLY;BYDAY=TU",
        "first_start": "2026-12-08T15:00:00+00:00",
        "free": 8,
        "total": 8,
        "conflicts": [],
        "text": "Tuesdays 10:00–10:30 New York (16:00 Berlin), free 8 of the next 8 weeks",
    }
    (flag,) = [f for f in pair["flags"] if f["kind"] == "no_series"]
    assert flag["message"].endswith(
        "Propose Tuesdays 10:00–10:30 New York (16:00 Berlin), free 8 of the next 8 weeks.")
    code, out, _ = cli(config, "check", "--no-sync", "--now", NOW.isoformat())
    assert code == 0 and "Propose Tuesdays 10:00–10:30 New York" in out
    # The weekly email's advice names the slot, in the text and the HTML part.
    code, out, err = cli(config, "report", "--json", "--no-sync", "--now", NOW.isoformat(),
                         "--out", str(tmp_path / "mail"))
    assert code == 0, err + out
    (row,) = json.loads(out)["reports"][0]["reports"]
    assert row["advice"].startswith("Set up a recurring weekly 30m 1:1 with Dev. Proposed: "
                                    "Tuesdays 10:00–10:30 New York (16:00 Berlin), free ")
    (html,) = (tmp_path / "mail").glob("*.html")
    assert "Proposed: Tuesdays 10:00–10:30 New York (16:00 Berlin)" in html.read_text()


@pytest.mark.parametrize("point", ["before-write", "after-write"])
def test_auto_creates_the_series_once_even_when_the_daemon_is_killed(google, tmp_path, point):
    seed_without_a_series(google)
    config = write_config(tmp_path, google, rebook=None, setup="auto")
    assert run_once(config, NOW, crash=point) == 86
    assert len(series(google, MARIA)) == (1 if point == "after-write" else 0)
    # The dead worker's lease runs out; the restart finishes the write (finding
    # the series if it was made), and the runs after it do nothing more.
    for minutes in (0, 5, 60):
        assert run_once(config, LATER + timedelta(minutes=minutes)) == 0
    (created,) = series(google, MARIA)
    assert created["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=TU"]
    assert created["start"] == {"dateTime": "2026-12-08T10:00:00-05:00",
                                "timeZone": "America/New_York"}
    assert created["extendedProperties"]["private"]["calsyncKey"] == f"series|{MARIA}|{DEV}"
    assert "https://docs.example.com/1on1/" in created["description"]
    assert {a["email"] for a in created["attendees"]} == {MARIA, DEV}
    assert len(series(google, DEV)) == 1  # the invitation on Dev's calendar

    # The next sync read it back as the pair's 1:1: evaluated normally from now on.
    pair = pair_of(config, LATER + timedelta(hours=2))
    assert pair["series"] == "1:1 Maria / Dev"
    assert "no_series" not in {f["kind"] for f in pair["flags"]}
    assert pair["proposal"] is None
    assert pair["next"] == "2026-12-08T15:00:00+00:00"
    _, out, _ = cli(config, "writes", "--json")
    created_rows = [r for r in json.loads(out)["writes"] if r["kind"] == "create_series"]
    assert len(created_rows) == 1 and "RRULE:FREQ=WEEKLY;BYDAY=TU" in created_rows[0]["after"]


def test_undo_deletes_the_series_and_it_is_not_created_again(google, tmp_path):
    seed_without_a_series(google)
    config = write_config(tmp_path, google, rebook=None, setup="auto")
    run_once(config, NOW)
    assert len(series(google, MARIA)) == 1
    code, out, err = cli(config, "undo", "--all", "--now", NOW.isoformat())
    assert code == 0, err + out
    assert series(google, MARIA) == [] and series(google, DEV) == []
    # Undone stays undone: the key is done, nothing is booked again. The series had
    # not begun, so it leaves no history (as a full sync would read it): no series.
    for minutes in (5, 65):
        run_once(config, NOW + timedelta(minutes=minutes))
    assert series(google, MARIA) == [] and series(google, DEV) == []
    pair = pair_of(config, NOW + timedelta(minutes=65))
    assert pair["next"] is None and "no_series" in {f["kind"] for f in pair["flags"]}
    _, out, _ = cli(config, "writes", "--json")
    kinds = sorted(r["kind"] for r in json.loads(out)["writes"])
    assert kinds == ["create_series", "delete_makeup"]


# -- Microsoft Graph ------------------------------------------------------------------------


def graph_config(tmp_path: Path, graph: GraphEmulator) -> Path:
    text = team_config(f"sqlite:///{tmp_path / 'calsync.db'}", "", rebook=None, setup="auto")
    text = text.replace('kind = "google"\nauth = "none"\napi_endpoint = ""',
                        f'kind = "outlook"\nauth = "none"\ngraph_endpoint = "{graph.url}"')
    path = tmp_path / "calsync.toml"
    path.write_text(text)
    return path


def graph_series(graph: GraphEmulator, upn: str) -> list[dict]:
    return [
        e for e in graph.events(upn)
        if e.get("type") == "seriesMaster" and not e.get("isCancelled")
        and e.get("subject") == "1:1 Maria / Dev"
    ]


@pytest.mark.parametrize("point", ["after-write"])
def test_auto_creates_one_graph_series_in_the_managers_zone_despite_a_kill(tmp_path, point):
    with GraphEmulator(port=0, auth=False, clock=Clock(NOW)) as graph:
        graph.add_mailbox(MARIA, "Maria", time_zone="Eastern Standard Time")
        graph.add_mailbox(DEV, "Dev", time_zone="W. Europe Standard Time")
        graph.create_event(DEV, {
            "subject": "Team weekly",
            "start": {"dateTime": "2026-11-02T14:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-11-02T18:00:00", "timeZone": "Europe/Berlin"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "noEnd", "startDate": "2026-11-02"},
            },
        })
        config = graph_config(tmp_path, graph)
        assert run_once(config, NOW, crash=point) == 86
        assert len(graph_series(graph, MARIA)) == 1
        for minutes in (0, 5):
            assert run_once(config, LATER + timedelta(minutes=minutes)) == 0
        (created,) = graph_series(graph, MARIA)
        assert created["recurrence"]["pattern"]["type"] == "weekly"
        assert created["recurrence"]["pattern"]["daysOfWeek"] == ["tuesday"]
        assert created["recurrence"]["range"]["startDate"] == "2026-12-08"
        assert "https://docs.example.com/1on1/" in created["body"]["content"]
        assert len(graph_series(graph, DEV)) == 1  # the invitation in Dev's mailbox
        pair = pair_of(config, LATER + timedelta(hours=1))
        assert pair["series"] == "1:1 Maria / Dev"
        assert "no_series" not in {f["kind"] for f in pair["flags"]}
        assert pair["next"] == "2026-12-08T15:00:00+00:00"
        # Undo deletes the series from the organizer's mailbox (and so the invitation).
        code, out, err = cli(config, "undo", "--all", "--now", LATER.isoformat())
        assert code == 0, err + out
        assert graph_series(graph, MARIA) == []
