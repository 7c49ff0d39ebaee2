"""The calsync command end to end: ICS files -> store -> policies -> table and JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from calsync.demo.sample import DEMO_NOW
from tests.support import cli

NOW = DEMO_NOW.isoformat()


def check_json(config: Path, *extra: str, code: int = 0) -> dict:
    exit_code, out, err = cli(config, "check", "--json", "--now", NOW, *extra)
    assert exit_code == code, err
    return json.loads(out)


def pair(document: dict, report: str) -> dict:
    return next(p for p in document["pairs"] if p["report"] == report)


def kinds(entry: dict) -> set[str]:
    return {f["kind"] for f in entry["flags"]}


def test_demo_team_findings_match_the_story(team):
    doc = check_json(team)
    assert doc["generated_at"] == "2026-11-20T21:00:00+00:00"
    assert all(c["ok"] for c in doc["calendars"])

    dev = pair(doc, "dev@example.com")
    assert kinds(dev) == set()
    assert dev["adherence"] == {"last_4": 1.0, "last_12": 1.0}
    assert dev["series"] == "Maria / Dev 1:1"  # not the "Coffee" decoy
    moved = [o for o in dev["occurrences"] if o["status"] == "moved"]
    assert len(moved) == 1 and moved[0]["in_window"] is True
    assert moved[0]["original_start"] is not None

    lena = pair(doc, "lena@example.com")
    assert {"repeated_cancellations", "cancellation_streak"} <= kinds(lena)
    # The one Maria deleted on her day off (Wed 4 Nov, all-day "OOO") is excused:
    # outside adherence and bumps, shown with its reason.
    assert lena["adherence"]["last_4"] == 0.5
    excused = [o for o in lena["occurrences"] if o["status"] == "excused"]
    assert [(o["start"], o["reason"]) for o in excused] == [
        ("2026-11-04T15:00:00+00:00", "Maria away (out of office)")]
    assert lena["away"] == ["Maria away 4 Nov"]
    assert lena["bumped_by"]["maria@example.com"] >= 1
    assert lena["bumped_by"]["lena@example.com"] >= 1

    sam = pair(doc, "sam@example.com")
    assert "chronic_shortening" in kinds(sam)
    assert sam["cadence"] == "biweekly"

    priya = pair(doc, "priya@example.com")
    assert {"cadence_gap", "no_upcoming"} <= kinds(priya)
    assert priya["next"] is None
    assert any(o["status"] == "missed" for o in priya["occurrences"])

    tom = pair(doc, "tom@example.com")
    statuses = [o["status"] for o in tom["occurrences"]]
    assert "declined" in statuses
    declined = next(o for o in tom["occurrences"] if o["status"] == "declined")
    assert declined["by"] == "maria@example.com"
    assert any(o["status"] == "moved" and o["in_window"] is False for o in tom["occurrences"])

    ana = pair(doc, "ana@example.com")
    assert ana["cadence"] == "monthly"
    assert "cadence_gap" not in kinds(ana) and "no_series" not in kinds(ana)

    kenji = pair(doc, "kenji@example.com")
    assert kinds(kenji) == {"no_series"}
    assert kenji["adherence"] == {"last_4": None, "last_12": None}

    ranked = doc["fairness"][0]["reports"]
    assert ranked[0]["report"] == "lena@example.com"


def test_json_times_carry_offsets(team):
    doc = check_json(team)
    for entry in doc["pairs"]:
        for occurrence in entry["occurrences"]:
            for key in ("start", "end"):
                assert re.search(r"[+-]\d\d:\d\d$", occurrence[key]), occurrence


def test_table_is_printed(team):
    code, out, err = cli(team, "check", "--now", NOW)
    assert code == 0, err
    assert "Maria Chen → Lena Fischer" in out
    assert "did not happen" in out
    assert "No recurring 1:1" in out


def test_second_sync_is_unchanged_and_changes_nothing(team):
    assert cli(team, "sync", "--now", NOW)[0] == 0
    first = check_json(team, "--no-sync")
    code, out, _ = cli(team, "sync", "--now", NOW)
    assert code == 0
    assert out.count("unchanged") == len(first["calendars"]) or "unchanged" in out
    assert check_json(team, "--no-sync")["pairs"] == first["pairs"]


def test_unreadable_calendar_keeps_what_is_stored(team):
    first = check_json(team)
    lena_before = pair(first, "lena@example.com")
    (team.parent / "calendars" / "lena.ics").write_text("this is not a calendar\n")
    code, out, _ = cli(team, "sync", "--now", NOW)
    assert code == 1
    assert "lena" in out and "✗" in out
    after = check_json(team, code=1)  # a calendar failed: check says so
    lena_after = pair(after, "lena@example.com")
    assert lena_after["occurrences"] == lena_before["occurrences"]
    failed = [c for c in after["calendars"] if not c["ok"]]
    assert [c["owner"] for c in failed] == ["lena@example.com"]
    assert "lena.ics" in failed[0]["error"]


def test_broken_component_warns_with_file_and_uid(team):
    path = team.parent / "calendars" / "dev.ics"
    text = path.read_text()
    broken = (
        "BEGIN:VEVENT\r\nUID:broken-event@example.com\r\nSUMMARY:Broken\r\n"
        "DTSTART:not-a-time\r\nEND:VEVENT\r\n"
    )
    path.write_text(text.replace("END:VCALENDAR", broken + "END:VCALENDAR"))
    doc = check_json(team)
    dev_cal = next(c for c in doc["calendars"] if c["owner"] == "dev@example.com")
    assert dev_cal["ok"]
    assert any("dev.ics" in w and "broken-event@example.com" in w for w in dev_cal["warnings"])
    assert pair(doc, "dev@example.com")["adherence"]["last_12"] == 1.0


def test_bad_config_exits_2_naming_file_and_key(team):
    team.write_text(team.read_text().replace('cadence = "weekly"', 'cadence = "sometimes"', 1))
    code, _, err = cli(team, "check")
    assert code == 2
    assert str(team) in err
    assert "cadence" in err and "'sometimes' is not a cadence" in err


def test_bad_now_exits_2(team):
    code, _, err = cli(team, "check", "--now", "next tuesday")
    assert code == 2
    assert "--now" in err


def test_now_without_offset_is_rejected(team):
    code, _, err = cli(team, "check", "--now", "2026-11-20T21:00:00")
    assert code == 2
    assert "no UTC offset" in err


def test_bad_database_url_exits_2(team):
    team.write_text(re.sub(r'(?m)^database\s*=.*$', 'database = "nonsense"', team.read_text()))
    code, _, err = cli(team, "sync")
    assert code == 2
    assert "database" in err and "nonsense" in err


def test_doctor_reports_a_missing_calendar(team):
    assert cli(team, "doctor")[0] == 0
    (team.parent / "calendars" / "sam.ics").unlink()
    code, out, _ = cli(team, "doctor")
    assert code == 1
    assert "sam@example.com" in out


def test_installed_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "calsync.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "check" in result.stdout and "doctor" in result.stdout


def test_demo_runs_on_the_emulators_and_makes_up_a_bumped_one(team, tmp_path):
    emails = tmp_path / "emails"
    code, out, err = cli(team, "demo", "--now", NOW, "--emails", str(emails))
    assert code == 0, err
    assert "Google Calendar API emulator" in out and "Microsoft Graph emulator" in out
    assert "priya@example.com: CalDAV, calendar http://127.0.0.1:" in out  # on a Radicale
    assert "Maria cancels Tuesday's 1:1 with Dev" in out
    assert "1 make-up booked" in out
    assert out.count("(make-up for Tue 24 Nov)") == 2  # on both calendars
    assert "https://docs.example.com/1on1/maria-dev" in out
    [eml] = emails.glob("*.eml")
    assert eml.name == "2026-W47-maria@example.com.eml"
    assert (emails / "2026-W47-maria@example.com.html").read_text().count("Lena Fischer") >= 1
