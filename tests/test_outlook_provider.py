"""What is specific to the Microsoft 365 provider, against the local Graph emulator.

The behaviour every provider shares (the 1:1 history read back, cancel, move,
shorten, decline, split, deletions, expired cursors, injected 429/5xx, writes
through CalendarWriter) is in tests/contract/. Here: the Graph mapping (GOIDs,
patterned recurrence, HTML bodies), the attendee's copy, delta quirks,
$batch counts and throttling, free/busy, the raw write API and push.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator
from click.testing import CliRunner

from calsync.cli.main import main
from calsync.config import ConfigError, OutlookProvider, settings_from_dict
from calsync.demo.sample import DEMO_NOW
from calsync.engine.sync import sync_all
from calsync.model import EventStatus, Response, Window
from calsync.providers.base import CursorExpired, ProviderError
from calsync.providers.factory import build_readers, close_readers
from calsync.providers.outlook.auth import NoTokens
from calsync.providers.outlook.calendar import OutlookCalendar, transaction_id_for
from calsync.providers.outlook.mapping import KEY_PROPERTY, TAGS_PROPERTY, rrule_of, series_uid
from calsync.service.daemon import Daemon
from calsync.store import open_store
from calsync.timeutil import Cadence

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "calsync" / "demo" / "calendars"
NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
MARIA, DEV = "maria@example.com", "dev@example.com"
NY = "America/New_York"
FIRST = datetime(2026, 9, 7, 13, 0, tzinfo=UTC)  # Monday 09:00 New York


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def emu():
    with GraphEmulator(port=0, auth=False, clock=Clock()) as emulator:
        yield emulator


def provider_settings(emu: GraphEmulator, **extra: Any) -> OutlookProvider:
    return OutlookProvider(kind="outlook", auth="none", graph_endpoint=emu.url, **extra)


def reader(emu: GraphEmulator, sleeps: list[float] | None = None, **extra: Any) -> OutlookCalendar:
    waits = sleeps if sleeps is not None else []
    return OutlookCalendar(
        "work",
        provider_settings(emu, **extra),
        NoTokens(),
        lambda _calendar: ZoneInfo(NY),
        sleep=waits.append,
        rand=lambda: 1.0,
    )


def weekly_one_on_one(emu: GraphEmulator, first: datetime = FIRST, weeks: int | None = None) -> str:
    """A weekly Maria/Dev 1:1 organized by Maria (Dev gets his copy); Maria's master id."""
    for mailbox in (MARIA, DEV):
        emu.add_mailbox(mailbox, time_zone="Eastern Standard Time")
    local = first.astimezone(ZoneInfo(NY)).replace(tzinfo=None)
    rng: dict[str, Any] = {"type": "noEnd", "startDate": local.date().isoformat()}
    if weeks:
        rng = {**rng, "type": "numbered", "numberOfOccurrences": weeks}
    body = {
        "subject": "Maria / Dev 1:1",
        "start": {"dateTime": local.isoformat(), "timeZone": "Eastern Standard Time"},
        "end": {
            "dateTime": (local + timedelta(minutes=30)).isoformat(),
            "timeZone": "Eastern Standard Time",
        },
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": rng,
        },
        "attendees": [{"type": "required", "emailAddress": {"address": DEV, "name": "Dev"}}],
    }
    return emu.create_event(MARIA, body)["id"]


def master_of(emu: GraphEmulator, mailbox: str) -> dict[str, Any]:
    return next(e for e in emu.events(mailbox) if e["type"] == "seriesMaster")


def instance_id(emu: GraphEmulator, mailbox: str, original: datetime) -> str:
    master = master_of(emu, mailbox)
    for item in emu.instances(mailbox, master["id"], "2026-01-01T00:00:00Z", "2027-06-01"):
        if item["originalStart"] == original.strftime("%Y-%m-%dT%H:%M:%SZ"):
            return item["id"]
    raise AssertionError(f"no instance at {original}")


def occurrences(changes_or_events, uid: str) -> dict[datetime, Any]:
    events = getattr(changes_or_events, "events", changes_or_events)
    return {e.original_start: e for e in events if e.uid == uid and e.is_occurrence}


def single(subject: str, day: str, hour: int = 17) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"{day}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T{hour:02d}:45:00", "timeZone": "UTC"},
    }


# -- mapping ------------------------------------------------------------------------


def test_series_uid_is_shared_by_copies_and_gives_ics_uids_back():
    # An Exchange meeting: the occurrence's instance date is zeroed out.
    goid = "040000008200E00074C5B7101A82E008" + "07EA0B17" + "00" * 16 + "10000000" + "AB" * 16
    series = "040000008200E00074C5B7101A82E008" + "00000000" + "00" * 16 + "10000000" + "AB" * 16
    assert series_uid({"id": "x", "iCalUId": goid}) == series
    # A meeting that came from another system carries its UID ("vCal-Uid").
    data = b"vCal-Uid" + (1).to_bytes(4, "little") + b"demo-maria-dev-1on1" + b"\0"
    wrapped = bytes.fromhex("040000008200E00074C5B7101A82E008") + bytes(20)
    wrapped += len(data).to_bytes(4, "little") + data
    assert series_uid({"id": "x", "iCalUId": wrapped.hex().upper()}) == "demo-maria-dev-1on1"
    assert series_uid({"id": "x", "iCalUId": "plain@example.com"}) == "plain@example.com"


