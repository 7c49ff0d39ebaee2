"""The CalDAV provider against a real Radicale: what the contract suite does not cover.

The contract suite (``tests/contract``) runs the whole shared behaviour on
CalDAV; these tests cover what is CalDAV's own: the getctag/getetag path of
servers without ``sync-collection``, a sync token Radicale really expired,
objects a server serves broken or full of scheduling leftovers, config and
doctor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.config import ConfigError, settings_from_dict
from calsync.providers.caldav.calendar import CaldavCalendar
from calsync.providers.caldav.mapping import multiget_body
from tests.caldav_support import RadicaleServer, put
from tests.contract.harness import CaldavHarness
from tests.contract.history import FIRST_UPCOMING, MARIA, NEW_SERIES, NOW

NEXT = FIRST_UPCOMING


@pytest.fixture
def caldav(tmp_path: Path) -> Iterator[CaldavHarness]:
    harness = CaldavHarness(tmp_path)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def cursor_of(harness: CaldavHarness) -> dict:
    [calendar_id] = harness.store.calendar_ids().values()
    return json.loads(harness.store.cursor(calendar_id) or "{}")


# -- servers without sync-collection -----------------------------------------------------


def test_without_sync_collection_only_changed_objects_are_fetched(caldav: CaldavHarness) -> None:
    caldav.proxy.no_sync_collection = True
    caldav.seed()
    first = caldav.sync(caldav.store)
    assert first.ok, first.message
    assert cursor_of(caldav)["mode"] == "ctag"
    assert caldav.rows(caldav.store) == caldav.history.expected()

    before = len(caldav.proxy.requests)
    idle = caldav.sync(caldav.store)
    assert idle.ok and idle.unchanged
    assert [m for m, _, _ in caldav.proxy.requests[before:]] == ["PROPFIND"]  # the ctag only

    caldav.cancel(NEXT)
    before = len(caldav.proxy.requests)
    changed = caldav.sync(caldav.store)
    assert changed.ok and not changed.unchanged, changed.message
    sent = caldav.proxy.requests[before:]
    assert [m for m, _, _ in sent] == ["PROPFIND", "PROPFIND", "REPORT"]
    [(_, _, multiget)] = [r for r in sent if r[0] == "REPORT"]
    assert multiget.count(b"<d:href>") == 1  # only the series' object, not the one-off
    assert caldav.rows(caldav.store) == caldav.history.expected()

    caldav.delete("single")
    assert caldav.sync(caldav.store).ok
    assert caldav.rows(caldav.store) == caldav.history.expected()


def test_the_ctag_path_agrees_with_sync_collection(caldav: CaldavHarness) -> None:
    caldav.seed()
    caldav.cancel(NEXT)
    with caldav.fresh_store() as store:
        assert caldav.sync(store).ok
        by_sync = caldav.events(store)
    caldav.proxy.no_sync_collection = True
    with caldav.fresh_store() as store:
        assert caldav.sync(store).ok
        by_ctag = caldav.events(store)
    assert sorted(by_ctag, key=lambda e: e.key) == sorted(by_sync, key=lambda e: e.key)


# -- a token Radicale expired ------------------------------------------------------------


def test_a_sync_token_radicale_expired_means_a_full_resync(tmp_path: Path) -> None:
    with RadicaleServer(max_sync_token_age=60) as radicale:
        harness = CaldavHarness(tmp_path)
        harness.server = radicale
        harness.start()
        try:
            harness.seed()
            assert harness.sync(harness.store).ok
            harness.cancel(NEXT)
            harness.delete("series")
            # Two minutes pass; another client's sync makes Radicale clean old tokens.
            radicale.age_sync_tokens(harness.server_calendar, 120)
            with radicale.client("someone-else") as other:
                reply = other.request(harness.server_calendar, "REPORT",
                                      _initial_sync(), {"Depth": "0"})  # fmt: skip
                assert reply.status == 207
            result = harness.sync(harness.store)
            assert result.ok and result.resynced, result.message
            assert harness.rows(harness.store) == harness.history.expected()
        finally:
            harness.stop()


def _initial_sync() -> str:
    from calsync.providers.caldav.mapping import sync_collection_body

    return sync_collection_body(None)


# -- what servers store -------------------------------------------------------------------

ITIP_LEFTOVERS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Some//Server//EN\r
METHOD:REQUEST\r
BEGIN:VEVENT\r
UID:itip-leftover@example.com\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261201T150000Z\r
DTEND:20261201T153000Z\r
SUMMARY:Planning\r
ORGANIZER;SCHEDULE-AGENT=CLIENT;SCHEDULE-STATUS=1.1:mailto:maria@example.com\r
ATTENDEE;SCHEDULE-STATUS=3.7;PARTSTAT=ACCEPTED;SCHEDULE-FORCE-SEND=REQUEST:mailto:dev@example.com\r
X-MOZ-GENERATION:3\r
END:VEVENT\r
END:VCALENDAR\r
"""

