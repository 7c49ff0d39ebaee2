"""The CalDAV provider against a real Radicale: what the contract suite does not cover.

The contract suite (``tests/contract``) runs the whole shared behaviour on
CalDAV; these tests cover what is CalDAV's own: the getctag/getetag path of
servers without ``sync-collection``, a sync token Radicale really expired,
objects a server serves broken or full of scheduling leftovers, busy times
(Radicale's own ``free-busy-query``, and the same times computed from the
events when a server refuses it), config and doctor.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.config import CaldavProvider, ConfigError, settings_from_dict
from calsync.model import Window
from calsync.providers.base import ProviderError
from calsync.providers.caldav.calendar import CaldavCalendar
from calsync.providers.caldav.mapping import busy_from_vfreebusy, multiget_body
from tests.caldav_support import DavProxy, RadicaleServer, put
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
    # Unset: each calendar says so when read (doctor lists it; other providers carry on).
    unset = CaldavCalendar("dav", provider, lambda _: NOW.tzinfo)  # type: ignore[arg-type, return-value]
    try:
        assert "CALSYNC_TEST_DAV (password_env) is not set" in (unset.probe(MARIA) or "")
        with pytest.raises(ProviderError, match="CALSYNC_TEST_DAV"):
            unset.fetch_changes(radicale.url + "/maria/work/", None, NOW)
    finally:
        unset.close()
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


# -- free/busy ------------------------------------------------------------------------------

_VCAL = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Some calendar app//EN\r\n{}END:VCALENDAR\r\n"


def _vevent(uid: str, start: str, end: str, *extra: str, summary: str = "Busy") -> str:
    lines = [f"UID:{uid}", "DTSTAMP:20260901T000000Z", start, end, *extra, f"SUMMARY:{summary}"]
    return "BEGIN:VEVENT\r\n" + "".join(line + "\r\n" for line in lines) + "END:VEVENT\r\n"


_NY = "TZID=America/New_York"
#: Maria's November: a weekly 1:1 (one instance removed, one cancelled, one moved), and
#: one-offs that are busy or not. The window is November 2026 (UTC).
FREE_BUSY_CALENDAR = {
    "one-on-one": _VCAL.format(
        _vevent("fb-1on1@example.com", f"DTSTART;{_NY}:20261102T100000",
                f"DTEND;{_NY}:20261102T103000", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
                f"EXDATE;{_NY}:20261109T100000", summary="Maria / Dev 1:1")
        + _vevent("fb-1on1@example.com", f"DTSTART;{_NY}:20261116T100000",
                  f"DTEND;{_NY}:20261116T103000", f"RECURRENCE-ID;{_NY}:20261116T100000",
                  "STATUS:CANCELLED", summary="Maria / Dev 1:1")
        + _vevent("fb-1on1@example.com", f"DTSTART;{_NY}:20261123T140000",
                  f"DTEND;{_NY}:20261123T141500", f"RECURRENCE-ID;{_NY}:20261123T100000",
                  summary="Maria / Dev 1:1")
    ),
    "across-the-start": _VCAL.format(_vevent(
        "fb-late@example.com", "DTSTART:20261031T230000Z", "DTEND:20261101T010000Z")),
    "focus": _VCAL.format(_vevent("fb-focus@example.com", "DTSTART:20261104T150000Z",
                                  "DTEND:20261104T160000Z", "TRANSP:TRANSPARENT")),
    "review": _VCAL.format(_vevent("fb-review@example.com", "DTSTART:20261105T170000Z",
                                   "DTEND:20261105T180000Z")),
    "called-off": _VCAL.format(_vevent("fb-off@example.com", "DTSTART:20261106T170000Z",
                                       "DTEND:20261106T180000Z", "STATUS:CANCELLED")),
    "maybe": _VCAL.format(_vevent("fb-maybe@example.com", "DTSTART:20261110T170000Z",
                                  "DTEND:20261110T180000Z", "STATUS:TENTATIVE")),
    "offsite": _VCAL.format(_vevent("fb-offsite@example.com", "DTSTART;VALUE=DATE:20261112",
                                    "DTEND;VALUE=DATE:20261113")),
    "holiday": _VCAL.format(_vevent("fb-holiday@example.com", "DTSTART;VALUE=DATE:20261126",
                                    "DTEND;VALUE=DATE:20261127", "TRANSP:TRANSPARENT")),
    "december": _VCAL.format(_vevent("fb-dec@example.com", "DTSTART:20261203T150000Z",
                                     "DTEND:20261203T160000Z")),
}
NOVEMBER = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def _utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


BUSY_IN_NOVEMBER = [
    (_utc(1, 0), _utc(1, 1)),  # clipped to the window
    (_utc(2, 15), _utc(2, 15, 30)),  # 10:00 New York (EST since 1 Nov)
    # 9 Nov: removed (EXDATE); 4 Nov: transparent; 6 Nov: cancelled
    (_utc(5, 17), _utc(5, 18)),
    (_utc(10, 17), _utc(10, 18)),  # tentative is busy
    (_utc(12, 0), _utc(13, 0)),  # an opaque all-day event
    # 16 Nov: the cancelled instance; 26 Nov: a transparent all-day event
    (_utc(23, 19), _utc(23, 19, 15)),  # the moved and shortened instance
    (_utc(30, 15), _utc(30, 15, 30)),
]

_FREE_BUSY_USERS = itertools.count()


@pytest.fixture
def busy_calendar(radicale: RadicaleServer) -> Iterator[tuple[DavProxy, str]]:
    """Maria's November on Radicale behind a proxy; the calendar URL through the proxy."""
    user = f"busy-{os.getpid()}-{next(_FREE_BUSY_USERS)}"
    url = radicale.calendar(user, "work", "Work")
    for name, data in FREE_BUSY_CALENDAR.items():
        put(f"{url}{name}.ics", data)
    proxy = DavProxy(radicale.url).start()
    try:
        yield proxy, url.replace(radicale.url, proxy.url)
    finally:
        proxy.stop()