@pytest.mark.parametrize(
    ("pattern", "rng", "rule", "cadence"),
    [
        ({"type": "weekly", "interval": 2, "daysOfWeek": ["thursday"]}, {"type": "noEnd"},
         "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;WKST=SU", Cadence(weeks=2)),
        ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"],
          "index": "first"}, {"type": "numbered", "numberOfOccurrences": 6},
         "RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=1;COUNT=6", Cadence(monthly=True)),
        ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
         {"type": "endDate", "endDate": "2027-03-31"},
         "RRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1;UNTIL=20270331",
         Cadence(monthly=True)),
        ({"type": "daily", "interval": 14}, {"type": "noEnd"},
         "RRULE:FREQ=DAILY;INTERVAL=14", Cadence(weeks=2)),
    ],
)
def test_graph_recurrence_becomes_the_rrule_the_policies_read(pattern, rng, rule, cadence):
    line = rrule_of({"pattern": pattern, "range": {"startDate": "2026-09-03", **rng}})
    assert line == rule
    assert Cadence.from_rrule(line) == cadence


SINGLES = [
    {"id": "a", "iCalUId": "a@x", "subject": "Timed, Windows zone", "isAllDay": False,
     "originalStartTimeZone": "W. Europe Standard Time",
     "start": {"dateTime": "2026-11-24T15:00:00.0000000", "timeZone": "UTC"},
     "end": {"dateTime": "2026-11-24T15:45:00.0000000", "timeZone": "UTC"},
     "organizer": {"emailAddress": {"address": "Maria@Example.com"}}, "isOrganizer": False,
     "responseStatus": {"response": "tentativelyAccepted"},
     "attendees": [
         {"type": "required", "emailAddress": {"address": "dev@example.com"},
          "status": {"response": "none"}},
         {"type": "required", "emailAddress": {"address": "DEV@example.com"},
          "status": {"response": "declined"}},
         {"type": "resource", "emailAddress": {"address": "room@example.com"},
          "status": {"response": "accepted"}},
         {"type": "optional", "emailAddress": {"address": "lena@example.com"},
          "status": {"response": "declined"}},
         {"type": "required", "emailAddress": {"address": "not-an-address"}},
     ],
     "body": {"contentType": "html",
              "content": "<html><body><p>Agenda &amp; notes</p><div>line 2<br>x</div></body>"},
     "showAs": "free", "@odata.etag": 'W/"1"',
     "singleValueExtendedProperties": [
         {"id": KEY_PROPERTY, "value": "k"},
         {"id": TAGS_PROPERTY, "value": '{"pair": "m|d", "for": "2026-11-23T14:00:00Z"}'}]},
    {"id": "b", "iCalUId": "b@x", "subject": "All day", "isAllDay": True,
     "start": {"dateTime": "2026-11-26T00:00:00.0000000", "timeZone": "UTC"},
     "end": {"dateTime": "2026-11-28T00:00:00.0000000", "timeZone": "UTC"},
     "isCancelled": True, "body": {"contentType": "text", "content": "a;b,c\r\nnext"}},
    {"id": "c", "iCalUId": "c@x", "subject": "Instant", "originalStartTimeZone": "UTC",
     "start": {"dateTime": "2026-11-24T09:00:00", "timeZone": "UTC"},
     "end": {"dateTime": "2026-11-24T09:00:00", "timeZone": "UTC"}},
    {"id": "d", "iCalUId": "d@x", "subject": "Long ago", "originalStartTimeZone": "Nowhere",
     "start": {"dateTime": "2020-01-01T09:00:00", "timeZone": "UTC"},
     "end": {"dateTime": "2020-01-01T10:00:00", "timeZone": "UTC"}},
    {"id": "e", "iCalUId": "e@x", "subject": "No zone name",
     "start": {"dateTime": "2026-11-24T09:00:00", "timeZone": "Eastern Standard Time"},
     "end": {"dateTime": "2026-11-24T10:00:00", "timeZone": "Eastern Standard Time"}},
]


def test_single_events_mapped_directly_mean_what_ics_would_read():
    import icalendar

    from calsync.providers.expand import parse_calendar
    from calsync.providers.outlook.mapping import _single_vevent, to_events

    window = Window(NOW - timedelta(days=400), NOW + timedelta(days=120))
    zone = ZoneInfo(NY)
    direct, warnings = to_events(SINGLES, [], "m", window, zone, owner=DEV)
    assert warnings == []
    calendar = icalendar.Calendar()
    for item in SINGLES:
        calendar.add_component(_single_vevent(item, item["iCalUId"], zone, DEV))
    via_ics, _ = parse_calendar(calendar.to_ical(), "m", window, zone)
    ids = {item["iCalUId"]: (item["id"], item.get("@odata.etag")) for item in SINGLES}
    via_ics = [replace(e, remote_id=ids[e.uid][0], etag=ids[e.uid][1]) for e in via_ics]
    assert sorted(direct, key=lambda e: e.uid) == sorted(via_ics, key=lambda e: e.uid)
    assert [dict(e.tags) for e in direct if e.uid == "a@x"] == [
        {"key": "k", "pair": "m|d", "for": "2026-11-23T14:00:00Z"}]
    assert len(direct) == 4  # "Long ago" is outside the window


