"""A CalDAV organizer end to end on a real Radicale: rebook = "auto" makes up a bumped 1:1 once.

Radicale does not schedule, so calsync writes the make-up (same UID) into Dev's
calendar too; in front of a proxy that says it schedules (RFC 6638
``calendar-auto-schedule``, as Nextcloud, iCloud and Fastmail do) calsync
leaves the invitation to the server. ``doctor`` says which of the two applies.
The agenda block goes into the series' DESCRIPTION and nowhere else; a crash
before or after the write never makes a second object; a concurrent edit
between read and write is a 412, read again and merged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import pytest

from calsync.config import load_settings
from calsync.engine.outbox import LEASE
from calsync.model import AgendaBlock
from calsync.providers.caldav.calendar import CaldavCalendar
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import Daemon
from calsync.store import open_store
from tests.caldav_support import DavProxy, RadicaleServer, delete, get, put
from tests.support import cli

MARIA, DEV = "maria@example.com", "dev@example.com"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # Monday 08:00 New York; the 1:1 is at 10:00
UID = "maria-dev-1on1@example.com"

SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Some calendar app//EN\r
BEGIN:VEVENT\r
UID:maria-dev-1on1@example.com\r
DTSTAMP:20260901T000000Z\r
DTSTART;TZID=America/New_York:20260907T100000\r
DTEND;TZID=America/New_York:20260907T103000\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
{exdate}SUMMARY:Maria / Dev 1:1\r
DESCRIPTION:Our notes live in the agenda doc.\r
SEQUENCE:3\r
ORGANIZER;CN=Maria:mailto:maria@example.com\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:maria@example.com\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:dev@example.com\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Reminder\r
TRIGGER:-PT10M\r
END:VALARM\r
END:VEVENT\r
BEGIN:VTIMEZONE\r
TZID:America/New_York\r
BEGIN:STANDARD\r
DTSTART:19701101T020000\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r
TZOFFSETFROM:-0400\r
TZOFFSETTO:-0500\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700308T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r
TZOFFSETFROM:-0500\r
TZOFFSETTO:-0400\r
END:DAYLIGHT\r
END:VTIMEZONE\r
END:VCALENDAR\r
"""
CANCELLED_TODAY = "EXDATE;TZID=America/New_York:20261123T100000\r\n"

BUSY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Some calendar app//EN\r
BEGIN:VEVENT\r
UID:budget-review@example.com\r
DTSTAMP:20260901T000000Z\r
DTSTART:20261123T163000Z\r
DTEND:20261123T170000Z\r
SUMMARY:Budget review\r
END:VEVENT\r
END:VCALENDAR\r
"""

CONFIG = """
database = "sqlite:///{database}"

[providers.dav]
kind = "caldav"
url = "{url}/"
username = "calsync"

[[people]]
email = "maria@example.com"
name = "Maria"
timezone = "America/New_York"
working_hours = "Mon-Fri 09:00-17:00"
provider = "dav"
calendar = "{maria}"

[[people]]
email = "dev@example.com"
name = "Dev"
timezone = "Europe/Berlin"
working_hours = "Mon-Fri 09:00-18:00"
provider = "dav"
calendar = "{dev}"

[[pairs]]
manager = "maria@example.com"
report = "dev@example.com"
cadence = "weekly"
rebook = "auto"

[agenda]
url_template = "https://docs.example.com/1on1/{{pair}}"

