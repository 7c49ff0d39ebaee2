"""The nudge before each 1:1: when it is due (pure), and sent once per person by the daemon.

The end-to-end test runs real daemon cycles on the Google emulator and a real
SMTP server (aiosmtpd) on loopback, on an injected clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator

from calsync.config import ConfigError, settings_from_dict
from calsync.policies.nudges import EMPTY, NUDGE, Recipient, due_nudges, nudge_key, send_time
from calsync.policies.types import Occurrence, Status
from calsync.report.nudge import nudge_problems, send_due_nudges
from calsync.store import Store, open_store
from calsync.store import report_sends as sends
from calsync.timeutil import WorkingHours
from tests.google_team_support import (
    DEV,
    MARIA,
    RunningTeam,
    cancel,
    makeups,
    seed,
    team_config,
)
from tests.report_support import Catcher, smtp_server
from tests.support import at_once

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
OFFICE = WorkingHours.parse("Mon-Fri 09:00-17:00")
DAY = timedelta(days=1)
HALF = timedelta(minutes=30)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


def upcoming(start: datetime, status: Status = Status.UPCOMING,
             original: datetime | None = None) -> Occurrence:
    return Occurrence(original or start, start, start + HALF, status)


MARIA_NY = Recipient(MARIA, NEW_YORK, OFFICE)


# -- when (pure) --------------------------------------------------------------------------


def test_a_nudge_inside_working_hours_goes_out_exactly_the_lead_before() -> None:
    assert send_time(ny(2026, 11, 24, 14, 0), DAY, MARIA_NY) == ny(2026, 11, 23, 14, 0)


def test_a_monday_one_on_one_is_nudged_on_friday_afternoon_not_on_sunday() -> None:
    # Sunday 10:00 is not a working time; Monday 09:00 would leave one hour of a day's lead.
    assert send_time(ny(2026, 11, 23, 10, 0), DAY, MARIA_NY) == ny(2026, 11, 20, 16, 0)


def test_an_early_one_on_one_is_nudged_when_the_day_before_starts() -> None:
    assert send_time(ny(2026, 11, 25, 8, 30), DAY, MARIA_NY) == ny(2026, 11, 24, 9, 0)


def test_each_person_is_nudged_inside_their_own_hours_across_a_dst_change() -> None:
    # Mon 2 Nov 2026 10:00 New York, the day after the clocks went back there.
    start = ny(2026, 11, 2, 10, 0)
    dev = Recipient(DEV, BERLIN, WorkingHours.parse("Mon-Fri 09:00-18:00"))
    for person in (MARIA_NY, dev):
        at = send_time(start, DAY, person).astimezone(person.zone)
        assert at.weekday() == 4 and at.hour == 16 if person is MARIA_NY else at.hour == 17


def test_cancelled_and_declined_get_none_a_make_up_gets_its_own_and_a_move_keeps_its_key() -> None:
    monday = ny(2026, 11, 23, 10, 0)
    record = [
        upcoming(monday - 7 * DAY),  # already past
        upcoming(monday, Status.CANCELLED),
        upcoming(monday + 2 * DAY + 4 * HALF, Status.MADE_UP, original=monday),
        upcoming(monday + 7 * DAY + 2 * HALF, Status.MOVED, original=monday + 7 * DAY),
        upcoming(monday + 14 * DAY, Status.DECLINED),
    ]
    # 13 days later the declined one's time has come: it is not going ahead, nothing is due.
    assert due_nudges(record, "m|r", [MARIA_NY], monday + 13 * DAY + 4 * HALF, lead=DAY) == []
    at = monday + DAY + 6 * HALF  # Tuesday 13:00: the make-up (Wednesday noon) is due
    [made_up] = due_nudges(record, "m|r", [MARIA_NY], at, lead=DAY)
    assert made_up.made_up and made_up.occurrence.status is Status.MADE_UP
    assert made_up.key == f"nudge|m|r|made_up@{record[2].start.isoformat()}"
    assert made_up.key != nudge_key(NUDGE, "m|r", record[1])
    later = due_nudges(record, "m|r", [MARIA_NY], monday + 7 * DAY, lead=DAY)
    assert [n.key for n in later] == [f"nudge|m|r|{(monday + 7 * DAY).isoformat()}"]


def test_the_empty_agenda_reminder_is_a_second_kind_with_its_own_key() -> None:
    start = ny(2026, 11, 24, 15, 0)
    due = due_nudges([upcoming(start)], "m|r", [MARIA_NY], ny(2026, 11, 24, 12, 30),
                     lead=DAY, empty_lead=timedelta(hours=3))
    assert [(n.kind, n.send_at) for n in due] == [
        (NUDGE, ny(2026, 11, 23, 15, 0)), (EMPTY, ny(2026, 11, 24, 12, 0))]
    assert len({n.key for n in due}) == 2


def test_nudge_keys_are_typed_durations_and_off_by_default(tmp_path: Path) -> None:
    base = {"people": [], "pairs": []}
    assert settings_from_dict(base, source=tmp_path / "c.toml").web.nudge is None
    settings = settings_from_dict({**base, "web": {"nudge": "1d", "nudge_empty": "3h"}},
                                  source=tmp_path / "c.toml")
    assert (settings.web.nudge, settings.web.nudge_empty) == (DAY, timedelta(hours=3))
    with pytest.raises(ConfigError, match=r"c\.toml: web\.nudge: 'tomorrow' is not a duration"):
        settings_from_dict({**base, "web": {"nudge": "tomorrow"}}, source=tmp_path / "c.toml")


# -- sent by the daemon, once -----------------------------------------------------------

# The series: Mondays 10:00 New York (15:00 UTC). Maria works 09-17 New York, Dev 09-18 Berlin.
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
DEV_NUDGE = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # Fri 17:00 Berlin
MARIA_NUDGE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # Fri 16:00 New York

EXTRA = """
[smtp]
host = "127.0.0.1"
port = {port}
starttls = false