# -- reading ---------------------------------------------------------------------


def test_an_attendees_copy_correlates_by_series_uid(emu):
    """Graph-specific ids: Dev's copy has other ids, the same series uid; zones are Windows."""
    weekly_one_on_one(emu)
    changes = reader(emu).fetch_changes(MARIA, None, NOW)
    [master] = [e for e in changes.events if e.is_series]
    assert master.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU",)
    assert master.timezone == NY  # "Eastern Standard Time" mapped to IANA
    assert master.remote_id and master.etag
    dev = reader(emu).fetch_changes(DEV, None, NOW)
    [dev_master] = [e for e in dev.events if e.is_series]
    assert dev_master.uid == master.uid and dev_master.remote_id != master.remote_id
    assert set(occurrences(dev, master.uid)) == set(occurrences(changes, master.uid))


def test_the_attendees_copy_follows_cancel_decline_and_delete(emu):
    """Exchange's attendee side: isCancelled copies, a decline moves Dev's copy away."""
    master = weekly_one_on_one(emu)
    outlook = reader(emu)
    store = open_store("sqlite:///:memory:")
    dev_calendar = store.ensure_calendar("work", DEV, DEV)
    dev_full = outlook.fetch_changes(DEV, None, NOW)
    store.apply_changes(dev_calendar, dev_full, NOW)
    uid = next(e.uid for e in dev_full.events if e.is_series)

    def stored() -> dict[datetime, Any]:
        return occurrences(store.events_of([DEV])[DEV], uid)

    # Unchanged: one cheap call.
    emu.requests.clear()
    idle = outlook.fetch_changes(DEV, dev_full.cursor, NOW)
    assert idle.unchanged and len(emu.requests) == 1

    # The organizer cancels one occurrence: Dev's copy shows isCancelled, an ordinary change.
    cancelled = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    emu.cancel_occurrence(MARIA, instance_id(emu, MARIA, cancelled))
    changes = outlook.fetch_changes(DEV, idle.cursor, NOW)
    assert not changes.full
    store.apply_changes(dev_calendar, changes, NOW)
    assert stored()[cancelled].status is EventStatus.CANCELLED

    # Dev declines one occurrence: gone from his calendar, so a cancelled row there.
    declined = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    emu.decline(DEV, instance_id(emu, DEV, declined))
    changes = outlook.fetch_changes(DEV, changes.cursor, NOW)
    store.apply_changes(dev_calendar, changes, NOW)
    assert stored()[declined].status is EventStatus.CANCELLED

    # The organizer deletes the series: Dev's master is cancelled; his history stays.
    emu.delete_event(MARIA, master)
    changes = outlook.fetch_changes(DEV, changes.cursor, NOW)
    store.apply_changes(dev_calendar, changes, NOW)
    left = stored()
    assert left and all(original < NOW for original in left)
    assert all(e.status is EventStatus.CONFIRMED for e in left.values())


def test_a_past_occurrences_own_edit_lands_but_a_series_edit_keeps_the_past(emu):
    """Exchange restates the whole series on a recurrence change; the past is history."""
    master = weekly_one_on_one(emu)
    emu.accept(DEV, master_of(emu, DEV)["id"])
    outlook = reader(emu)
    store = open_store("sqlite:///:memory:")
    calendar = store.ensure_calendar("work", MARIA, MARIA)
    changes = outlook.fetch_changes(MARIA, None, NOW)
    store.apply_changes(calendar, changes, NOW)
    uid = next(e.uid for e in changes.events if e.is_series)

    def stored() -> dict[datetime, Any]:
        return occurrences(store.events_of([MARIA])[MARIA], uid)

    def sync() -> None:
        nonlocal changes
        changes = outlook.fetch_changes(MARIA, changes.cursor, NOW)
        store.apply_changes(calendar, changes, NOW)

    # After the fact, Maria records what happened: one 1:1 did not take place,
    # another was cut short. Both are data of their own and land in the past.
    skipped, short, held = (FIRST + timedelta(weeks=w) for w in (4, 5, 6))
    emu.cancel_occurrence(MARIA, instance_id(emu, MARIA, skipped))
    emu.patch_event(MARIA, instance_id(emu, MARIA, short),
                    {"end": {"dateTime": "2026-10-12T13:15:00", "timeZone": "UTC"}})  # fmt: skip
    sync()
    assert occurrences(changes, uid)[held].response_of(DEV) is Response.ACCEPTED
    assert occurrences(changes, uid)[held].key in changes.pattern_keys
    assert occurrences(changes, uid)[short].key not in changes.pattern_keys  # an exception
    history = stored()
    assert history[skipped].status is EventStatus.CANCELLED
    assert history[short].end - history[short].start == timedelta(minutes=15)

    # The series now ends in January: Exchange drops the exceptions and clears
    # Dev's answer on every occurrence, past ones included.
    recurrence = master_of(emu, MARIA)["recurrence"]
    rng = {**recurrence["range"], "type": "endDate", "endDate": "2027-01-11"}
    emu.patch_event(MARIA, master, {"recurrence": {**recurrence, "range": rng}})
    sync()
    restated = occurrences(changes, uid)
    assert restated[skipped].status is EventStatus.CONFIRMED  # what Exchange says now
    assert restated[held].response_of(DEV) is Response.NEEDS_ACTION
    after = stored()
    assert {t: after[t] for t in history if t < NOW} == {t: e for t, e in history.items()
                                                        if t < NOW}  # fmt: skip
    upcoming = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert after[upcoming] == restated[upcoming]  # the rest follows Exchange
    assert after[upcoming].response_of(DEV) is Response.NEEDS_ACTION
    assert max(after) == datetime(2027, 1, 11, 14, 0, tzinfo=UTC)