[daemon]
poll_interval = "1h"
listen = "127.0.0.1:0"
"""


class Team:
    def __init__(self, radicale: RadicaleServer, tmp_path: Path, name: str) -> None:
        self.radicale = radicale
        self.maria = radicale.calendar(f"maria-{name}", "work", "Work")
        self.dev = radicale.calendar(f"dev-{name}", "work", "Work")
        put(self.maria + "1on1.ics", SERIES.format(exdate=""))
        put(self.dev + "1on1.ics", SERIES.format(exdate=""))
        put(self.maria + "budget.ics", BUSY)
        self.config = tmp_path / "calsync.toml"
        self.config.write_text(CONFIG.format(database=tmp_path / "calsync.db", url=radicale.url,
                                             maria=self.maria, dev=self.dev))  # fmt: skip

    def through(self, proxy: DavProxy) -> Path:
        """The same config with the server and both calendars reached through ``proxy``."""
        config = self.config.with_name("through-proxy.toml")
        config.write_text(self.config.read_text().replace(self.radicale.url, proxy.url))
        return config

    def cancel_today(self) -> None:
        etag, _ = get(self.maria + "1on1.ics")
        put(self.maria + "1on1.ics", SERIES.format(exdate=CANCELLED_TODAY), etag)

    def objects(self, calendar: str) -> list[bytes]:
        with caldav.DAVClient(self.radicale.url + "/", username="x", password="x") as client:
            return [o.data.encode() for o in caldav.Calendar(client=client, url=calendar).events()]

    def makeups(self, calendar: str) -> list[bytes]:
        return [o for o in self.objects(calendar) if b"X-CALSYNC-KEY" in o]


def one_cycle(config: Path, now: datetime = NOW):
    settings = load_settings(config)
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    try:
        return Daemon(settings, store, readers, clock=lambda: now).cycle()
    finally:
        close_readers(readers)
        store.close()


@pytest.fixture
def team(radicale: RadicaleServer, tmp_path: Path, request: pytest.FixtureRequest) -> Team:
    return Team(radicale, tmp_path, f"{os.getpid()}-{abs(hash(request.node.nodeid))}")


def test_a_caldav_organizer_gets_the_make_up_once_on_both_calendars(team: Team) -> None:
    assert one_cycle(team.config).ok
    assert team.makeups(team.maria) == []
    series = get(team.maria + "1on1.ics")[1].decode()
    assert "docs.example.com/1on1/maria-dev" in series.replace("\r\n ", "")  # agenda block
    assert "SEQUENCE:3" in series and "DESCRIPTION:Reminder" in series  # nothing else moved

    team.cancel_today()
    result = one_cycle(team.config)
    assert [w.outcome for w in result.writes if w.key.startswith("makeup|")] == ["done"]
    [made] = team.makeups(team.maria)
    [copy] = team.makeups(team.dev)  # Radicale does not schedule: calsync writes Dev's copy
    assert made == copy
    text = made.decode().replace("\r\n ", "")
    assert "ATTENDEE" in text and "mailto:dev@example.com" in text
    assert "make-up" in text

    # A second cycle and a later one change nothing.
    before = {c: team.objects(c) for c in (team.maria, team.dev)}
    assert one_cycle(team.config).writes == []
    assert one_cycle(team.config, NOW + timedelta(minutes=5)).writes == []
    assert {c: team.objects(c) for c in (team.maria, team.dev)} == before


def test_where_the_server_schedules_calsync_writes_no_attendee_copy(team: Team) -> None:
    proxy = DavProxy(team.radicale.url).start()
    proxy.schedules = True  # the server says calendar-auto-schedule: it invites Dev itself
    try:
        config = team.through(proxy)
        assert one_cycle(config).ok
        team.cancel_today()
        result = one_cycle(config)
        assert [w.outcome for w in result.writes if w.key.startswith("makeup|")] == ["done"]
        [made] = team.makeups(team.maria)
        assert team.makeups(team.dev) == []  # the server's invitation, not calsync's copy
        text = made.decode().replace("\r\n ", "")
        assert "ORGANIZER:mailto:maria@example.com" in text
        assert "mailto:dev@example.com" in text  # the attendee the server invites
        dev_path = team.dev.replace(team.radicale.url, "")
        assert not [p for m, p, _ in proxy.requests if m == "PUT" and p.startswith(dev_path)]
        options = [p for m, p, _ in proxy.requests if m == "OPTIONS"]
        assert len(options) == 1  # asked once, when it first mattered
        assert one_cycle(config).writes == []
    finally:
        proxy.stop()
    assert team.makeups(team.dev) == []


def test_doctor_says_per_server_who_invites_the_attendees(team: Team) -> None:
    proxy = DavProxy(team.radicale.url).start()
    proxy.schedules = True
    try:
        # Maria's calendar through a server that schedules, Dev's on plain Radicale.
        text = team.config.read_text()
        text = text.replace(f'calendar = "{team.maria}"', 'provider = "nextcloud"\n'
                            f'calendar = "{team.maria.replace(team.radicale.url, proxy.url)}"')
        text = text.replace('provider = "dav"\nprovider = "nextcloud"', 'provider = "nextcloud"')
        text = text.replace("[[people]]", f'[providers.nextcloud]\nkind = "caldav"\n'
                            f'url = "{proxy.url}/"\nusername = "calsync"\n\n[[people]]', 1)
        team.config.write_text(text)
        code, out, err = cli(team.config, "doctor")
    finally:
        proxy.stop()
    assert code == 0, out + err
    lines = out.splitlines()
    maria = lines.index(next(line for line in lines if "maria@example.com:" in line))
    dev = lines.index(next(line for line in lines if "dev@example.com:" in line))
    assert "nextcloud calendar readable" in lines[maria]
    assert "the server schedules (RFC 6638): it invites the attendees" in lines[maria + 1]
    assert proxy.url in lines[maria + 1]
    assert "dav calendar readable" in lines[dev]
    assert "does not schedule: calsync writes make-ups into the attendees'" in lines[dev + 1]
    assert team.radicale.url in lines[dev + 1]


@pytest.mark.parametrize("point", ["before-write", "after-write"])
def test_a_crash_at_any_step_never_makes_a_second_object(team: Team, point: str) -> None:
    run = [sys.executable, "-m", "calsync.cli", "-c", str(team.config), "run", "--once",
           "--now", NOW.isoformat()]  # fmt: skip
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    team.cancel_today()
    crashed = subprocess.run(run, env={**os.environ, "CALSYNC_CRASH_AT": point},
                             capture_output=True, timeout=120)  # fmt: skip
    assert crashed.returncode == 86, crashed.stderr.decode()[-2000:]
    assert len(team.makeups(team.maria)) == (1 if point == "after-write" else 0)
    later = [*run[:-1], (NOW + LEASE + timedelta(minutes=1)).isoformat()]
    for _ in range(2):
        done = subprocess.run(later, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(team.makeups(team.maria)) == 1
    assert len(team.makeups(team.dev)) == 1


def test_a_concurrent_edit_is_a_412_read_again_and_kept(team: Team) -> None:
    proxy = DavProxy(team.radicale.url).start()
    try:
        settings = load_settings(team.config)
        provider = settings.providers["dav"].model_copy(update={"url": proxy.url + "/"})
        writer = CaldavCalendar("dav", provider, lambda _: UTC)  # type: ignore[arg-type, return-value]
        calendar = team.maria.replace(team.radicale.url, proxy.url)
        send = writer.client.request

        def edit_first(method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            if method == "PUT" and not edit_first.done:  # type: ignore[attr-defined]
                edit_first.done = True  # type: ignore[attr-defined]
                # Maria edits the 1:1 in her app between calsync's read and write.
                etag, _ = get(team.maria + "1on1.ics")
                put(team.maria + "1on1.ics", SERIES.format(exdate="").replace(
                    "Our notes live in the agenda doc.", "Bring the Q4 numbers."), etag)
            return send(method, url, *args, **kwargs)

        edit_first.done = False  # type: ignore[attr-defined]
        writer.client.request = edit_first  # type: ignore[method-assign]
        block = AgendaBlock("https://docs.example.com/1on1/maria-dev")
        path = team.maria.replace(team.radicale.url, "") + "1on1.ics"
        writer.update_description(calendar, path, block)
        writer.close()
    finally:
        proxy.stop()
    puts = [r for r in proxy.requests if r[0] == "PUT"]
    assert len(puts) == 2  # the first one got 412
    text = get(team.maria + "1on1.ics")[1].decode().replace("\r\n ", "")
    assert "Bring the Q4 numbers." in text and "Our notes live" not in text
    assert text.count(AgendaBlock.BEGIN) == 1 and "SEQUENCE:3" in text


def test_setup_auto_writes_the_new_series_once_into_both_calendars(team: Team) -> None:
    # No 1:1 series at all; the pair asks calsync to set one up.
    delete(team.maria + "1on1.ics")
    delete(team.dev + "1on1.ics")
    team.config.write_text(team.config.read_text().replace(
        'rebook = "auto"', 'rebook = "auto"\nsetup = "auto"'))
    result = one_cycle(team.config)
    assert [w.outcome for w in result.writes if w.key.startswith("series|")] == ["done"]
    [made] = team.makeups(team.maria)
    [copy] = team.makeups(team.dev)  # Radicale does not schedule: calsync writes Dev's copy
    assert made == copy
    text = made.decode().replace("\r\n ", "")
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO" in text  # next Monday: early in the week
    assert "DTSTART;TZID=America/New_York:20261130T100000" in text
    assert "X-CALSYNC-KEY:series|maria@example.com|dev@example.com" in text
    assert "docs.example.com/1on1/maria-dev" in text
    # Read back as the pair's 1:1: nothing more to write, no no_series.
    assert one_cycle(team.config, NOW + timedelta(minutes=5)).writes == []
    code, out, err = cli(team.config, "check", "--json", "--no-sync", "--now",
                         (NOW + timedelta(minutes=5)).isoformat())
    assert code == 0, err
    [pair] = json.loads(out)["pairs"]
    assert pair["series"] == "1:1 Maria / Dev" and pair["proposal"] is None
    assert "no_series" not in {f["kind"] for f in pair["flags"]}
    assert pair["next"] == "2026-11-30T15:00:00+00:00"