[report]
from_address = "calsync <calsync@example.org>"

[web]
public_url = "http://calsync.example.test"
nudge = "1d"
{web_extra}
"""


class Team(RunningTeam):
    """The team with mail: nudges go to the SMTP server on ``port``."""

    def __init__(self, tmp_path: Path, google: GoogleEmulator, port: int,
                 web_extra: str = "") -> None:
        self.google = google
        self.master = seed(google)
        text = team_config(f"sqlite:///{tmp_path / 'calsync.db'}", google.url,
                           agenda_template=False)
        config = tmp_path / "calsync.toml"
        config.write_text(text + EXTRA.format(port=port, web_extra=web_extra))
        super().__init__(config, datetime(2026, 11, 19, 12, 0, tzinfo=UTC))


@pytest.fixture
def web_extra() -> str:
    return ""


@pytest.fixture
def team(tmp_path: Path, google: GoogleEmulator, catcher: Catcher,
         web_extra: str) -> Iterator[Team]:
    with smtp_server(catcher) as port:
        running = Team(tmp_path, google, port, web_extra)
        try:
            yield running
        finally:
            running.close()


def nudges_to(catcher: Catcher, email: str) -> list[str]:
    return [r.message.get_content() for r in catcher.received
            if email in r.rcpt_tos and "calsync-nudge" in r.message["Message-ID"]]


def test_each_person_is_nudged_once_in_their_own_hours_and_not_again_after_a_restart(
    team: Team, catcher: Catcher
) -> None:
    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    assert catcher.received == []  # Thursday: nobody's nudge time yet
    team.store.add_topic(MARIA, DEV, MONDAY, "Promotion path", DEV, team.clock.now)

    team.cycle(DEV_NUDGE + timedelta(minutes=5))  # Friday evening in Berlin, lunch in New York
    [dev_mail] = nudges_to(catcher, DEV)
    assert nudges_to(catcher, MARIA) == []
    assert "your 1:1 with Maria is on Mon 23 Nov 2026 at 16:00 (Europe/Berlin)" in dev_mail
    assert "1. Promotion path" in dev_mail
    page = team.store.page_id(MARIA, DEV, team.clock.now)
    assert f"http://calsync.example.test/1on1/{page}" in dev_mail

    team.cycle(MARIA_NUDGE + timedelta(minutes=5))
    [maria_mail] = nudges_to(catcher, MARIA)
    assert "your 1:1 with Dev is on Mon 23 Nov 2026 at 10:00 (America/New_York)" in maria_mail
    assert len(nudges_to(catcher, DEV)) == 1

    # A restart (a new store and daemon on the same database) sends nothing again.
    team.restart()
    team.cycle(MARIA_NUDGE + timedelta(hours=2))
    team.cycle(MONDAY - timedelta(minutes=10))
    assert len(nudges_to(catcher, MARIA)) == len(nudges_to(catcher, DEV)) == 1
    recorded = sends.sends(team.store, f"nudge|{MARIA}|{DEV}|{MONDAY.isoformat()}",
                           kind=sends.NUDGE)
    assert sorted((r.manager, r.state) for r in recorded) == [(DEV, "sent"), (MARIA, "sent")]
    # The weekly email (sent Monday morning) is its own kind in the same ledger.
    assert [(r.manager, r.kind) for r in sends.sends(team.store)] == [(MARIA, "weekly")]


def test_a_cancelled_one_on_one_gets_no_nudge_and_its_make_up_gets_one(
    team: Team, catcher: Catcher
) -> None:
    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    cancel(team.google, team.master, MONDAY)  # Maria cancels Monday's, on Thursday
    team.cycle(datetime(2026, 11, 19, 13, 0, tzinfo=UTC))
    [made] = makeups(team.google, MARIA)
    start = datetime.fromisoformat(made["start"]["dateTime"]).astimezone(UTC)
    assert MONDAY < start < MONDAY + timedelta(days=7)

    # Every cycle until the make-up has started: one nudge each, about the make-up only.
    moment = datetime(2026, 11, 19, 14, 0, tzinfo=UTC)
    while moment < start:
        team.cycle(moment)
        moment += timedelta(hours=6)
    for person, zone in ((MARIA, NEW_YORK), (DEV, BERLIN)):
        [mail] = nudges_to(catcher, person)
        local = start.astimezone(zone)
        assert f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M}" in mail
        assert "It is the make-up for the 1:1 of Mon 23 Nov." in mail
        assert "No topics yet." in mail


def test_two_workers_at_once_send_each_nudge_once(team: Team, catcher: Catcher) -> None:
    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))  # the record is written
    now = MARIA_NUDGE + timedelta(minutes=5)  # both people's nudges are due
    stores = [open_store(team.settings.database_url()) for _ in range(4)]

    def worker(store: Store) -> list[str]:
        return [o.state for o in send_due_nudges(team.settings, store, now)]

    try:
        states = [s for result in at_once(worker, stores) for s in result]
    finally:
        for store in stores:
            store.close()
    assert sorted(states) == ["sent", "sent"]
    assert len(nudges_to(catcher, MARIA)) == len(nudges_to(catcher, DEV)) == 1


def test_a_refused_nudge_is_retried_later_and_sent_once(team: Team, catcher: Catcher) -> None:
    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    catcher.fail_next = 1  # the relay refuses the first message (451: try again later)
    team.cycle(DEV_NUDGE + timedelta(minutes=1))
    assert nudges_to(catcher, DEV) == []
    [failed] = sends.sends(team.store, f"nudge|{MARIA}|{DEV}|{MONDAY.isoformat()}",
                           kind=sends.NUDGE)
    assert failed.state == "failed" and failed.next_attempt_at is not None
    team.cycle(DEV_NUDGE + timedelta(minutes=3))  # before the retry time: nothing
    assert nudges_to(catcher, DEV) == []
    team.cycle(failed.next_attempt_at + timedelta(minutes=1))
    team.cycle(failed.next_attempt_at + timedelta(minutes=20))
    assert len(nudges_to(catcher, DEV)) == 1


def test_a_nudge_refused_for_good_is_shown_by_doctor_and_not_retried(
    team: Team, catcher: Catcher
) -> None:
    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    catcher.fail_next, catcher.fail_code = 1, "550 5.1.1 No such user"
    team.cycle(DEV_NUDGE + timedelta(minutes=1))
    team.cycle(DEV_NUDGE + timedelta(hours=2))
    assert nudges_to(catcher, DEV) == [] and catcher.attempts == 1
    [problem] = nudge_problems(team.store, DEV_NUDGE + timedelta(hours=2))
    assert problem.startswith(f"nudge to {DEV} before the 1:1 of {MARIA} / {DEV} "
                              f"({MONDAY.isoformat()}) failed after 1 attempt")
    assert "No such user" in problem
    assert nudge_problems(team.store, DEV_NUDGE + timedelta(days=8)) == []


@pytest.mark.parametrize("web_extra", ['nudge_empty = "3h"'])
def test_an_empty_agenda_a_few_hours_before_says_so_and_a_topic_silences_it(
    team: Team, catcher: Catcher, web_extra: str
) -> None:
    def empty_reminders(person: str) -> list[str]:
        return [r.message.get_content() for r in catcher.received if person in r.rcpt_tos
                and r.message["Subject"].startswith("No topics yet")]

    team.cycle(datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    team.cycle(MARIA_NUDGE + timedelta(minutes=5))  # the day-before nudges: no topics yet
    assert all("No topics yet." in mail for mail in nudges_to(catcher, MARIA))
    assert empty_reminders(MARIA) == []  # the Friday nudge said so; the reminder is Monday's
    # Nobody adds anything: on Monday each gets the reminder, once, inside working hours.
    for hours in (20, 6, 3, 2, 1, 0.5):
        team.cycle(MONDAY - timedelta(hours=hours))
    key = f"nudge-empty|{MARIA}|{DEV}|{MONDAY.isoformat()}"
    for person, zone, hour in ((MARIA, NEW_YORK, 9), (DEV, BERLIN, 13)):
        [mail] = empty_reminders(person)
        assert "nothing is on the agenda of your 1:1" in mail
        recorded = sends.get_send(team.store, person, key)
        assert recorded is not None and recorded.sent_at is not None
        # Maria at 09:00 New York (07:00 is before her day), Dev at 13:00 Berlin.
        assert recorded.sent_at.astimezone(zone).hour == hour

    # The next week Dev adds a topic on Friday: no reminder on Monday.
    later = MONDAY + timedelta(days=7)
    team.store.add_topic(MARIA, DEV, later, "Offsite plan", DEV, later - timedelta(days=3))
    for hours in (30, 20, 6, 2, 1, 0.5):
        team.cycle(later - timedelta(hours=hours))
    assert len(empty_reminders(MARIA)) == len(empty_reminders(DEV)) == 1
    assert "1. Offsite plan" in nudges_to(catcher, DEV)[-1]