def test_a_series_moved_to_a_new_time_keeps_one_row_per_past_week(emu):
    """Exchange moves past occurrences too; the history says when they were held."""
    master = weekly_one_on_one(emu)
    outlook = reader(emu)
    store = open_store("sqlite:///:memory:")
    calendar = store.ensure_calendar("work", MARIA, MARIA)
    changes = outlook.fetch_changes(MARIA, None, NOW)
    store.apply_changes(calendar, changes, NOW)
    before = {e.key: e for e in store.events_of([MARIA])[MARIA]
              if e.is_occurrence and e.original_start < NOW}  # fmt: skip

    local = {"timeZone": "Eastern Standard Time"}
    emu.patch_event(MARIA, master, {
        "start": {**local, "dateTime": "2026-09-07T10:00:00"},
        "end": {**local, "dateTime": "2026-09-07T10:30:00"},
    })  # fmt: skip
    changes = outlook.fetch_changes(MARIA, changes.cursor, NOW)
    assert any(e.start == FIRST + timedelta(hours=1) for e in changes.events)  # restated
    store.apply_changes(calendar, changes, NOW)

    events = store.events_of([MARIA])[MARIA]
    assert {e.key: e for e in events if e.is_occurrence and e.original_start < NOW} == before
    upcoming = sorted(e.start for e in events if e.is_occurrence and e.start >= NOW)
    assert upcoming[0] == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 New York


@pytest.mark.parametrize("mode", ["410", "syncStateNotFound"])
def test_both_delta_expiry_answers_are_cursor_expired(emu, tmp_path, mode):
    """Graph says "expired" two ways (410 Gone, 400 syncStateNotFound); both mean resync."""
    weekly_one_on_one(emu)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    settings = _settings(emu, [MARIA], tmp_path)
    sync_all(settings, store, {"work": reader(emu)}, NOW)
    before = {e.key for e in store.events_of([MARIA])[MARIA]}
    emu.expire_delta_tokens(mode)
    with pytest.raises(CursorExpired):
        reader(emu).fetch_changes(MARIA, store.cursor(store.ensure_calendar("work", MARIA, MARIA)),
                                  NOW)
    [result] = sync_all(settings, store, {"work": reader(emu)}, NOW)
    assert result.ok and result.resynced
    assert {e.key for e in store.events_of([MARIA])[MARIA]} == before


def test_a_window_that_fell_behind_is_read_again_in_full(emu):
    weekly_one_on_one(emu)
    outlook = reader(emu)
    first = outlook.fetch_changes(MARIA, None, NOW)
    later = outlook.fetch_changes(MARIA, first.cursor, NOW + timedelta(days=3))
    assert later.unchanged
    moved_on = outlook.fetch_changes(MARIA, first.cursor, NOW + timedelta(days=30))
    assert moved_on.full and moved_on.window.end == NOW + timedelta(days=30 + 120)


def test_delta_replays_and_empty_pages_change_nothing(emu):
    weekly_one_on_one(emu)
    for day in range(10):
        emu.create_event(MARIA, single(f"Meeting {day}", f"2026-11-{10 + day:02d}"))
    clean = reader(emu, page_size=3).fetch_changes(MARIA, None, NOW)
    emu.delta_replays(True)
    emu.delta_empty_pages(True)
    noisy = reader(emu, page_size=3).fetch_changes(MARIA, None, NOW)
    assert sorted(e.key for e in noisy.events) == sorted(e.key for e in clean.events)


def _demo_config(tmp_path: Path, name: str, providers: str, people: dict[str, str]) -> Path:
    """config/demo.toml with ``providers`` added and some people moved onto them."""
    text = (ROOT / "config" / "demo.toml").read_text()
    text = re.sub(r'(?m)^database\s*=.*$', f'database = "sqlite:///{name}.db"', text)
    text = re.sub(r'(?m)^path\s*=.*$', 'path = "calendars"', text)
    text = text.replace("[[people]]", providers + "\n[[people]]", 1)
    for email, provider in people.items():
        text = re.sub(
            rf'(?ms)(^email = "{re.escape(email)}".*?^provider = )"feeds"\ncalendar = "[^"]*"',
            rf'\1"{provider}"',
            text,
        )
    config = tmp_path / f"{name}.toml"
    config.write_text(text)
    return config


