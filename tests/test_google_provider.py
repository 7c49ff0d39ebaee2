"""What is specific to the Google provider, against the local Calendar API emulator.

The behaviour every provider shares (the 1:1 history read back, cancel, move,
shorten, decline, split, deletions, expired cursors, injected 429/5xx, writes
through CalendarWriter) is in tests/contract/. Here: batching and request
counts, Google's retry reasons, free/busy, the raw write API (derived ids,
412 re-reads, ownership) and auth.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator
from click.testing import CliRunner

from calsync.cli.main import main
from calsync.config import GoogleProvider, settings_from_dict
from calsync.demo.sample import DEMO_NOW
from calsync.engine.sync import sync_all
from calsync.model import EventStatus, Window
from calsync.providers.base import ProviderError, ReauthorizationNeeded
from calsync.providers.google.auth import NoCredentials, OAuthCredentials
from calsync.providers.google.calendar import GoogleCalendar, event_id_for
from calsync.secrets import SecretBox
from calsync.store import open_store

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "calsync" / "demo" / "calendars"
NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
MARIA, DEV = "maria@example.com", "dev@example.com"
NY = "America/New_York"


@pytest.fixture
def emu():
    with GoogleEmulator(port=0) as emulator:
        yield emulator


def provider_settings(emu: GoogleEmulator, **extra: Any) -> GoogleProvider:
    return GoogleProvider(kind="google", auth="none", api_endpoint=emu.url, **extra)


def reader(emu: GoogleEmulator, sleeps: list[float] | None = None, **extra: Any) -> GoogleCalendar:
    waits = sleeps if sleeps is not None else []
    return GoogleCalendar(
        "work",
        provider_settings(emu, **extra),
        NoCredentials(),
        lambda _calendar: ZoneInfo(NY),
        sleep=waits.append,
        rand=lambda: 1.0,
    )


def weekly_one_on_one(emu: GoogleEmulator, first: datetime, weeks: int | None = None) -> str:
    """A weekly Maria/Dev 1:1 as both calendars hold it (same iCalUID); the master id."""
    local = first.astimezone(ZoneInfo(NY)).replace(tzinfo=None)
    rule = "RRULE:FREQ=WEEKLY" + (f";COUNT={weeks}" if weeks else "")
    body = {
        "iCalUID": "maria-dev-1on1@example.com",
        "summary": "Maria / Dev 1:1",
        "start": {"dateTime": local.isoformat(), "timeZone": NY},
        "end": {"dateTime": (local + timedelta(minutes=30)).isoformat(), "timeZone": NY},
        "recurrence": [rule],
        "organizer": {"email": MARIA},
        "attendees": [
            {"email": MARIA, "responseStatus": "accepted", "organizer": True},
            {"email": DEV, "responseStatus": "accepted"},
        ],
    }
    master = emu.import_event(MARIA, body)
    emu.import_event(DEV, body)
    return master["id"]


FIRST = datetime(2026, 9, 7, 13, 0, tzinfo=UTC)  # Monday 09:00 New York


# -- reading ---------------------------------------------------------------------


def test_demo_team_gives_the_same_findings_on_google_as_from_ics(emu, tmp_path):
    """The same history through the emulator and through ICS: identical findings."""
    ids = {}
    for path in sorted(DEMO.glob("*.ics")):
        [calendar_id] = emu.load_seed(path)
        ids[path.name] = calendar_id

    base = (ROOT / "config" / "demo.toml").read_text()
    ics_config = tmp_path / "ics.toml"
    shutil.copytree(DEMO, tmp_path / "calendars")
    ics_config.write_text(
        re.sub(r'(?m)^path\s*=.*$', 'path = "calendars"',
               re.sub(r'(?m)^database\s*=.*$', 'database = "sqlite:///ics.db"', base))
    )
    google_text = re.sub(r'(?m)^database\s*=.*$', 'database = "sqlite:///google.db"', base)
    google_text = re.sub(
        r'(?ms)^\[providers\.feeds\]\n.*?(?=^\[\[people\]\])',
        f'[providers.feeds]\nkind = "google"\nauth = "none"\napi_endpoint = "{emu.url}"\n\n',
        google_text,
    )
    for name, calendar_id in ids.items():
        google_text = google_text.replace(f'"{name}"', f'"{calendar_id}"')
    google_config = tmp_path / "google.toml"
    google_config.write_text(google_text)

    def check(config: Path) -> dict:
        result = CliRunner().invoke(
            main, ["-c", str(config), "check", "--json", "--now", DEMO_NOW.isoformat()]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    from_ics, from_google = check(ics_config), check(google_config)
    assert all(c["ok"] for c in from_google["calendars"]), from_google["calendars"]
    for ics_pair, google_pair in zip(from_ics["pairs"], from_google["pairs"], strict=True):
        assert google_pair["occurrences"] == ics_pair["occurrences"], ics_pair["report"]
        assert google_pair["flags"] == ics_pair["flags"], ics_pair["report"]
        assert google_pair["adherence"] == ics_pair["adherence"], ics_pair["report"]
        assert google_pair["occurrences"] == ics_pair["occurrences"], ics_pair["report"]
        assert google_pair["next"] == ics_pair["next"]


# -- faults, retries, batching -----------------------------------------------------


def _team(emu: GoogleEmulator, size: int) -> list[str]:
    calendars = [f"person{i:03d}@example.com" for i in range(size)]
    for index, calendar in enumerate(calendars):
        emu.add_calendar(calendar)
        emu.insert_event(calendar, {
            "summary": f"Standup {index}",
            "start": {"dateTime": "2026-11-02T15:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-02T15:15:00Z", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=40"],
        })
    return calendars


def _settings(emu: GoogleEmulator, calendars: list[str], tmp_path: Path):
    return settings_from_dict({
        "providers": {"work": {"kind": "google", "auth": "none", "api_endpoint": emu.url}},
        "people": [{"email": c, "provider": "work"} for c in calendars],
    }, tmp_path / "c.toml")


def test_idle_cycle_costs_one_request_per_fifty_calendars(emu, tmp_path):
    calendars = _team(emu, 120)
    settings = _settings(emu, calendars, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    google = reader(emu)
    results = sync_all(settings, store, {"work": google}, NOW)
    assert all(r.ok for r in results)

    emu.requests.clear()
    idle = sync_all(settings, store, {"work": google}, NOW)
    assert all(r.ok and r.unchanged for r in idle)
    assert len(emu.requests) == math.ceil(120 / 50)
    assert emu.requests.count(path="/batch/calendar/v3") == 3

    # One change among 120: still three batches, plus what that calendar needs.
    emu.insert_event(calendars[7], {
        "summary": "New", "start": {"dateTime": "2026-11-24T15:00:00Z"},
        "end": {"dateTime": "2026-11-24T16:00:00Z"},
    })
    emu.requests.clear()
    after = sync_all(settings, store, {"work": google}, NOW)
    changed = [r for r in after if not r.unchanged]
    assert [r.calendar for r in changed] == [calendars[7]] and changed[0].inserted == 1
    assert len(emu.requests) == 3


def test_expired_tokens_inside_a_batch_resync_those_calendars(emu, tmp_path):
    calendars = _team(emu, 5)
    settings = _settings(emu, calendars, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    google = reader(emu)
    sync_all(settings, store, {"work": google}, NOW)
    emu.expire_sync_tokens(calendars[2])
    results = {r.calendar: r for r in sync_all(settings, store, {"work": google}, NOW)}
    assert all(r.ok for r in results.values())
    assert not results[calendars[2]].unchanged  # read again in full
    assert results[calendars[1]].unchanged


def test_faults_at_a_fixed_rate_end_in_the_same_store(emu, tmp_path):
    calendars = _team(emu, 12)
    weekly_calendars = [MARIA, DEV]
    for calendar in weekly_calendars:
        emu.add_calendar(calendar)
    weekly_one_on_one(emu, FIRST)
    everyone = calendars + weekly_calendars
    settings = _settings(emu, everyone, tmp_path)

    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    sync_all(settings, clean, {"work": reader(emu)}, NOW)

    faulty = open_store(f"sqlite:///{tmp_path / 'faulty.db'}")
    sleeps: list[float] = []
    emu.fail_rate(0.25, seed=11)
    for _ in range(3):  # a calendar whose retries ran out is fetched again next cycle
        results = sync_all(settings, faulty, {"work": reader(emu, sleeps, max_retries=6)}, NOW)
        if all(r.ok for r in results):
            break
    emu.reset_faults()
    assert all(r.ok for r in results)
    assert sleeps, "faults were injected, so the client must have backed off"

    def snapshot(store):
        return {owner: sorted((e.key, e.start, e.status, e.title) for e in events)
                for owner, events in store.events_of(everyone).items()}

    assert snapshot(faulty) == snapshot(clean)


def test_rate_limits_back_off_and_honour_retry_after(emu):
    emu.add_calendar(MARIA)
    sleeps: list[float] = []
    google = reader(emu, sleeps)
    emu.rate_limit(2, "userRateLimitExceeded")
    assert google.fetch_changes(MARIA, None, NOW).full
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential


def test_quota_exceeded_is_not_retried(emu):
    emu.add_calendar(MARIA)
    sleeps: list[float] = []
    emu.rate_limit(1, "quotaExceeded")
    with pytest.raises(ProviderError, match="quotaExceeded"):
        reader(emu, sleeps).fetch_changes(MARIA, None, NOW)
    assert sleeps == []


def test_a_failing_calendar_does_not_stop_the_others(emu, tmp_path):
    emu.add_calendar(MARIA)
    settings = _settings(emu, [MARIA, "nobody@example.com"], tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    results = {r.calendar: r for r in sync_all(settings, store, {"work": reader(emu)}, NOW)}
    assert results[MARIA].ok
    assert not results["nobody@example.com"].ok
    assert "404" in results["nobody@example.com"].message


# -- free/busy -------------------------------------------------------------------------


def test_free_busy_splits_long_ranges_and_reports_errors(emu):
    emu.add_calendar(MARIA)
    emu.add_calendar(DEV)
    weekly_one_on_one(emu, FIRST, weeks=30)
    google = reader(emu)
    window = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC))
    emu.requests.clear()
    busy = google.free_busy([MARIA], window)
    assert emu.requests.count(path="freeBusy") == 3  # 181 days in spans of at most 90
    # Weekly from 7 Sep 2026 for 30 weeks; the window ends 1 Mar 2027: 25 of them.
    assert len(busy[MARIA]) == 25
    assert busy[MARIA][0] == (FIRST, FIRST + timedelta(minutes=30))
    with pytest.raises(ProviderError, match="notFound"):
        google.free_busy(["ghost@example.com"], window)


# -- writes ----------------------------------------------------------------------------


MAKEUP = {
    "summary": "1:1 Maria / Dev (rebooked from Mon 23 Nov)",
    "start": {"dateTime": "2026-11-24T15:00:00Z"},
    "end": {"dateTime": "2026-11-24T15:30:00Z"},
    "attendees": [{"email": MARIA}, {"email": DEV}],
}


def test_create_is_exactly_once(emu):
    emu.add_calendar(MARIA)
    google = reader(emu)
    key = "rebook|maria@example.com|dev@example.com|20261123T140000Z"
    first = google.writer.create_event(MARIA, MAKEUP, key)
    again = google.writer.create_event(MARIA, MAKEUP, key)
    assert again["id"] == first["id"] == event_id_for(key)
    live = [e for e in emu.events(MARIA) if e.get("status") != "cancelled"]
    assert len(live) == 1
    assert live[0]["extendedProperties"]["private"]["calsyncKey"] == key


def test_create_after_a_lost_response_does_not_duplicate(emu):
    """The insert reached Google but the answer was lost: the lookup misses, the id catches it."""
    emu.add_calendar(MARIA)
    google = reader(emu)
    key = "rebook|lost-response"
    emu.insert_event(MARIA, {**MAKEUP, "id": event_id_for(key)})  # tagless earlier attempt
    created = google.writer.create_event(MARIA, MAKEUP, key)
    assert created["id"] == event_id_for(key)
    assert len([e for e in emu.events(MARIA) if e.get("status") != "cancelled"]) == 1


def test_patch_rereads_and_retries_after_412(emu):
    emu.add_calendar(MARIA)
    google = reader(emu)
    created = google.writer.create_event(MARIA, MAKEUP, "k1")
    calls = []

    def change(current):
        calls.append(current["etag"])
        if len(calls) == 1:  # someone edits the event between our read and our write
            emu.patch_event(MARIA, created["id"], {"location": "Room 4"})
        return {"description": current.get("description", "") + "\nagenda"}

    result = google.writer.patch_event(MARIA, created["id"], change, owned_key="k1")
    assert len(calls) == 2 and calls[0] != calls[1]
    assert result["location"] == "Room 4" and result["description"].endswith("agenda")


def test_writes_refuse_events_calsync_does_not_own(emu):
    emu.add_calendar(MARIA)
    google = reader(emu)
    theirs = emu.insert_event(MARIA, MAKEUP)
    with pytest.raises(ProviderError, match="not calsync's"):
        google.writer.patch_event(MARIA, theirs["id"], lambda _c: {"summary": "x"}, owned_key="k")
    assert emu.get_event(MARIA, theirs["id"])["summary"] == MAKEUP["summary"]


# -- auth --------------------------------------------------------------------------------


class _TokenEndpoint(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": "invalid_grant", "error_description": "Token has been "
                           "expired or revoked."}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_revoked_grant_stops_that_calendar_and_asks_for_auth(emu, tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("CALSYNC_SECRET_KEY", Fernet.generate_key().decode())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        token_file = tmp_path / "work.token"
        box = SecretBox.load(tmp_path / "unused.key")
        box.write(token_file, json.dumps({
            "token": None,  # no access token: the first request must refresh
            "refresh_token": "1//refresh-secret",
            "token_uri": f"http://127.0.0.1:{server.server_port}/token",
            "client_id": "client.apps.googleusercontent.com",
            "client_secret": "client-secret",
        }).encode())
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert b"refresh-secret" not in token_file.read_bytes()

        emu.add_calendar(MARIA)
        settings = GoogleProvider(kind="google", auth="oauth", client_secrets="c.json",
                                  api_endpoint=emu.url)
        google = GoogleCalendar("work", settings, OAuthCredentials("work", token_file, box),
                                lambda _c: ZoneInfo(NY), sleep=lambda _s: None)
        with pytest.raises(ReauthorizationNeeded, match="auth work") as info:
            google.fetch_changes(MARIA, None, NOW)
        assert "refresh-secret" not in str(info.value)
    finally:
        server.shutdown()


def test_missing_token_names_the_auth_command(emu, tmp_path):
    box = SecretBox.load(tmp_path / "calsync.key")
    assert (tmp_path / "calsync.key").stat().st_mode & 0o777 == 0o600
    settings = GoogleProvider(kind="google", auth="oauth", client_secrets="c.json",
                              api_endpoint=emu.url)
    google = GoogleCalendar("work", settings,
                            OAuthCredentials("work", tmp_path / "none.token", box),
                            lambda _c: ZoneInfo(NY))
    assert "auth work" in google.probe(MARIA)


def test_auth_none_is_refused_for_a_real_endpoint(tmp_path):
    from calsync.config import ConfigError

    with pytest.raises(ConfigError, match="only for a local emulator"):
        settings_from_dict({"providers": {"g": {"kind": "google", "auth": "none"}}},
                           tmp_path / "c.toml")


def test_batches_with_long_calendar_ids(emu, tmp_path):
    """Long ids make the batch part headers fold; every answer must still reach its request."""
    calendars = [f"someone-with-a-long-name-{i:04d}@subdivision.bench.example.com"
                 for i in range(60)]
    for calendar in calendars:
        emu.add_calendar(calendar)
    settings = _settings(emu, calendars, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    google = reader(emu)
    sync_all(settings, store, {"work": google}, NOW)
    results = sync_all(settings, store, {"work": google}, NOW)
    assert all(r.ok and r.unchanged for r in results)


def test_a_series_moved_to_a_new_time_keeps_one_row_per_past_week(emu):
    """"All events" at a new hour restates the past too; the history keeps when they were."""
    emu.add_calendar(MARIA)
    emu.add_calendar(DEV)
    master = weekly_one_on_one(emu, FIRST)
    google = reader(emu)
    store = open_store("sqlite:///:memory:")
    calendar = store.ensure_calendar("work", MARIA, MARIA)
    changes = google.fetch_changes(MARIA, None, NOW)
    store.apply_changes(calendar, changes, NOW)
    past = [e for e in store.events_of([MARIA])[MARIA]
            if e.is_occurrence and e.original_start < NOW]  # fmt: skip
    assert len(past) == 11

    emu.patch_event(MARIA, master, {
        "start": {"dateTime": "2026-09-07T10:00:00", "timeZone": NY},
        "end": {"dateTime": "2026-09-07T10:30:00", "timeZone": NY},
    })  # fmt: skip
    store.apply_changes(calendar, google.fetch_changes(MARIA, changes.cursor, NOW), NOW)

    events = store.events_of([MARIA])[MARIA]
    held = sorted(e.start for e in events if e.is_occurrence and e.start < NOW
                  and e.status is EventStatus.CONFIRMED)  # fmt: skip
    weeks = [start.date() for start in held]
    assert len(weeks) == len(set(weeks)) == 11, held  # one row per past week
    upcoming = sorted(e.start for e in events if e.is_occurrence and e.start >= NOW)
    assert upcoming[0] == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 New York
