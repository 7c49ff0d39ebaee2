"""A planted secret feed URL never reaches an output channel.

Dev's calendar is Google's "secret address in iCal format" (the credential is
in the path). His feed fails, which is when the URL used to leak: into the
weekly email's footer, ``check --json``, ``report --json`` and the ``-v`` log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import cli, free_port

SECRET = "private-5ecre7t0ken9f3a"
MONDAY = "2026-11-23T13:00:00Z"


@pytest.fixture
def leaky(team: Path) -> Path:
    url = (f"http://127.0.0.1:{free_port()}/calendar/ical/dev%40example.com/{SECRET}/"
           "basic.ics")
    text = team.read_text()
    changed, count = re.subn(r'calendar = "dev.ics"', f'calendar = "{url}"', text)
    assert count == 1
    team.write_text(changed)
    return team


@pytest.mark.parametrize(
    "args",
    [
        ["-v", "-v", "sync", "--now", MONDAY],
        ["-v", "-v", "check", "--now", MONDAY],
        ["-v", "check", "--json", "--now", MONDAY],
        ["-v", "report", "--json", "--now", MONDAY, "--week", "2026-W47"],
        ["-v", "report", "--now", MONDAY, "--week", "2026-W47"],
        ["-v", "doctor"],
    ],
    ids=["sync", "check", "check-json", "report-json", "report-email", "doctor"],
)
def test_no_output_channel_shows_the_secret(leaky: Path, args: list[str]) -> None:
    # A first sync records the failure, so the email's footer has something to say.
    cli(leaky, "sync", "--now", MONDAY)
    _code, out, err = cli(leaky, *args)
    assert SECRET not in out and SECRET not in err
    assert "127.0.0.1" in out + err  # the feed is named, by its host


def test_previews_written_to_disk_do_not_show_it(leaky: Path, tmp_path: Path) -> None:
    cli(leaky, "sync", "--now", MONDAY)
    out_dir = tmp_path / "previews"
    cli(leaky, "report", "--now", MONDAY, "--week", "2026-W47", "--out", str(out_dir))
    written = [p.read_bytes() for p in out_dir.iterdir()]
    assert written and not any(SECRET.encode() in data for data in written)


def test_the_database_never_holds_it(leaky: Path) -> None:
    cli(leaky, "sync", "--now", MONDAY)
    cli(leaky, "check", "--now", MONDAY)
    database = leaky.parent / "state" / "calsync.db"
    data = database.read_bytes()
    wal = database.with_name("calsync.db-wal")
    if wal.exists():
        data += wal.read_bytes()
    assert SECRET.encode() not in data
    assert b"/calendar/ical/" not in data  # no part of the path either: a digest is kept