def _dav(proxy: DavProxy, zone: str = "UTC") -> CaldavCalendar:
    settings = CaldavProvider(kind="caldav", url=proxy.url + "/", username="maria")
    return CaldavCalendar("dav", settings, lambda _: ZoneInfo(zone))


def test_free_busy_query_gives_the_busy_times_of_a_calendar(
    busy_calendar: tuple[DavProxy, str],
) -> None:
    proxy, calendar = busy_calendar
    dav = _dav(proxy)
    try:
        assert dav.free_busy([calendar], NOVEMBER) == {calendar: BUSY_IN_NOVEMBER}
        assert dav.reader.free_busy_supported(calendar) is True
    finally:
        dav.close()
    [(method, _, body)] = proxy.requests  # one free-busy-query, no event was read
    assert method == "REPORT" and b"free-busy-query" in body
    assert b'start="20261101T000000Z" end="20261201T000000Z"' in body


def test_without_free_busy_query_busy_times_come_from_the_events(
    busy_calendar: tuple[DavProxy, str],
) -> None:
    proxy, calendar = busy_calendar
    proxy.no_free_busy = True
    dav = _dav(proxy)
    try:
        assert dav.free_busy([calendar], NOVEMBER) == {calendar: BUSY_IN_NOVEMBER}
        assert dav.reader.free_busy_supported(calendar) is False
        refused = [m for m, _, b in proxy.requests if b"free-busy-query" in b]
        assert refused == ["REPORT"]
        assert [m for m, _, _ in proxy.requests] == ["REPORT", "PROPFIND", "REPORT"]
        # The server said no once: the next call goes straight to the events.
        before = len(proxy.requests)
        assert dav.free_busy([calendar, calendar], NOVEMBER) == {calendar: BUSY_IN_NOVEMBER}
        assert [m for m, _, _ in proxy.requests[before:]] == ["PROPFIND", "REPORT"]
    finally:
        dav.close()
    # Computed here, an all-day event is busy from midnight to midnight where Maria lives.
    in_new_york = _dav(proxy, "America/New_York")
    try:
        busy = in_new_york.free_busy([calendar], NOVEMBER)[calendar]
    finally:
        in_new_york.close()
    assert (_utc(12, 5), _utc(13, 5)) in busy and (_utc(12, 0), _utc(13, 0)) not in busy


def test_a_server_error_on_free_busy_is_an_error_not_an_empty_calendar(
    busy_calendar: tuple[DavProxy, str],
) -> None:
    proxy, calendar = busy_calendar
    proxy.fail(500, 10)
    settings = CaldavProvider(kind="caldav", url=proxy.url + "/", username="maria",
                              max_retries=1)  # fmt: skip
    dav = CaldavCalendar("dav", settings, lambda _: ZoneInfo("UTC"), sleep=lambda _: None)
    try:
        with pytest.raises(Exception, match="HTTP 500"):
            dav.free_busy([calendar], NOVEMBER)
        assert dav.reader.free_busy_supported(calendar) is True  # not mistaken for "refused"
    finally:
        dav.close()


def test_vfreebusy_periods_in_every_shape() -> None:
    answer = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VFREEBUSY\r\n"
        b"FREEBUSY:20261102T150000Z/20261102T153000Z,20261103T150000Z/PT1H\r\n"
        b"FREEBUSY;FBTYPE=FREE:20261104T150000Z/20261104T160000Z\r\n"
        b"FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261105T150000Z/PT30M\r\n"
        b"FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261106T150000Z/20261106T151500Z\r\n"
        b"END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert busy_from_vfreebusy(answer) == [
        (_utc(2, 15), _utc(2, 15, 30)),
        (_utc(3, 15), _utc(3, 16)),
        (_utc(5, 15), _utc(5, 15, 30)),
        (_utc(6, 15), _utc(6, 15, 15)),
    ]


def test_a_login_the_server_wants_without_password_env_says_so(
    tmp_path: Path, radicale: RadicaleServer
) -> None:
    radicale.calendar("kim", "work", "Work")
    settings = settings_from_dict(
        {"providers": {"dav": {"kind": "caldav", "url": radicale.url + "/", "username": "kim"}},
         "people": [{"email": MARIA, "provider": "dav", "calendar": "Work"}]},
        tmp_path / "calsync.toml",
    )  # fmt: skip
    reader = CaldavCalendar("dav", settings.providers["dav"], lambda _: NOW.tzinfo)  # type: ignore[arg-type, return-value]
    try:
        problem = reader.probe("Work") or ""
    finally:
        reader.close()
    assert "none was sent: set password_env" in problem, problem


def test_multiget_bodies_escape_hrefs() -> None:
    assert "<d:href>/a/b&amp;c.ics</d:href>" in multiget_body(["/a/b&c.ics"])
