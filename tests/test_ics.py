"""The ICS provider: iCalendar mapping (one named fixture per case) and the reader.

Every fixture test runs twice, once with the VEVENTs as written and once in
reverse order, and must give the same result. Times in the assertions are UTC
instants worked out by hand from the zone rules: Europe/Berlin leaves summer
time on 2026-10-25, America/New_York on 2026-11-01.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from calsync.config import IcsProvider
from calsync.model import Event, EventStatus, Response, Window
from calsync.providers.base import CalendarReader, ProviderError
from calsync.providers.expand import parse_calendar, parse_calendars
from calsync.providers.ics.reader import IcsReader, redact_url

FIXTURES = Path(__file__).parent / "fixtures" / "ics"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- helpers ---------------------------------------------------------------------


def reverse_vevents(data: bytes) -> bytes:
    """The same calendar with its top-level VEVENTs in reverse order."""
    lines = data.splitlines(keepends=True)
    out: list[bytes] = []
    blocks: list[list[bytes]] = []
    current: list[bytes] | None = None
    depth = 0
    insert_at: int | None = None
    for line in lines:
        upper = line.strip().upper()
        if current is not None:
            current.append(line)
            if upper.startswith(b"BEGIN:"):
                depth += 1
            elif upper.startswith(b"END:"):
                depth -= 1
                if depth == 1:
                    blocks.append(current)
                    current = None
            continue
        if upper == b"BEGIN:VEVENT" and depth == 1:
            current = [line]
            depth += 1
            if insert_at is None:
                insert_at = len(out)
            continue
        if upper.startswith(b"BEGIN:"):
            depth += 1
        elif upper.startswith(b"END:"):
            depth -= 1
        out.append(line)
    if current is not None or insert_at is None:
        return data
    moved = [line for block in reversed(blocks) for line in block]
    return b"".join(out[:insert_at] + moved + out[insert_at:])


def test_reverse_vevents_really_reverses() -> None:
    data = (FIXTURES / "broken_component.ics").read_bytes()
    flipped = reverse_vevents(data)
    assert flipped != data
    assert reverse_vevents(flipped) == data
    uids = [line for line in flipped.splitlines() if line.startswith(b"UID:")]
    assert uids[0] == b"UID:good-after@calsync.test"
    assert uids[-1] == b"UID:good-before@calsync.test"


@pytest.fixture(params=["as-written", "reversed"])
def read(request: pytest.FixtureRequest) -> Callable[..., tuple[list[Event], list[str]]]:
    """Parse a named fixture, with its VEVENTs as written or reversed."""

    def _read(
        name: str, zone: ZoneInfo = BERLIN, window: Window = WINDOW
    ) -> tuple[list[Event], list[str]]:
        data = (FIXTURES / name).read_bytes()
        if request.param == "reversed":
            data = reverse_vevents(data)
        return parse_calendar(data, name, window, zone)

    return _read


def occurrences(events: list[Event], uid: str | None = None) -> list[Event]:
    found = [e for e in events if e.is_occurrence and (uid is None or e.uid == uid)]
    return sorted(found, key=lambda e: e.original_start or e.start)


def masters(events: list[Event]) -> list[Event]:
    return [e for e in events if e.is_series]


def by_original(events: list[Event]) -> dict[datetime, Event]:
    return {e.original_start: e for e in occurrences(events) if e.original_start}


def both_orders_agree(name: str, zone: ZoneInfo = BERLIN) -> None:
    data = (FIXTURES / name).read_bytes()
    events, warnings = parse_calendar(data, name, WINDOW, zone)
    events2, warnings2 = parse_calendar(reverse_vevents(data), name, WINDOW, zone)
    assert events == events2
    assert sorted(warnings) == sorted(warnings2)


# truncated.ics is not a whole calendar: there is no order to reverse.
WHOLE_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.ics") if p.name != "truncated.ics")


@pytest.mark.parametrize("name", WHOLE_FIXTURES)
def test_each_fixture_gives_the_same_result_in_reverse_order(name: str) -> None:
    both_orders_agree(name, NEW_YORK if name == "all_day.ics" else BERLIN)


# -- recurring series and their exceptions ---------------------------------------


def test_exdate_is_a_cancelled_occurrence_not_an_absence(read) -> None:
    events, warnings = read("weekly_exdate.ics")
    assert warnings == []
    (master,) = masters(events)
    assert master.recurrence == (
        "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO",
        "EXDATE;TZID=Europe/Berlin:20261019T090000",
    )
    assert master.start == utc(2026, 10, 5, 7) and master.end == utc(2026, 10, 5, 7, 30)
    assert master.timezone == "Europe/Berlin"
    assert master.original_start is None
    rows = occurrences(events)
    assert [e.original_start for e in rows] == [
        utc(2026, 10, 5, 7),
        utc(2026, 10, 12, 7),
        utc(2026, 10, 19, 7),
        utc(2026, 10, 26, 8),  # 09:00 in Berlin after the change to winter time
        utc(2026, 11, 2, 8),
        utc(2026, 11, 9, 8),
    ]
    cancelled = [e for e in rows if e.status is EventStatus.CANCELLED]
    assert len(cancelled) == 1
    (gone,) = cancelled
    assert gone.start == gone.original_start == utc(2026, 10, 19, 7)
    assert gone.end == utc(2026, 10, 19, 7, 30)
    assert gone.uid == "weekly-exdate@calsync.test"
    assert gone.key == "weekly-exdate@calsync.test#20261019T070000Z"
    assert all(e.status is EventStatus.CONFIRMED for e in rows if e is not gone)
    assert all(e.title == "Maria / Dev 1:1" for e in rows)


def test_cancelled_override_is_a_cancelled_occurrence(read) -> None:
    events, _ = read("cancelled_override.ics")
    rows = by_original(events)
    assert len(rows) == 4
    assert rows[utc(2026, 10, 12, 7)].status is EventStatus.CANCELLED
    assert rows[utc(2026, 10, 12, 7)].start == utc(2026, 10, 12, 7)
    assert [e.status for e in rows.values()].count(EventStatus.CANCELLED) == 1


def test_moved_override_keeps_its_original_start(read) -> None:
    events, _ = read("moved_override.ics")
    rows = by_original(events)
    assert len(rows) == 4
    moved = rows[utc(2026, 10, 12, 7)]
    assert moved.start == utc(2026, 10, 13, 12)
    assert moved.end == utc(2026, 10, 13, 12, 30)
    assert moved.title == "Maria / Dev 1:1 (moved)"
    assert moved.status is EventStatus.CONFIRMED
    assert rows[utc(2026, 10, 5, 7)].start == utc(2026, 10, 5, 7)


def test_shortened_override(read) -> None:
    events, _ = read("shortened_override.ics")
    rows = by_original(events)
    short = rows[utc(2026, 10, 12, 7)]
    assert short.start == utc(2026, 10, 12, 7)
    assert short.duration == timedelta(minutes=15)
    others = [e.duration for t, e in rows.items() if t != utc(2026, 10, 12, 7)]
    assert others == [timedelta(minutes=30)] * 3


def test_declined_on_an_override_only_affects_that_occurrence(read) -> None:
    events, _ = read("declined_override.ics")
    rows = by_original(events)
    assert rows[utc(2026, 10, 12, 7)].response_of("dev@example.com") is Response.DECLINED
    assert rows[utc(2026, 10, 5, 7)].response_of("dev@example.com") is Response.ACCEPTED
    assert rows[utc(2026, 10, 19, 7)].response_of("dev@example.com") is Response.ACCEPTED
    (master,) = masters(events)
    assert master.response_of("dev@example.com") is Response.ACCEPTED


def test_declined_on_the_master_applies_where_no_override_says_otherwise(read) -> None:
    events, _ = read("declined_master.ics")
    rows = by_original(events)
    assert rows[utc(2026, 10, 5, 7)].response_of("dev@example.com") is Response.DECLINED
    assert rows[utc(2026, 10, 12, 7)].response_of("dev@example.com") is Response.ACCEPTED
    assert rows[utc(2026, 10, 19, 7)].response_of("dev@example.com") is Response.DECLINED
    (master,) = masters(events)
    assert master.response_of("dev@example.com") is Response.DECLINED


def test_thisandfuture_moves_later_occurrences_but_keeps_their_rule_times(read) -> None:
    events, _ = read("thisandfuture.ics")
    rows = occurrences(events)
    assert [(e.original_start, e.start, e.duration) for e in rows] == [
        (utc(2026, 10, 5, 7), utc(2026, 10, 5, 7), timedelta(minutes=30)),
        (utc(2026, 10, 12, 7), utc(2026, 10, 12, 7), timedelta(minutes=30)),
        (utc(2026, 10, 19, 7), utc(2026, 10, 19, 13), timedelta(minutes=45)),
        (utc(2026, 10, 26, 8), utc(2026, 10, 26, 14), timedelta(minutes=45)),
        (utc(2026, 11, 2, 8), utc(2026, 11, 2, 14), timedelta(minutes=45)),
        (utc(2026, 11, 9, 8), utc(2026, 11, 9, 14), timedelta(minutes=45)),
    ]
    assert [e.title for e in rows[2:]] == ["Maria / Dev 1:1 (afternoons)"] * 4


def test_google_split_series_are_two_series(read) -> None:
    events, warnings = read("google_split.ics")
    assert warnings == []
    old, new = "abc123@google.com", "abc123_R20261026T080000@google.com"
    assert {m.uid for m in masters(events)} == {old, new}
    assert [e.start for e in occurrences(events, old)] == [
        utc(2026, 10, 5, 7),
        utc(2026, 10, 12, 7),
        utc(2026, 10, 19, 7),
    ]
    assert [e.start for e in occurrences(events, new)] == [
        utc(2026, 10, 26, 9),
        utc(2026, 11, 2, 9),
        utc(2026, 11, 9, 9),
    ]


def test_cancelled_master_cancels_every_occurrence(read) -> None:
    events, _ = read("cancelled_master.ics")
    rows = occurrences(events)
    assert len(rows) == 3
    assert {e.status for e in rows} == {EventStatus.CANCELLED}
    assert masters(events)[0].status is EventStatus.CANCELLED
    moved = by_original(events)[utc(2026, 10, 12, 7)]
    assert moved.start == utc(2026, 10, 12, 8)


def test_only_occurrences_overlapping_the_window_are_returned(read) -> None:
    window = Window(utc(2026, 10, 12, 7, 15), utc(2026, 10, 19, 7))
    events, _ = read("weekly_exdate.ics", window=window)
    rows = occurrences(events)
    assert [e.original_start for e in rows] == [utc(2026, 10, 12, 7)]
    assert len(masters(events)) == 1
    nothing, _ = read("weekly_exdate.ics", window=Window(utc(2027, 1, 1), utc(2027, 2, 1)))
    assert nothing == []


# -- properties -------------------------------------------------------------------


def test_properties_map_to_the_neutral_event(read) -> None:
    events, warnings = read("properties.ics")
    assert warnings == []
    (event,) = events
    assert event.title == "Maria / Dev 1:1, with agenda"
    assert event.description == "Agenda:\n- growth\n- feedback"
    assert event.status is EventStatus.TENTATIVE
    assert event.transparent is True
    assert event.organizer == "maria@example.com"
    assert {a.email: a.response for a in event.attendees} == {
        "maria@example.com": Response.ACCEPTED,
        "dev@example.com": Response.TENTATIVE,
        "lead@example.com": Response.DECLINED,  # DELEGATED: not coming
        "skip@example.com": Response.DECLINED,
        "silent@example.com": Response.NEEDS_ACTION,
        "asked@example.com": Response.NEEDS_ACTION,
    }
    assert dict(event.tags) == {
        "key": "maria@example.com|dev@example.com|20261019T070000Z|rebook",
        "agenda": "https://docs.example.com/d/1on1",
    }
    assert event.original_start is None and event.recurrence == ()
    assert event.timezone == "UTC"


def test_missing_uid_is_made_up_stably_and_warned(read) -> None:
    events, warnings = read("missing_uid.ics")
    again, _ = read("missing_uid.ics")
    assert len(events) == 2
    assert [e.uid for e in events] == [e.uid for e in again]
    assert len({e.uid for e in events}) == 2
    assert all(e.uid.startswith("calsync-") for e in events)
    assert any("missing_uid.ics" in w and "has no UID" in w for w in warnings)


# -- times and zones ----------------------------------------------------------------


def test_all_day_events_are_local_midnight_in_the_owners_zone(read) -> None:
    events, _ = read("all_day.ics", zone=NEW_YORK)
    single = next(e for e in events if e.uid == "all-day-single@calsync.test")
    assert single.all_day is True
    assert single.start == utc(2026, 11, 2, 5)  # EST after 2026-11-01
    assert single.end == utc(2026, 11, 3, 5)
    assert single.transparent is True
    assert single.timezone is None
    rows = occurrences(events, "all-day-series@calsync.test")
    assert [(e.start, e.status) for e in rows] == [
        (utc(2026, 10, 26, 4), EventStatus.CONFIRMED),  # EDT
        (utc(2026, 11, 2, 5), EventStatus.CANCELLED),  # EXDATE;VALUE=DATE
        (utc(2026, 11, 9, 5), EventStatus.CONFIRMED),
    ]
    assert all(e.all_day for e in rows)
    assert rows[1].end == utc(2026, 11, 3, 5)


def test_floating_times_are_read_in_the_owners_zone(read) -> None:
    events, _ = read("floating.ics")
    single = next(e for e in events if e.uid == "floating-single@calsync.test")
    assert single.start == utc(2026, 10, 20, 7)
    assert single.timezone == "Europe/Berlin"
    rows = occurrences(events, "floating-series@calsync.test")
    # 09:00 wall time on both sides of the DST change; the floating UNTIL is inclusive.
    assert [e.start for e in rows] == [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]
    in_new_york, _ = read("floating.ics", zone=NEW_YORK)
    single = next(e for e in in_new_york if e.uid == "floating-single@calsync.test")
    assert single.start == utc(2026, 10, 20, 13)
    rows = occurrences(in_new_york, "floating-series@calsync.test")
    assert [e.start for e in rows] == [utc(2026, 10, 19, 13), utc(2026, 10, 26, 13)]


def test_windows_zone_name_follows_dst(read) -> None:
    events, warnings = read("windows_tzid.ics")
    assert warnings == []
    (master,) = masters(events)
    assert master.timezone == "Europe/Berlin"
    # 09:00 W. Europe: 07:00Z in summer time (UTC+2), 08:00Z after 2026-10-25 (UTC+1).
    assert [e.start for e in occurrences(events)] == [
        utc(2026, 10, 19, 7),
        utc(2026, 10, 26, 8),
        utc(2026, 11, 2, 8),
    ]
    assert {e.timezone for e in occurrences(events)} == {"Europe/Berlin"}


def test_outlook_vtimezone_blocks_with_windows_names(read) -> None:
    events, warnings = read("outlook_vtimezone.ics")
    assert warnings == []
    (master,) = masters(events)
    assert master.timezone == "America/New_York"
    assert [e.start for e in occurrences(events)] == [
        utc(2026, 10, 26, 13),  # EDT, UTC-4
        utc(2026, 11, 2, 14),  # EST, UTC-5
        utc(2026, 11, 9, 14),
    ]
    india = next(e for e in events if e.title == "Sync with Bangalore")
    assert india.start == utc(2026, 11, 3, 4, 30)
    assert india.timezone in ("Asia/Calcutta", "Asia/Kolkata")


def test_outlook_custom_vtimezone_with_its_own_dst_rules(read) -> None:
    events, warnings = read("outlook_custom_dst.ics")
    assert warnings == []
    (master,) = masters(events)
    assert master.timezone is None  # a display name, not a zone id: no IANA name to give
    assert master.recurrence[1] == "EXDATE:20261109T140000Z"
    rows = occurrences(events)
    assert [(e.start, e.status) for e in rows] == [
        (utc(2026, 10, 26, 13), EventStatus.CONFIRMED),  # UTC-4 by the block's DAYLIGHT rule
        (utc(2026, 11, 2, 14), EventStatus.CONFIRMED),  # UTC-5 from the first Sunday of November
        (utc(2026, 11, 9, 14), EventStatus.CANCELLED),
    ]


def test_custom_vtimezone_is_read_from_its_own_file() -> None:
    # Both files call their zone "Customized Time Zone" (as Outlook does) with
    # different offsets: icalendar caches the first definition process-wide.
    east, _ = parse_calendar(
        (FIXTURES / "custom_vtimezone.ics").read_bytes(), "east.ics", WINDOW, BERLIN
    )
    west, _ = parse_calendar(
        (FIXTURES / "custom_vtimezone_other.ics").read_bytes(), "west.ics", WINDOW, BERLIN
    )
    east_again, _ = parse_calendar(
        (FIXTURES / "custom_vtimezone.ics").read_bytes(), "east.ics", WINDOW, BERLIN
    )
    assert east[0].start == utc(2026, 10, 19, 6)
    assert west[0].start == utc(2026, 10, 19, 14)
    assert east_again[0].start == utc(2026, 10, 19, 6)
    assert east[0].timezone is None  # no IANA name for a custom definition


def test_x_wr_timezone_calendar(read) -> None:
    events, warnings = read("x_wr_timezone.ics")
    assert warnings == []
    (master,) = masters(events)
    assert master.timezone == "America/New_York"
    # 13:00Z is 09:00 in New York; the series keeps 09:00 local after 2026-11-01.
    assert [e.start for e in occurrences(events)] == [
        utc(2026, 10, 26, 13),
        utc(2026, 11, 2, 14),
        utc(2026, 11, 9, 14),
    ]
    floating = next(e for e in events if e.uid == "xwr-floating@google.com")
    assert floating.start == utc(2026, 11, 3, 15)  # the calendar's zone, not the owner's


def test_unknown_tzid_is_read_in_the_owners_zone_with_a_warning(read) -> None:
    events, warnings = read("unknown_tzid.ics")
    assert events[0].start == utc(2026, 10, 19, 7)
    assert any("Mars/Olympus_Mons" in w and "unknown_tzid.ics" in w for w in warnings)


# -- broken input --------------------------------------------------------------------


def test_broken_components_are_skipped_with_a_warning_and_the_rest_is_read(read) -> None:
    events, warnings = read("broken_component.ics")
    assert sorted(e.uid for e in events) == ["good-after@calsync.test", "good-before@calsync.test"]
    for uid, reason in [
        ("bad-dtstart@calsync.test", "DTSTART is not a date or time"),
        ("no-dtstart@calsync.test", "DTSTART is missing"),
        ("ends-before-start@calsync.test", "before it starts"),
        ("bad-rrule@calsync.test", "RRULE"),
        ("runaway-rrule@calsync.test", "RRULE"),
        ("bad-duration@calsync.test", "DURATION"),
    ]:
        matching = [w for w in warnings if f"UID {uid}" in w]
        assert matching, f"no warning for {uid}: {warnings}"
        assert matching[0].startswith("broken_component.ics: event UID ")
        assert "skipped" in matching[0] and reason in matching[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ((FIXTURES / "not_ics.html").read_bytes(), "not an iCalendar file"),
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"BEGIN:VCARD\nVERSION:3.0\nFN:Maria\nEND:VCARD\n", "no VCALENDAR"),
        ((FIXTURES / "truncated.ics").read_bytes(), "END:VCALENDAR is missing"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an iCalendar file"),
    ],
)
def test_not_icalendar_raises_provider_error(data: bytes, expected: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_calendar(data, "maria.ics", WINDOW, BERLIN)
    assert caught.value.calendar == "maria.ics"
    assert expected in str(caught.value)
    assert str(caught.value).startswith("maria.ics: ")


def test_several_files_merge_by_uid() -> None:
    folder = FIXTURES / "folder"
    files = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.ics"))]
    events, warnings = parse_calendars(files, WINDOW, BERLIN)
    assert warnings == []
    rows = by_original(events)
    assert rows[utc(2026, 10, 12, 7)].status is EventStatus.CANCELLED
    assert len(rows) == 3
    assert {e.uid for e in events} == {"folder-series@calsync.test", "folder-single@calsync.test"}
    reversed_files, _ = parse_calendars(list(reversed(files)), WINDOW, BERLIN)
    assert reversed_files == events


# -- the library's own test calendars ------------------------------------------------


def _library_calendars() -> list[Path]:
    roots = [
        Path(icalendar.__file__).parent / "tests",
        Path(recurring_ical_events.__file__).parent / "test",
    ]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.ics"))


LIBRARY_CALENDARS = _library_calendars()
WIDE = Window(utc(1990, 1, 1), utc(2040, 1, 1))


def test_library_calendars_were_found() -> None:
    assert len(LIBRARY_CALENDARS) > 100


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "path",
    LIBRARY_CALENDARS,
    ids=[f"{p.parent.parent.name}/{p.parent.name}/{p.name}" for p in LIBRARY_CALENDARS],
)
def test_library_calendar_never_lets_an_exception_escape(path: Path) -> None:
    started = time.monotonic()
    try:
        events, warnings = parse_calendar(path.read_bytes(), path.name, WIDE, BERLIN)
    except ProviderError as exc:
        assert str(exc).startswith(f"{path.name}: ")
        return
    assert time.monotonic() - started < 15
    assert all(isinstance(w, str) and w.startswith(f"{path.name}: ") for w in warnings)
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys))
    for event in events:
        assert event.start.tzinfo is UTC and event.end.tzinfo is UTC
        assert event.end >= event.start
        if not event.is_series:
            assert WIDE.overlaps(event.start, event.end) or WIDE.contains(event.start)


# -- the reader: files and folders -----------------------------------------------------

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


def make_reader(path: str, zone: ZoneInfo = BERLIN, base_dir: Path = FIXTURES) -> IcsReader:
    settings = IcsProvider(kind="ics", path=path, past_days=60, future_days=90, timeout=5)
    return IcsReader("feeds", settings, base_dir, lambda calendar: zone)


def test_reader_is_a_calendar_reader() -> None:
    assert isinstance(make_reader("."), CalendarReader)
    assert make_reader(".").name == "feeds"


def test_reader_reads_a_file_relative_to_the_config_folder() -> None:
    reader = make_reader("ics", base_dir=FIXTURES.parent)
    changes = reader.fetch_changes("weekly_exdate.ics", None, NOW)
    assert changes.full is True and changes.unchanged is False
    assert changes.window == Window(NOW - timedelta(days=60), NOW + timedelta(days=90))
    assert len(occurrences(list(changes.events))) == 6
    assert changes.cursor is not None
    assert json.loads(changes.cursor)["sha256"]


def test_reader_unchanged_on_the_same_day_full_again_on_the_next() -> None:
    reader = make_reader(str(FIXTURES))
    first = reader.fetch_changes("weekly_exdate.ics", None, NOW)
    again = reader.fetch_changes("weekly_exdate.ics", first.cursor, NOW + timedelta(hours=3))
    assert again.unchanged is True and again.events == ()
    assert again.cursor == first.cursor
    tomorrow = reader.fetch_changes("weekly_exdate.ics", first.cursor, NOW + timedelta(days=1))
    assert tomorrow.unchanged is False and tomorrow.full is True
    garbage = reader.fetch_changes("weekly_exdate.ics", "not a cursor", NOW)
    assert garbage.full is True


def test_reader_reads_every_ics_file_of_a_folder(tmp_path: Path) -> None:
    reader = make_reader(str(FIXTURES))
    changes = reader.fetch_changes("folder", None, NOW)
    assert changes.warnings == ()
    assert {e.uid for e in changes.events} == {
        "folder-series@calsync.test",
        "folder-single@calsync.test",
    }
    cancelled = [e for e in changes.events if e.status is EventStatus.CANCELLED]
    assert [e.original_start for e in cancelled] == [utc(2026, 10, 12, 7)]
    # A change to any file of the folder is a change of the calendar.
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (FIXTURES / "folder").glob("*.ics"):
        (copy / path.name).write_bytes(path.read_bytes())
    reader = make_reader(str(tmp_path))
    first = reader.fetch_changes("copy", None, NOW)
    assert reader.fetch_changes("copy", first.cursor, NOW).unchanged is True
    (copy / "single.ics").write_bytes((FIXTURES / "properties.ics").read_bytes())
    changed = reader.fetch_changes("copy", first.cursor, NOW)
    assert changed.unchanged is False
    assert "properties@calsync.test" in {e.uid for e in changed.events}


def test_reader_empty_folder_is_empty_with_a_warning(tmp_path: Path) -> None:
    reader = make_reader(str(tmp_path))
    changes = reader.fetch_changes("", None, NOW)
    assert changes.full is True and changes.events == ()
    assert changes.warnings == (f"{tmp_path}: the folder has no .ics files",)
    assert "no .ics files" in (reader.probe("") or "")


def test_reader_folder_with_a_non_icalendar_file_fails_whole(tmp_path: Path) -> None:
    (tmp_path / "good.ics").write_bytes((FIXTURES / "properties.ics").read_bytes())
    (tmp_path / "bad.ics").write_bytes((FIXTURES / "not_ics.html").read_bytes())
    with pytest.raises(ProviderError) as caught:
        make_reader(str(tmp_path)).fetch_changes("", None, NOW)
    assert "bad.ics" in str(caught.value)


def test_reader_warnings_name_the_file() -> None:
    changes = make_reader(str(FIXTURES)).fetch_changes("broken_component.ics", None, NOW)
    assert any(
        w.startswith(f"{FIXTURES / 'broken_component.ics'}: event UID bad-dtstart@calsync.test")
        for w in changes.warnings
    )
    assert len(changes.events) == 2


def test_reader_missing_file_is_a_provider_error_naming_it() -> None:
    reader = make_reader(str(FIXTURES))
    with pytest.raises(ProviderError) as caught:
        reader.fetch_changes("nobody.ics", None, NOW)
    assert "nobody.ics" in str(caught.value) and "no such file" in str(caught.value)
    assert reader.probe("nobody.ics") is not None
    assert reader.probe("weekly_exdate.ics") is None
    assert reader.probe("folder") is None
    assert "not an iCalendar" in (reader.probe("not_ics.html") or "")


def test_reader_not_icalendar_file_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        make_reader(str(FIXTURES)).fetch_changes("not_ics.html", None, NOW)
    assert "not_ics.html" in caught.value.calendar


def test_reader_uses_the_owners_zone() -> None:
    zones = {"ny.ics": NEW_YORK}
    settings = IcsProvider(kind="ics", path=str(FIXTURES), past_days=60, future_days=90)
    seen: list[str] = []

    def zone_of(calendar: str) -> ZoneInfo:
        seen.append(calendar)
        return zones.get(calendar, BERLIN)

    reader = IcsReader("feeds", settings, FIXTURES, zone_of)
    changes = reader.fetch_changes("floating.ics", None, NOW)
    single = next(e for e in changes.events if e.uid == "floating-single@calsync.test")
    assert single.start == utc(2026, 10, 20, 7)
    assert seen == ["floating.ics"]


# -- the reader: http(s) feeds ------------------------------------------------------------


class _Feed(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    requests: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        self.requests.append((self.path, dict(self.headers)))
        status, headers, body = self.routes.get(self.path, (404, {}, b"no such feed"))
        etag = headers.get("ETag")
        if etag and self.headers.get("If-None-Match") == etag:
            status, body = 304, b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a loopback port in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def feed() -> Iterator[tuple[str, type[_Feed]]]:
    """A loopback http server; set ``routes`` on the handler class it yields."""
    handler = type("Feed", (_Feed,), {"routes": {}, "requests": []})
    with serve(handler) as base:
        yield base, handler


ICS = "text/calendar; charset=utf-8"


def test_http_feed_with_etag_then_304(feed) -> None:
    base, handler = feed
    body = (FIXTURES / "weekly_exdate.ics").read_bytes()
    handler.routes["/cal/maria.ics"] = (200, {"Content-Type": ICS, "ETag": '"v1"'}, body)
    reader = make_reader(base + "/cal")
    first = reader.fetch_changes("maria.ics", None, NOW)
    assert first.full is True and len(occurrences(list(first.events))) == 6
    assert json.loads(first.cursor or "{}")["etag"] == '"v1"'
    again = reader.fetch_changes("maria.ics", first.cursor, NOW + timedelta(hours=1))
    assert again.unchanged is True and again.cursor == first.cursor
    assert handler.requests[-1][1].get("If-None-Match") == '"v1"'
    assert "If-None-Match" not in handler.requests[0][1]
    # The next day: no conditional request, a full snapshot over the moved window.
    tomorrow = reader.fetch_changes("maria.ics", first.cursor, NOW + timedelta(days=1))
    assert tomorrow.full is True
    assert "If-None-Match" not in handler.requests[-1][1]


def test_http_feed_without_validators_is_unchanged_by_content_hash(feed) -> None:
    base, handler = feed
    body = (FIXTURES / "properties.ics").read_bytes()
    handler.routes["/feed.ics"] = (200, {"Content-Type": ICS}, body)
    reader = make_reader(str(FIXTURES))
    first = reader.fetch_changes(base + "/feed.ics", None, NOW)
    assert len(first.events) == 1
    assert reader.fetch_changes(base + "/feed.ics", first.cursor, NOW).unchanged is True
    handler.routes["/feed.ics"] = (200, {"Content-Type": ICS}, body.replace(b"agenda", b"notes"))
    changed = reader.fetch_changes(base + "/feed.ics", first.cursor, NOW)
    assert changed.full is True and changed.events[0].title.endswith("with notes")


def test_http_feed_follows_redirects_and_webcal_is_https(feed) -> None:
    base, handler = feed
    body = (FIXTURES / "properties.ics").read_bytes()
    handler.routes["/old"] = (302, {"Location": base + "/new.ics"}, b"")
    handler.routes["/new.ics"] = (200, {"Content-Type": ICS}, body)
    changes = make_reader(str(FIXTURES)).fetch_changes(base + "/old", None, NOW)
    assert [e.uid for e in changes.events] == ["properties@calsync.test"]
    assert make_reader(".").location("webcal://calendar.example.com/x.ics") == (
        "https://calendar.example.com/x.ics"
    )


@pytest.mark.parametrize(
    ("status", "expected"), [(404, "not found"), (500, "HTTP 500"), (403, "access denied")]
)
def test_http_error_status_is_a_provider_error(feed, status: int, expected: str) -> None:
    base, handler = feed
    handler.routes["/feed.ics"] = (status, {}, b"nope")
    reader = make_reader(str(FIXTURES))
    with pytest.raises(ProviderError) as caught:
        reader.fetch_changes(base + "/feed.ics", None, NOW)
    assert expected in str(caught.value)
    assert caught.value.calendar == base + "/…"
    assert expected in (reader.probe(base + "/feed.ics") or "")


def test_http_html_login_page_is_a_provider_error(feed) -> None:
    base, handler = feed
    handler.routes["/feed.ics"] = (200, {"Content-Type": "text/html"}, b"<html>sign in</html>")
    with pytest.raises(ProviderError, match="not an iCalendar file"):
        make_reader(str(FIXTURES)).fetch_changes(base + "/feed.ics", None, NOW)


SECRET_PATH = "/calendar/ical/maria%40example.com/private-5ecret7oken/basic.ics"
SECRET_QUERY = "?key=TOPSECRETKEY"


def test_secret_url_is_never_in_errors_or_warnings(feed) -> None:
    base, handler = feed
    secret = base + SECRET_PATH + SECRET_QUERY
    reader = make_reader(str(FIXTURES))
    for_errors: list[str] = []
    # An error status from the server.
    with pytest.raises(ProviderError) as caught:
        reader.fetch_changes(secret, None, NOW)
    for_errors += [str(caught.value), caught.value.calendar, repr(caught.value)]
    for_errors.append(reader.probe(secret) or "")
    # A server that is not there at all.
    closed = "http://127.0.0.1:9" + SECRET_PATH + SECRET_QUERY
    with pytest.raises(ProviderError) as caught:
        reader.fetch_changes(closed, None, NOW)
    for_errors += [str(caught.value), caught.value.calendar]
    assert caught.value.__suppress_context__ is True
    # A URL that cannot even be parsed.
    with pytest.raises(ProviderError) as caught:
        reader.fetch_changes("http://[::1" + SECRET_PATH + SECRET_QUERY, None, NOW)
    for_errors += [str(caught.value), caught.value.calendar]
    # Warnings about a served calendar name the feed by host only.
    handler.routes[SECRET_PATH + SECRET_QUERY] = (
        200,
        {"Content-Type": ICS},
        (FIXTURES / "broken_component.ics").read_bytes(),
    )
    changes = reader.fetch_changes(secret, None, NOW)
    assert changes.warnings
    for_errors += list(changes.warnings)
    # The path base of the provider is secret too.
    provider_secret = make_reader(base + "/calendar/ical/private-5ecret7oken")
    with pytest.raises(ProviderError) as caught:
        provider_secret.fetch_changes("basic.ics", None, NOW)
    for_errors.append(str(caught.value))
    for text in for_errors:
        assert "5ecret7oken" not in text
        assert "TOPSECRETKEY" not in text
        assert "maria%40example.com" not in text
    assert redact_url(secret) == base + "/…"


def test_http_timeout_is_a_provider_error() -> None:
    release = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    settings = IcsProvider(kind="ics", path=".", timeout=0.3)
    reader = IcsReader("feeds", settings, FIXTURES, lambda calendar: BERLIN)
    with serve(Slow) as base:
        try:
            with pytest.raises(ProviderError, match=r"timed out after 0\.3 s"):
                reader.fetch_changes(base + "/feed.ics", None, NOW)
        finally:
            release.set()
            reader.close()
