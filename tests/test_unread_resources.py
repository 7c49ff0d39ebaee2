"""A provider resource calsync cannot map is named, and its stored rows are kept.

A full resync sweeps every upcoming row it did not see. A series whose master
cannot be read (a rule calsync does not understand, a time that is not a time)
was *there*: the change set names it in ``unread_uids`` and the store keeps
what it knew, exactly as the ICS reader does for a broken VEVENT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator

from calsync.config import GoogleProvider, settings_from_dict
from calsync.engine.sync import sync_all
from calsync.model import EventStatus, Window
from calsync.providers.google import mapping as google_mapping
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar
from calsync.providers.outlook import mapping as graph_mapping
from calsync.store import open_store
from calsync.store.events import events_of

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=60))
NY = ZoneInfo("America/New_York")
MARIA, DEV = "maria@example.com", "dev@example.com"
SERIES_UID = "maria-dev-1on1@example.com"


def _google_series() -> dict:
    return {
        "iCalUID": SERIES_UID,
        "summary": "Maria / Dev 1:1",
        "start": {"dateTime": "2026-11-02T09:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-11-02T09:30:00", "timeZone": "America/New_York"},
        "recurrence": ["RRULE:FREQ=WEEKLY"],
        "organizer": {"email": MARIA},
        "attendees": [
            {"email": MARIA, "responseStatus": "accepted"},
            {"email": DEV, "responseStatus": "accepted"},
        ],
    }


def test_an_unmappable_google_series_keeps_its_stored_rows_through_a_full_resync(tmp_path):
    with GoogleEmulator(port=0) as emu:
        emu.add_calendar(MARIA)
        master = emu.import_event(MARIA, _google_series())
        emu.insert_event(MARIA, {
            "summary": "Planning",
            "start": {"dateTime": "2026-11-25T15:00:00Z"},
            "end": {"dateTime": "2026-11-25T16:00:00Z"},
        })  # fmt: skip
        settings = GoogleProvider(kind="google", auth="none", api_endpoint=emu.url)
        google = GoogleCalendar("work", settings, NoCredentials(), lambda _c: NY)
        config = settings_from_dict(
            {
                "providers": {"work": {"kind": "google", "auth": "none", "api_endpoint": emu.url}},
                "people": [{"email": MARIA, "provider": "work"}],
            },
            tmp_path / "c.toml",
        )
        store = open_store(f"sqlite:///{tmp_path / 'calsync.db'}")
        try:
            assert all(r.ok for r in sync_all(config, store, {"work": google}, NOW))
            stored = {e.key for e in events_of(store, [MARIA])[MARIA] if e.uid == SERIES_UID}
            upcoming = {k for k in stored if k > f"{SERIES_UID}#{NOW:%Y%m%d}"}
            assert upcoming, "the series has upcoming occurrences to lose"

            # The master now carries a rule calsync cannot read, and the sync
            # token expires: the next sync is a full resync that sweeps.
            with emu.lock:
                calendar = emu.state.store.calendars[MARIA]
                calendar.events[master["id"]].body["recurrence"] = ["RRULE:FREQ=SOMETIMES"]
            emu.expire_sync_tokens()

            changes = google.fetch_changes(MARIA, None, NOW)
            assert changes.full
            assert changes.unread_uids == (SERIES_UID,)
            assert any(SERIES_UID in w for w in changes.warnings)

            results = sync_all(config, store, {"work": google}, NOW)
            assert all(r.ok for r in results)
            assert any(SERIES_UID in w for r in results for w in r.warnings)
            after = {e.key for e in events_of(store, [MARIA])[MARIA] if e.uid == SERIES_UID}
            assert after == stored
        finally:
            store.close()


@pytest.mark.parametrize(
    "broken",
    [
        {"start": {"dateTime": "next Tuesday", "timeZone": "America/New_York"}},
        {"originalStartTime": {"dateTime": "not a time"}},
    ],
    ids=["master start", "instance original start"],
)
def test_a_google_resource_with_a_bad_time_is_named_and_unread(broken):
    master = {**_google_series(), "id": "m1"}
    instance = {
        **_google_series(),
        "id": "m1_20261109T140000Z",
        "recurringEventId": "m1",
        "originalStartTime": {"dateTime": "2026-11-09T09:00:00", "timeZone": "America/New_York"},
        "start": {"dateTime": "2026-11-09T10:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-11-09T10:30:00", "timeZone": "America/New_York"},
    }
    del instance["recurrence"]
    other = {
        "id": "single",
        "iCalUID": "single@example.com",
        "summary": "Planning",
        "start": {"dateTime": "2026-11-25T15:00:00Z"},
        "end": {"dateTime": "2026-11-25T16:00:00Z"},
    }
    if "originalStartTime" in broken:
        instance.update(broken)
    else:
        master.update(broken)
    events, warnings = google_mapping.to_events([master, instance, other], MARIA, WINDOW, NY)
    assert SERIES_UID in warnings.skipped_uids
    assert "single@example.com" not in warnings.skipped_uids
    assert any("skipped" in w and MARIA in w for w in warnings)
    assert "single@example.com" in {e.uid for e in events}


def test_an_instance_whose_series_is_missing_leaves_its_series_unread():
    instance = {
        "id": "gone_20261109T140000Z",
        "iCalUID": SERIES_UID,
        "recurringEventId": "gone",
        "originalStartTime": {"dateTime": "2026-11-09T14:00:00Z"},
        "start": {"dateTime": "2026-11-09T15:00:00Z"},
        "end": {"dateTime": "2026-11-09T15:30:00Z"},
    }
    events, warnings = google_mapping.to_events([instance], MARIA, WINDOW, NY)
    assert events == []
    assert warnings.skipped_uids == {SERIES_UID}
    assert "series gone was not found" in warnings[0]


def _graph_master(pattern_type: str) -> dict:
    return {
        "id": "AAMk-master",
        "iCalUId": SERIES_UID,
        "type": "seriesMaster",
        "subject": "Maria / Dev 1:1",
        "start": {"dateTime": "2026-11-02T14:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-02T14:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Eastern Standard Time",
        "recurrence": {
            "pattern": {"type": pattern_type, "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": "2026-11-02"},
        },
        "attendees": [{"emailAddress": {"address": DEV}, "status": {"response": "accepted"}}],
        "organizer": {"emailAddress": {"address": MARIA}},
    }


def test_an_unmappable_graph_series_is_named_and_unread():
    single = {
        "id": "AAMk-single",
        "iCalUId": "single@example.com",
        "type": "singleInstance",
        "subject": "Planning",
        "start": {"dateTime": "2026-11-25T15:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T16:00:00.0000000", "timeZone": "UTC"},
    }
    broken = graph_mapping.SeriesData(_graph_master("sometimes"), [])
    events, warnings = graph_mapping.to_events([single], [broken], MARIA, WINDOW, NY, MARIA)
    assert warnings.skipped_uids == {SERIES_UID}
    assert any("AAMk-master" in w and "sometimes" in w for w in warnings)
    assert {e.uid for e in events} == {"single@example.com"}

    readable = graph_mapping.SeriesData(_graph_master("weekly"), [])
    events, warnings = graph_mapping.to_events([], [readable], MARIA, WINDOW, NY, MARIA)
    assert not warnings.skipped_uids
    # Graph lists no instance for these rule times: deleted occurrences.
    assert {e.status for e in events if e.is_occurrence} == {EventStatus.CANCELLED}