UNREADABLE = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:broken@example.com\nDTSTART:garbage"


def test_scheduling_leftovers_read_and_a_broken_object_is_skipped_by_name(
    caldav: CaldavHarness,
) -> None:
    caldav.seed()
    put(caldav.object_url("itip-leftover@example.com"), ITIP_LEFTOVERS)
    put(caldav.object_url("broken@example.com"), ITIP_LEFTOVERS.replace(
        "itip-leftover@example.com", "broken@example.com"))  # fmt: skip
    broken_path = f"/{caldav.user}/{caldav.cal_id}/broken@example.com.ics"
    caldav.proxy.serve_instead[broken_path] = UNREADABLE
    result = caldav.sync(caldav.store)
    assert result.ok, result.message
    [warning] = [w for w in result.warnings if "broken@example.com" in w]
    assert caldav.calendar in warning  # the calendar URL and the UID
    leftover = [e for e in caldav.events(caldav.store) if e.uid == "itip-leftover@example.com"]
    assert [(e.title, e.response_of("dev@example.com")) for e in leftover] == [
        ("Planning", "accepted")
    ]
    assert not [e for e in caldav.events(caldav.store) if e.uid == "broken@example.com"]
    # The rest of the calendar is all there.
    history = {r for r in caldav.rows(caldav.store) if r.uid != NEW_SERIES}  # not seeded
    assert history == set(caldav.history.expected())


# -- config ------------------------------------------------------------------------------------


def test_a_password_in_the_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_dict(
            {"providers": {"dav": {"kind": "caldav", "url": "https://dav.example.com/",
                                   "username": "maria", "password": "hunter2"}},
             "people": [{"email": MARIA, "provider": "dav"}]},
            tmp_path / "calsync.toml",
        )  # fmt: skip
    assert "providers.dav" in str(error.value) and "password_env" in str(error.value)


def test_the_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, radicale: RadicaleServer
) -> None:
    settings = settings_from_dict(
        {"providers": {"dav": {"kind": "caldav", "url": radicale.url + "/",
                               "username": "maria", "password_env": "CALSYNC_TEST_DAV"}},
         "people": [{"email": MARIA, "provider": "dav"}]},
        tmp_path / "calsync.toml",
    )  # fmt: skip
    provider = settings.providers["dav"]
    monkeypatch.delenv("CALSYNC_TEST_DAV", raising=False)
    with pytest.raises(Exception, match="CALSYNC_TEST_DAV"):
        CaldavCalendar("dav", provider, lambda _: NOW.tzinfo)  # type: ignore[arg-type, return-value]
    monkeypatch.setenv("CALSYNC_TEST_DAV", "app-specific-password")
    reader = CaldavCalendar("dav", provider, lambda _: NOW.tzinfo)  # type: ignore[arg-type, return-value]
    try:
        assert reader.client.dav.password == "app-specific-password"
    finally:
        reader.close()


def test_a_calendar_is_found_by_display_name_or_as_the_default(
    tmp_path: Path, radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV", "x")
    radicale.calendar("lena", "private", "Private")
    radicale.calendar("lena", "team", "Team 1:1s")
    settings = settings_from_dict(
        {"providers": {"dav": {"kind": "caldav", "url": radicale.url + "/", "username": "lena",
                               "password_env": "CALSYNC_TEST_DAV"}},
         "people": [{"email": MARIA, "provider": "dav"}]},
        tmp_path / "calsync.toml",
    )  # fmt: skip
    reader = CaldavCalendar("dav", settings.providers["dav"], lambda _: NOW.tzinfo)  # type: ignore[arg-type, return-value]
    try:
        assert reader.client.calendar_url("Team 1:1s").endswith("/lena/team/")
        # No scheduling inbox on Radicale: the default is the first calendar it lists.
        with radicale.client("lena") as client:
            first = str(client.principal().get_calendars()[0].url)
        assert reader.client.calendar_url(MARIA) == first
        assert "no calendar named 'Nope'" in (reader.probe("Nope") or "")
        assert reader.probe("Team 1:1s") is None
    finally:
        reader.close()


def test_multiget_bodies_escape_hrefs() -> None:
    assert "<d:href>/a/b&amp;c.ics</d:href>" in multiget_body(["/a/b&c.ics"])