def _check(config: Path) -> dict:
    result = CliRunner().invoke(
        main, ["-c", str(config), "check", "--json", "--now", DEMO_NOW.isoformat()]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _same_findings(expected: dict, actual: dict) -> None:
    assert all(c["ok"] for c in actual["calendars"]), actual["calendars"]
    for want, got in zip(expected["pairs"], actual["pairs"], strict=True):
        assert got["occurrences"] == want["occurrences"], want["report"]
        assert got["flags"] == want["flags"], want["report"]
        assert got["adherence"] == want["adherence"], want["report"]
        assert got["next"] == want["next"], want["report"]
        assert got["series"] == want["series"], want["report"]


def test_demo_team_gives_the_same_findings_on_graph_as_from_ics(emu, tmp_path):
    """The whole team on the Graph emulator (seeded from its ICS files): identical findings."""
    emu.load_seed(sorted(DEMO.glob("*.ics")))
    shutil.copytree(DEMO, tmp_path / "calendars")
    from_ics = _check(_demo_config(tmp_path, "ics", "", {}))
    graph = f'[providers.m365]\nkind = "outlook"\nauth = "none"\ngraph_endpoint = "{emu.url}"\n'
    people = {f"{p.stem}@example.com": "m365" for p in DEMO.glob("*.ics")}
    from_graph = _check(_demo_config(tmp_path, "graph", graph, people))
    assert {c["provider"] for c in from_graph["calendars"]} == {"m365"}
    _same_findings(from_ics, from_graph)


def test_a_mixed_team_gives_the_same_findings_as_ics(emu, tmp_path):
    """Maria and Dev on Google, Sam, Tom and Lena on Microsoft 365, the rest on ICS:
    pairs across both providers give the findings of the same history in ICS."""
    on_google = ("maria", "dev")
    on_graph = ("sam", "tom", "lena")
    shutil.copytree(DEMO, tmp_path / "calendars")
    with GoogleEmulator(port=0) as google:
        for stem in on_google:
            seeded = tmp_path / f"{stem}@example.com.ics"
            shutil.copyfile(DEMO / f"{stem}.ics", seeded)
            google.load_seed(seeded)
        emu.load_seed([DEMO / f"{stem}.ics" for stem in on_graph])
        providers = (
            f'[providers.gcal]\nkind = "google"\nauth = "none"\napi_endpoint = "{google.url}"\n'
            f'[providers.m365]\nkind = "outlook"\nauth = "none"\ngraph_endpoint = "{emu.url}"\n'
        )
        people = {f"{s}@example.com": "gcal" for s in on_google}
        people |= {f"{s}@example.com": "m365" for s in on_graph}
        mixed = _check(_demo_config(tmp_path, "mixed", providers, people))
    from_ics = _check(_demo_config(tmp_path, "ics", "", {}))
    by_provider = {c["owner"]: c["provider"] for c in mixed["calendars"]}
    assert by_provider["sam@example.com"] == "m365" and by_provider[MARIA] == "gcal"
    assert by_provider["priya@example.com"] == "feeds"
    _same_findings(from_ics, mixed)


# -- faults, retries, batching -----------------------------------------------------


def _team(emu: GraphEmulator, size: int) -> list[str]:
    mailboxes = [f"person{i:03d}@example.com" for i in range(size)]
    for index, mailbox in enumerate(mailboxes):
        emu.add_mailbox(mailbox)
        emu.create_event(mailbox, {
            "subject": f"Standup {index}",
            "start": {"dateTime": "2026-11-02T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-02T15:15:00", "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-02",
                          "numberOfOccurrences": 40},
            },
        })
    return mailboxes


def _settings(emu: GraphEmulator, mailboxes: list[str], tmp_path: Path, **extra: Any):
    return settings_from_dict({
        "providers": {"work": {"kind": "outlook", "auth": "none", "graph_endpoint": emu.url,
                               **extra}},
        "people": [{"email": m, "provider": "work"} for m in mailboxes],
    }, tmp_path / "c.toml")


