"""``calsync report`` end to end on the demo team: previews, JSON, sending, bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from tests.report_support import DEMO_MONDAY, DEMO_REPORTS, Catcher, smtp_server
from tests.support import cli


@pytest.fixture
def relay(team: Path, catcher: Catcher) -> Iterator[Path]:
    """The demo team with [report] and [smtp] pointing at an SMTP server on loopback."""
    with smtp_server(catcher) as port:
        with team.open("a") as config:
            config.write(
                "\n[report]\n"
                'from_address = "calsync <calsync@example.com>"\n'
                "\n[smtp]\n"
                f'host = "127.0.0.1"\nport = {port}\nstarttls = false\ntimeout = 10\n'
            )
        yield team


def test_out_writes_eml_and_html_previews_and_says_where(team: Path, tmp_path: Path) -> None:
    out = tmp_path / "emails"
    code, stdout, stderr = cli(team, "report", "--week", "2026-W47", "--now", DEMO_MONDAY,
                               "--out", str(out))
    assert code == 0, stderr
    eml = out / "2026-W47-maria@example.com.eml"
    html = out / "2026-W47-maria@example.com.html"
    assert str(eml) in stdout and str(html) in stdout
    message = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert message["To"] == "Maria Chen <maria@example.com>"
    assert message["Subject"] == (
        "1:1s 16–22 Nov: 3 of 5 held, 1 cancelled or declined · 4 need attention"
    )
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    page = html.read_text()
    assert page == message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for name in DEMO_REPORTS:
        assert name in page and name in text
    assert "declined once by Lena" in text  # the flags in plain words, addressed to Maria
    # Maria's cancellation of Wed 4 Nov fell on her day out of office: excused, not flagged.
    assert "cancelled once by you" in text and "Maria away 4 Nov" in text
    assert "Book the next 1:1 with Priya" in text


def test_json_is_the_same_data(team: Path) -> None:
    assert cli(team, "sync", "--now", DEMO_MONDAY)[0] == 0
    code, stdout, stderr = cli(team, "report", "--json", "--no-sync", "--now", DEMO_MONDAY)
    assert code == 0, stderr
    document = json.loads(stdout)
    (maria,) = document["reports"]
    assert maria["week"] == "2026-W47" and maria["complete"] is True
    assert maria["timezone"] == "America/New_York"
    counts = maria["counts"]
    assert (counts["expected"], counts["held"]) == (5, 3)
    assert (counts["cancelled"], counts["declined"], counts["missed"]) == (0, 1, 1)
    assert counts["made_up"] == 0 and counts["need_attention"] == 4
    statuses = {r["name"]: r["status"] for r in maria["reports"]}
    assert statuses["Kenji Watanabe"] == "critical" and statuses["Dev Patel"] == "ok"
    lena = next(r for r in maria["reports"] if r["name"] == "Lena Fischer")
    # Wed 4 Nov, cancelled on Maria's day out of office, is excused with its reason.
    assert [c["kind"] for c in lena["strip"]][-4:] == [
        "excused", "cancelled", "declined", "upcoming"
    ]
    assert lena["strip"][-4]["note"].endswith("excused, Maria away (out of office)")
    assert lena["away"] == ["Maria away 4 Nov"]
    assert maria["fairness"][0]["name"] == "Lena Fischer"
    assert maria["calendar_problems"] == []


def test_without_options_the_text_part_is_printed(team: Path) -> None:
    code, stdout, _ = cli(team, "report", "--now", DEMO_MONDAY)
    assert code == 0
    assert stdout.startswith("Subject: 1:1s 16–22 Nov: 3 of 5 held")
    assert "WEEKLY 1:1 HEALTH · week 47" in stdout and "Kenji Watanabe" in stdout


def test_a_calendar_that_cannot_be_read_is_in_the_footer(team: Path) -> None:
    assert cli(team, "sync", "--now", DEMO_MONDAY)[0] == 0
    (team.parent / "calendars" / "sam.ics").unlink()
    code, stdout, _ = cli(team, "report", "--now", DEMO_MONDAY)
    assert code == 0
    assert re.search(r"NOT SYNCED: Sam Okafor \(feeds: sam\.ics\), failing since .*sam\.ics",
                     stdout)
    assert "Sam Okafor (biweekly, 30m)" in stdout  # what the store knows is still reported


def test_send_sends_once_and_resend_sends_the_same_message_again(
    relay: Path, catcher: Catcher
) -> None:
    code, stdout, stderr = cli(relay, "report", "--send", "--now", DEMO_MONDAY)
    assert code == 0, stderr
    assert "✓ sent to maria@example.com (2026-W47)" in stdout
    assert [m.rcpt_tos for m in catcher.received] == [["maria@example.com"]]

    code, stdout, _ = cli(relay, "report", "--send", "--now", DEMO_MONDAY)
    assert code == 0
    assert "already sent at 2026-11-23 13:00 UTC (--resend to send again)" in stdout
    assert len(catcher.received) == 1

    code, stdout, _ = cli(relay, "report", "--send", "--resend", "--now", DEMO_MONDAY)
    assert code == 0 and "✓ sent" in stdout
    first, second = (m.message for m in catcher.received)
    assert first["Message-ID"] == second["Message-ID"]


def test_a_refused_send_exits_1_and_is_shown(relay: Path, catcher: Catcher) -> None:
    catcher.fail_next, catcher.fail_code = 1, "554 5.7.1 Relaying denied"
    code, stdout, _ = cli(relay, "report", "--send", "--now", DEMO_MONDAY)
    assert code == 1
    assert "✗ maria@example.com (2026-W47): not sent: 127.0.0.1" in stdout
    assert "554 5.7.1 Relaying denied" in stdout
    code, stdout, _ = cli(relay, "report", "--send", "--now", DEMO_MONDAY)  # a person tries again
    assert code == 0 and "✓ sent" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-47"], "is not an ISO week"),
        (["--week", "2030-W01", "--no-sync"], "has not started yet"),
        (["--manager", "dev@example.com"], "not the manager of any pair"),
        (["--resend"], "--resend only makes sense with --send"),
        (["--send"], "[smtp] is not configured"),
    ],
)
def test_bad_input_exits_2(team: Path, args: list[str], message: str) -> None:
    code, stdout, stderr = cli(team, "report", "--now", DEMO_MONDAY, *args)
    assert code == 2
    assert message in re.sub(r"\s+", " ", stderr + stdout)


def test_a_password_in_the_config_is_refused(team: Path) -> None:
    with team.open("a") as config:
        config.write('\n[report]\nfrom_address = "c@example.com"\n'
                     '\n[smtp]\nhost = "mail.example.com"\npassword = "hunter2"\n')
    code, _, stderr = cli(team, "report")
    assert code == 2
    assert "smtp.password: passwords do not go in the config file" in stderr
    assert "hunter2" not in stderr


def test_smtp_without_a_from_address_is_a_config_error(team: Path) -> None:
    with team.open("a") as config:
        config.write('\n[smtp]\nhost = "mail.example.com"\n')
    code, _, stderr = cli(team, "report")
    assert code == 2
    assert "report.from_address: required when the smtp section is configured" in stderr
