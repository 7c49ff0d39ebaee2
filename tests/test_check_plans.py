"""``calsync check`` shows what the planner found: suggested make-ups, and why none is booked."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from calsync.cli.main import main

# Monday 23 Nov 2026, 08:00 in New York; Dev's Tuesday 1:1 is cancelled.
MONDAY = "2026-11-23T13:00:00Z"
SERIES_RULE = "RRULE:FREQ=WEEKLY;BYDAY=TU"
CANCEL_TUESDAY = "EXDATE;TZID=America/New_York:20261124T090000"


def _cancel_devs_tuesday(team: Path) -> None:
    """Maria deletes Tuesday's occurrence: both copies of the series lose it."""
    for name in ("maria.ics", "dev.ics"):
        path = team.parent / "calendars" / name
        text = path.read_text()
        assert SERIES_RULE in text
        path.write_text(text.replace(SERIES_RULE, f"{SERIES_RULE}\r\n{CANCEL_TUESDAY}", 1))


def _run(team: Path, *args: str) -> str:
    result = CliRunner(env={"COLUMNS": "220"}).invoke(main, ["-c", str(team), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _with_rebook(team: Path, report: str, rebook: str) -> None:
    """Set one pair's rebook setting in the copied config."""
    text = team.read_text()
    pattern = rf'(report = "{re.escape(report)}"[^\[]*?rebook = )"\w+"'
    changed, count = re.subn(pattern, rf'\1"{rebook}"', text, count=1)
    assert count == 1
    team.write_text(changed)


def test_the_table_shows_the_suggested_make_up_of_a_bumped_one(team: Path) -> None:
    _cancel_devs_tuesday(team)
    _with_rebook(team, "dev@example.com", "suggest")
    document = json.loads(_run(team, "check", "--json", "--now", MONDAY))
    dev = next(p for p in document["pairs"] if p["report"] == "dev@example.com")
    assert [b["original_start"] for b in dev["bumps"]] == ["2026-11-24T14:00:00+00:00"]
    first = dev["suggestions"][0]["start"]

    table = _run(team, "check", "--now", MONDAY)
    local = first[:10]  # the suggested day, as the manager reads it
    assert "Suggested make-up:" in table
    row = next(line for line in table.splitlines() if "Suggested make-up:" in line)
    assert str(int(local[8:])) in row


def test_the_table_says_when_a_make_up_cannot_be_booked(team: Path) -> None:
    _cancel_devs_tuesday(team)
    _with_rebook(team, "dev@example.com", "auto")
    document = json.loads(_run(team, "check", "--json", "--now", MONDAY))
    dev = next(p for p in document["pairs"] if p["report"] == "dev@example.com")
    assert "cannot_book" in {f["kind"] for f in dev["flags"]}
    table = _run(team, "check", "--now", MONDAY)
    # The demo's calendars are read-only ICS files: the table says so, and still
    # shows the slot a person could book by hand.
    assert "calsync cannot book the make-up" in table
    assert "Suggested make-up:" in table


def _kenji_works_early_and_wants_auto_setup(team: Path) -> None:
    """Kenji's Tokyo mornings meet Maria's New York afternoons (the day before)."""
    text = team.read_text()
    text = text.replace('working_hours = "Mon-Thu 10:00-19:00, Fri 10:00-16:00"',
                        'working_hours = "Mon-Fri 06:00-10:00"', 1)
    text = text.replace('report = "kenji@example.com"\ncadence = "weekly"',
                        'report = "kenji@example.com"\ncadence = "weekly"\nsetup = "auto"', 1)
    assert 'setup = "auto"' in text and '"Mon-Fri 06:00-10:00"' in text
    team.write_text(text)


def test_auto_setup_on_a_read_only_calendar_proposes_but_cannot_book(team: Path) -> None:
    _kenji_works_early_and_wants_auto_setup(team)
    document = json.loads(_run(team, "check", "--json", "--now", MONDAY))
    kenji = next(p for p in document["pairs"] if p["report"] == "kenji@example.com")
    proposal = kenji["proposal"]
    assert proposal is not None and proposal["zone"] == "America/New_York"
    assert proposal["text"].startswith("Mondays 16:")  # Tuesday morning in Tokyo
    assert "(06:" in proposal["text"] and "Tokyo" in proposal["text"]
    flags = {f["kind"]: f["message"] for f in kenji["flags"]}
    assert flags["no_series"].endswith(f"calsync books {proposal['text']}.")
    assert flags["cannot_book"].startswith("calsync cannot create the 1:1 series")
    table = _run(team, "check", "--now", MONDAY)
    assert "calsync cannot create the 1:1 series" in table