def test_idle_cycle_costs_one_request_per_twenty_mailboxes(emu, tmp_path):
    mailboxes = _team(emu, 45)
    settings = _settings(emu, mailboxes, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    outlook = reader(emu)
    assert all(r.ok for r in sync_all(settings, store, {"work": outlook}, NOW))

    emu.requests.clear()
    idle = sync_all(settings, store, {"work": outlook}, NOW)
    assert all(r.ok and r.unchanged for r in idle)
    assert len(emu.requests) == math.ceil(45 / 20) == 3
    assert emu.requests.count("POST", "/$batch") == 3
    assert emu.requests.count("GET", "calendarView/delta", calls=True) == 45

    # One change among 45: still three batches, plus what that mailbox needs.
    emu.create_event(mailboxes[7], single("New", "2026-11-24"))
    emu.requests.clear()
    after = sync_all(settings, store, {"work": outlook}, NOW)
    changed = [r for r in after if not r.unchanged]
    assert [r.calendar for r in changed] == [mailboxes[7]] and changed[0].inserted == 1
    assert len(emu.requests) == 3


def test_expired_tokens_inside_a_batch_resync_those_mailboxes(emu, tmp_path):
    mailboxes = _team(emu, 5)
    settings = _settings(emu, mailboxes, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    outlook = reader(emu)
    sync_all(settings, store, {"work": outlook}, NOW)
    emu.expire_delta_tokens("410")
    results = {r.calendar: r for r in sync_all(settings, store, {"work": outlook}, NOW)}
    assert all(r.ok and not r.unchanged for r in results.values())  # each read in full
    again = sync_all(settings, store, {"work": outlook}, NOW)
    assert all(r.ok and r.unchanged for r in again)


def test_faults_at_a_fixed_rate_end_in_the_same_store(emu, tmp_path):
    mailboxes = _team(emu, 12)
    weekly_one_on_one(emu)
    everyone = [*mailboxes, MARIA, DEV]
    settings = _settings(emu, everyone, tmp_path)

    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    sync_all(settings, clean, {"work": reader(emu)}, NOW)

    faulty = open_store(f"sqlite:///{tmp_path / 'faulty.db'}")
    sleeps: list[float] = []
    emu.fail_rate(0.25, seed=11)
    for _ in range(3):  # a mailbox whose retries ran out is fetched again next cycle
        results = sync_all(settings, faulty, {"work": reader(emu, sleeps, max_retries=6)}, NOW)
        if all(r.ok for r in results):
            break
    emu.reset_faults()
    assert all(r.ok for r in results)
    assert sleeps, "faults were injected, so the client must have backed off"

    def snapshot(store):
        return {owner: sorted((e.key, e.start, e.status, e.title, e.remote_id) for e in events)
                for owner, events in store.events_of(everyone).items()}

    assert snapshot(faulty) == snapshot(clean)


def test_throttling_honours_retry_after_else_backs_off_exponentially(emu):
    emu.add_mailbox(MARIA)
    sleeps: list[float] = []
    emu.throttle(2, retry_after=7)
    assert reader(emu, sleeps).fetch_changes(MARIA, None, NOW).full
    assert sleeps == [7.0, 7.0]
    sleeps.clear()
    emu.fail_5xx(3, status=503)  # no Retry-After: 0.5 s, 1 s, 2 s (rand() = 1)
    assert reader(emu, sleeps).fetch_changes(MARIA, None, NOW).full
    assert sleeps == [0.5, 1.0, 2.0]
    sleeps.clear()
    emu.fail_5xx(2, status=503, retry_after=3)
    assert reader(emu, sleeps).fetch_changes(MARIA, None, NOW).full
    assert sleeps == [3.0, 3.0]


def test_inner_429s_of_a_batch_are_retried(emu, tmp_path):
    mailboxes = _team(emu, 6)
    settings = _settings(emu, mailboxes, tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    sleeps: list[float] = []
    outlook = reader(emu, sleeps)
    sync_all(settings, store, {"work": outlook}, NOW)
    emu.throttle(2, retry_after=4)  # the first two inner calls of the next batch
    emu.requests.clear()
    idle = sync_all(settings, store, {"work": outlook}, NOW)
    assert all(r.ok and r.unchanged for r in idle)
    assert sleeps == [4.0] and emu.requests.count("POST", "/$batch") == 2


def test_a_failing_mailbox_does_not_stop_the_others(emu, tmp_path):
    emu.add_mailbox(MARIA)
    settings = _settings(emu, [MARIA, "nobody@example.com"], tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    results = {r.calendar: r for r in sync_all(settings, store, {"work": reader(emu)}, NOW)}
    assert results[MARIA].ok
    assert not results["nobody@example.com"].ok
    assert "404" in results["nobody@example.com"].message
    assert reader(emu).probe("nobody@example.com") is not None
    assert reader(emu).probe(MARIA) is None


# -- free/busy -------------------------------------------------------------------------


def test_free_busy_chunks_mailboxes_and_ranges(emu):
    weekly_one_on_one(emu, weeks=30)
    others = [f"person{i:03d}@example.com" for i in range(43)]
    for mailbox in others:
        emu.add_mailbox(mailbox)
    outlook = reader(emu)
    window = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 1, 9, tzinfo=UTC))
    emu.requests.clear()
    busy = outlook.free_busy([MARIA, DEV, *others], window)
    # 45 mailboxes in 3 requests of at most 20, for each of 3 spans under 62 days.
    assert emu.requests.count("POST", "getSchedule") == 9
    assert len(busy[MARIA]) == 18  # weekly from 7 Sep 2026 until 9 Jan 2027
    assert busy[MARIA][0] == (FIRST, FIRST + timedelta(minutes=30))
    assert busy[DEV] == busy[MARIA] and busy[others[0]] == []


def test_free_busy_error_items_inside_a_200_name_the_mailbox(emu):
    emu.add_mailbox(MARIA)
    window = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))
    with pytest.raises(ProviderError, match=r"ghost@example\.com") as info:
        reader(emu).free_busy([MARIA, "ghost@example.com"], window)
    assert "5009" in str(info.value)


# -- writes ----------------------------------------------------------------------------


