"""No traceback reaches a person: each failure is a message and the documented exit code.

2: something a person must fix (config, key file, arguments); 1: a check or a
calendar failed. A daemon that cannot start for a reason a person must fix
exits 2, so systemd stops restarting it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import cli

FRIDAY = "2026-11-20T21:00:00Z"


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


def test_check_without_sync_on_a_new_database(team: Path) -> None:
    code, out, err = cli(team, "check", "--no-sync", "--json", "--now", FRIDAY)
    assert code == 0, err
    assert '"pairs"' in out


def test_report_without_sync_on_a_new_database(team: Path) -> None:
    code, _out, err = cli(team, "report", "--no-sync", "--json", "--now", FRIDAY)
    assert code == 0, err


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                                 "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("verb", ["sync", "check", "report"])
def test_an_out_of_range_now_is_bad_input(team: Path, verb: str, now: str) -> None:
    code, out, err = cli(team, verb, "--now", now)
    assert code == 2
    assert "--now" in err
    assert_no_traceback(out + err)


def test_check_exits_1_when_a_calendar_failed(team: Path) -> None:
    (team.parent / "calendars" / "dev.ics").unlink()
    code, out, _err = cli(team, "check", "--now", FRIDAY)
    assert code == 1
    assert "Dev" in out  # the table is still shown


def _daemon(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calsync.cli", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)})


def test_a_corrupt_key_file_stops_the_daemon_with_exit_2(team: Path) -> None:
    (team.parent / "calsync.key").write_text("not a fernet key\n")
    done = _daemon(team, "run")
    assert done.returncode == 2, done.stderr
    assert "calsync.key" in done.stderr and "not a Fernet key" in done.stderr
    assert_no_traceback(done.stdout + done.stderr)


def test_a_busy_port_stops_the_daemon_with_exit_2(team: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with team.open("a") as config:
            config.write(f'\n[daemon]\nlisten = "127.0.0.1:{port}"\n')
        done = _daemon(team, "run")
    assert done.returncode == 2, done.stderr
    assert "listen" in done.stderr
    assert_no_traceback(done.stdout + done.stderr)


def test_an_unreadable_database_is_a_message(team: Path) -> None:
    state = team.parent / "state"
    state.mkdir()
    (state / "calsync.db").write_bytes(b"this is not a SQLite database" * 100)
    code, out, err = cli(team, "check", "--now", FRIDAY)
    assert code == 1
    assert "database" in err
    assert_no_traceback(out + err)


def test_doctor_on_an_empty_config_is_a_problem(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text("")
    code, out, _err = cli(config, "doctor")
    assert code == 1
    assert "no [[pairs]] configured" in out


def test_a_zero_poll_interval_is_refused(team: Path) -> None:
    with team.open("a") as config:
        config.write('\n[daemon]\npoll_interval = "0s"\n')
    code, _out, err = cli(team, "check")
    assert code == 2
    assert "daemon.poll_interval" in err and "at least 10s" in err


@pytest.mark.postgres
def test_doctor_finds_a_read_only_database(team: Path, postgres) -> None:
    url = postgres.create_database()
    text = team.read_text().replace('database = "sqlite:///state/calsync.db"',
                                    f'database = "{url}"')
    team.write_text(text)
    assert cli(team, "sync", "--now", FRIDAY)[0] == 0  # migrated and filled
    read_only = url + "?options=-c%20default_transaction_read_only%3Don"
    team.write_text(text.replace(f'database = "{url}"', f'database = "{read_only}"'))
    code, out, err = cli(team, "doctor")
    assert code == 1
    assert "cannot be written" in out and "read-only transaction" in out
    code, out, err = cli(team, "sync", "--now", FRIDAY)
    assert code == 1
    assert "read-only transaction" in out + err
    assert_no_traceback(out + err)