MAKEUP = {
    "subject": "1:1 Maria / Dev (rebooked from Mon 23 Nov)",
    "start": {"dateTime": "2026-11-24T15:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2026-11-24T15:30:00", "timeZone": "UTC"},
    "attendees": [{"type": "required", "emailAddress": {"address": DEV}}],
}
KEY = "makeup|maria@example.com|dev@example.com|20261123T140000Z|1"


def test_create_is_exactly_once_and_carries_the_key(emu):
    emu.add_mailbox(MARIA)
    outlook = reader(emu)
    tags = {"pair": "maria@example.com|dev@example.com", "for": "2026-11-23T14:00:00Z"}
    first = outlook.writer.create_event(MARIA, MAKEUP, KEY, tags)
    again = outlook.writer.create_event(MARIA, MAKEUP, KEY, tags)
    assert again["id"] == first["id"]
    assert first["transactionId"] == transaction_id_for(KEY)
    assert len(emu.events(MARIA)) == 1
    assert outlook.writer.find_owned(MARIA, KEY)["id"] == first["id"]
    # The key and tags come back through a sync, for the policies.
    changes = outlook.fetch_changes(MARIA, None, NOW)
    [made] = [e for e in changes.events if e.title.startswith("1:1 Maria")]
    assert made.tags == {"key": KEY, **tags}


def test_create_after_a_lost_response_does_not_duplicate(emu):
    """The POST reached Graph but the answer was lost: the lookup misses, transactionId wins."""
    emu.add_mailbox(MARIA)
    earlier = emu.create_event(MARIA, {**MAKEUP, "transactionId": transaction_id_for(KEY)})
    created = reader(emu).writer.create_event(MARIA, MAKEUP, KEY)
    assert created["id"] == earlier["id"]
    assert len(emu.events(MARIA)) == 1


def test_patch_rereads_and_retries_after_412(emu):
    emu.add_mailbox(MARIA)
    outlook = reader(emu)
    created = outlook.writer.create_event(MARIA, MAKEUP, KEY)
    etags = []

    def change(current):
        etags.append(current["@odata.etag"])
        if len(etags) == 1:  # someone edits the event between our read and our write
            emu.patch_event(MARIA, created["id"], {"location": {"displayName": "Room 4"}})
        return {"subject": current["subject"] + " (agenda)"}

    result = outlook.writer.patch_event(MARIA, created["id"], change, owned_key=KEY)
    assert len(etags) == 2 and etags[0] != etags[1]
    assert result["location"]["displayName"] == "Room 4"
    assert result["subject"].endswith("(agenda)")


def test_writes_refuse_events_calsync_does_not_own(emu):
    emu.add_mailbox(MARIA)
    emu.add_mailbox(DEV)
    outlook = reader(emu)
    theirs = emu.create_event(MARIA, {**MAKEUP, "singleValueExtendedProperties": [
        {"id": KEY_PROPERTY, "value": "someone-else"}]})
    with pytest.raises(ProviderError, match="not calsync's"):
        outlook.writer.patch_event(MARIA, theirs["id"], lambda _c: {"subject": "x"}, owned_key=KEY)
    assert emu.get_event(MARIA, theirs["id"])["subject"] == MAKEUP["subject"]


# -- config -----------------------------------------------------------------------------


def test_auth_none_is_refused_for_a_real_endpoint(tmp_path):
    with pytest.raises(ConfigError, match="only for a local emulator"):
        settings_from_dict({"providers": {"m": {"kind": "outlook", "auth": "none"}}},
                           tmp_path / "c.toml")


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ({"auth": "client_credentials", "client_id": "c", "client_secret_env": "S"},
         "needs tenant_id"),
        ({"tenant_id": "t", "client_id": "c"}, "exactly one of client_secret_env"),
        ({"tenant_id": "t", "client_id": "c", "client_secret_env": "S",
          "certificate_file": "c.pem"}, "exactly one of client_secret_env"),
        ({"auth": "device_code", "tenant_id": "t"}, "needs client_id"),
        ({"tenant_id": "t", "client_id": "c", "client_secret_env": "not a name"},
         "not an environment variable name"),
        ({"auth": "bogus"}, "auth"),
    ],
)
def test_outlook_config_errors_name_the_key(tmp_path, provider, message):
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_dict({"providers": {"m365": {"kind": "outlook", **provider}}},
                           tmp_path / "c.toml")
    assert "providers.m365" in str(info.value)


def test_the_agenda_block_in_an_html_body_keeps_the_markup(emu):
    """A Teams invite's HTML body: only calsync's block is added, once, markup intact."""
    from calsync.model import AgendaBlock

    master = weekly_one_on_one(emu)
    outlook = reader(emu)
    # An HTML description (a Teams invite): only calsync's block is added, once.
    invite = '<html><body><p>Join on <a href="https://teams.example/x">Teams</a></p></body></html>'
    emu.patch_event(MARIA, master, {"body": {"contentType": "html", "content": invite}})
    block = AgendaBlock("https://docs.example.com/1on1/maria-dev")
    outlook.update_description(MARIA, master, block)
    html_body = emu.get_event(MARIA, master)["body"]["content"]
    assert '<a href="https://teams.example/x">Teams</a>' in html_body
    assert html_body.count("shared 1:1 agenda") == 1
    etag = emu.get_event(MARIA, master)["@odata.etag"]
    outlook.update_description(MARIA, master, block)
    assert emu.get_event(MARIA, master)["@odata.etag"] == etag  # nothing to change
    changes = outlook.fetch_changes(MARIA, None, NOW)
    [series] = [e for e in changes.events if e.is_series]
    assert "https://docs.example.com/1on1/maria-dev" in series.description
    assert "Teams" in series.description


def test_the_agenda_block_goes_on_the_series_and_its_own_exceptions_only(emu, tmp_path):
    master = weekly_one_on_one(emu)
    moved = instance_id(emu, MARIA, datetime(2026, 11, 30, 14, 0, tzinfo=UTC))
    emu.patch_event(MARIA, moved, {"body": {"contentType": "text",
                                            "content": "Bring the Q4 numbers."}})
    settings = settings_from_dict({
        "database": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {"work": {"kind": "outlook", "auth": "none", "graph_endpoint": emu.url}},
        "people": [
            {"email": MARIA, "provider": "work", "timezone": NY},
            {"email": DEV, "provider": "work", "timezone": NY},
        ],
        "pairs": [{"manager": MARIA, "report": DEV, "cadence": "weekly"}],
        "agenda": {"url_template": "https://docs.example.com/1on1/{pair}"},
    }, tmp_path / "c.toml")
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    try:
        first = Daemon(settings, store, readers, clock=lambda: NOW).cycle()
        written = {w.key.split("|")[2] for w in first.writes if w.kind == "agenda_block"}
        # Writing each upcoming instance would make every one an exception.
        assert written == {master, moved}
        instances = emu.instances(MARIA, master, "2026-11-21T00:00:00Z", "2027-02-01")
        assert len(instances) == 10
        assert all("docs.example.com/1on1/maria-dev" in i["body"]["content"] for i in instances)
        assert [i["type"] for i in instances].count("exception") == 1
        assert "Bring the Q4 numbers." in emu.get_event(MARIA, moved)["body"]["content"]
        # The next cycle reads the blocks back and finds nothing left to write.
        assert Daemon(settings, store, readers, clock=lambda: NOW).cycle().writes == []
    finally:
        close_readers(readers)
        store.close()


def test_batches_to_one_mailbox_get_through_its_concurrency_limit(emu):
    """Outlook runs four requests per mailbox at once; the rest of a batch gets 429s."""
    emu.add_mailbox(MARIA)
    for index in range(12):
        emu.create_event(MARIA, {
            "subject": f"Series {index}",
            "start": {"dateTime": f"2026-11-02T{8 + index:02d}:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2026-11-02T{8 + index:02d}:30:00", "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "noEnd", "startDate": "2026-11-02"},
            },
        })
    clean = reader(emu).fetch_changes(MARIA, None, NOW)
    sleeps: list[float] = []
    emu.mailbox_concurrency(4)
    limited = reader(emu, sleeps).fetch_changes(MARIA, None, NOW)
    assert sleeps == [1.0, 1.0]  # 12 master reads: 4 + 4 + 4
    assert sorted(e.key for e in limited.events) == sorted(e.key for e in clean.events)


def test_change_notifications_subscribe_notify_rotate_and_delete(emu):
    """Graph subscriptions through the daemon's /push/graph: handshake, notify, rotate, delete."""
    import threading

    from calsync.service.push import GraphSubscriptions
    from calsync.service.web.server import DaemonServer

    weekly_one_on_one(emu)
    changed: list[tuple[str, str]] = []
    seen = threading.Event()

    def on_change(provider: str, calendar: str) -> None:
        changed.append((provider, calendar))
        seen.set()

    secret = b"s" * 32
    # Push tokens expire: the webhook checks them on the emulator's clock.
    with DaemonServer("127.0.0.1:0", secret, on_change, lambda: (True, {}),
                      clock=emu.state.clock) as server:
        outlook = reader(emu)
        subscriptions = GraphSubscriptions(outlook, server.url, secret)
        assert subscriptions.ensure([MARIA], NOW) == []  # the handshake went through
        [first] = emu.subscriptions()
        emu.create_event(MARIA, {
            "subject": "Planning",
            "start": {"dateTime": "2026-11-24T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-24T16:00:00", "timeZone": "UTC"},
        })
        assert seen.wait(10)
        assert changed[0] == ("outlook", MARIA)

        # A day before the expiration it is rotated: a new subscription with a new
        # clientState (the token expires with it), then the old one deleted.
        later = NOW + timedelta(minutes=10_000) - timedelta(hours=12)
        emu.state.clock.now = later  # Graph checks expirations against its own clock
        assert subscriptions.ensure([MARIA], later) == []
        [renewed] = emu.subscriptions()
        assert renewed["id"] != first["id"]
        assert renewed["clientState"] != first["clientState"]
        assert renewed["expirationDateTime"] > first["expirationDateTime"]

        subscriptions.stop_all()
        assert emu.subscriptions() == []
