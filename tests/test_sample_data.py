"""The demo calendars and the benchmark team: generated, deterministic, and telling their story."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar, Event

from bench.generate_team import write_big_team
from calsync.config import load_settings
from calsync.demo.builder import Meeting, Person, Timeline, Writer, windows_zone_name
from calsync.demo.sample import CALENDARS, DEMO_NOW, PEOPLE, write_sample_team
from tests.support import ROOT

MARIA = "maria@example.com"

# Each report's 1:1 title, as the story tells it (Kenji has none).
TITLES = {
    "dev": "Maria / Dev 1:1",
    "lena": "1:1 Maria <> Lena",
    "sam": "Sam <> Maria 1-1",
    "priya": "Maria/Priya one-on-one",
    "tom": "1on1 Tom + Maria",
    "ana": "Maria & Ana 1:1",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_sample_team(folder, DEMO_NOW)
    return folder


@pytest.fixture(scope="module")
def calendars(generated: Path) -> dict[str, Calendar]:
    return {path.stem: Calendar.from_ical(path.read_bytes()) for path in generated.glob("*.ics")}


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.ics"))}


def _emails(event: Event) -> set[str]:
    people = {str(a).removeprefix("mailto:") for a in event.attendees}
    if event.get("organizer"):
        people.add(str(event["organizer"]).removeprefix("mailto:"))
    return people


def _partstat(event: Event, email: str) -> str | None:
    for attendee in event.attendees:
        if str(attendee).removeprefix("mailto:") == email:
            return attendee.params.get("PARTSTAT")
    return None


def _series(cal: Calendar, title: str) -> list[Event]:
    return [e for e in cal.events if str(e.get("summary")) == title and "RECURRENCE-ID" not in e]


def _occurrences(cal: Calendar, title: str) -> dict[datetime, Event]:
    """Occurrences of a title from a year back to two months ahead, by original start (UTC)."""
    found = {}
    window = (DEMO_NOW - timedelta(days=366), DEMO_NOW + timedelta(days=60))
    for event in recurring_ical_events.of(cal).between(*window):
        if str(event.get("summary")) == title:
            original = event.get("recurrence-id")
            start = original.dt if original else event.start
            found[start.astimezone(UTC)] = event
    return found


# -- the generator ------------------------------------------------------------------


def test_generation_is_deterministic(generated: Path, tmp_path: Path) -> None:
    write_sample_team(tmp_path, DEMO_NOW)
    assert _files(tmp_path) == _files(generated)


def test_committed_calendars_are_the_generators_output(generated: Path) -> None:
    committed, fresh = _files(CALENDARS), _files(generated)
    assert sorted(committed) == sorted(fresh), "regenerate: python -m calsync.demo.sample"
    for name in fresh:
        assert committed[name] == fresh[name], (
            f"calsync/demo/calendars/{name} differs from the generator's output: edit "
            "calsync/demo/sample.py and run: python -m calsync.demo.sample calsync/demo/calendars"
        )


def test_dtstamp_is_now_so_the_bytes_do_not_depend_on_the_clock(
    calendars: dict[str, Calendar],
) -> None:
    stamps = {e.decoded("dtstamp") for cal in calendars.values() for e in cal.events}
    assert stamps == {DEMO_NOW}


def test_every_file_parses_and_expands(calendars: dict[str, Calendar]) -> None:
    assert sorted(calendars) == sorted(person.key for person in PEOPLE)
    for name, cal in calendars.items():
        assert cal.events, name
        assert not cal.get_missing_tzids(), f"{name}: a TZID without its VTIMEZONE"
        window = (DEMO_NOW - timedelta(days=400), DEMO_NOW + timedelta(days=120))
        assert recurring_ical_events.of(cal).between(*window), name


def test_each_pair_series_is_in_both_files_with_the_same_uid(
    calendars: dict[str, Calendar],
) -> None:
    for report, title in TITLES.items():
        in_manager = {str(e.uid) for e in _series(calendars["maria"], title)}
        in_report = {str(e.uid) for e in _series(calendars[report], title)}
        assert in_manager, title
        assert in_manager == in_report, title
        email = f"{report}@example.com"
        for event in _series(calendars[report], title):
            assert _emails(event) == {MARIA, email}, title
            assert "RRULE" in event, title
        # Every occurrence, with its status and both responses, is the same in both copies.
        mine = _occurrences(calendars["maria"], title)
        theirs = _occurrences(calendars[report], title)
        assert mine.keys() == theirs.keys(), title
        for original, event in mine.items():
            other = theirs[original]
            assert (event.start, event.end) == (other.start, other.end), (title, original)
            assert event.get("status") == other.get("status"), (title, original)
            for who in (MARIA, email):
                assert _partstat(event, who) == _partstat(other, who), (title, original, who)


def test_kenji_has_no_one_on_one_series(calendars: dict[str, Calendar]) -> None:
    pair = {MARIA, "kenji@example.com"}
    for cal in (calendars["maria"], calendars["kenji"]):
        assert not [e for e in cal.events if "RRULE" in e and _emails(e) == pair]
    titles = {str(e["summary"]) for e in calendars["kenji"].events if MARIA in _emails(e)}
    assert titles == {"Intro chat", "APAC sync"}


# -- the story ----------------------------------------------------------------------


def _at(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(
        UTC
    )


def test_dev_all_held_one_moved_inside_its_week_and_the_coffee_is_no_1on1(
    calendars: dict[str, Calendar],
) -> None:
    occurrences = _occurrences(calendars["maria"], TITLES["dev"])
    moved = {o: e.start for o, e in occurrences.items() if e.start.astimezone(UTC) != o}
    original = _at(date(2026, 10, 20), 9, 0, "America/New_York")
    assert moved == {original: datetime(2026, 10, 22, 9, 0, tzinfo=ZoneInfo("America/New_York"))}
    assert all(e.get("status") == "CONFIRMED" for e in occurrences.values())
    (coffee,) = [e for e in calendars["maria"].events if str(e["summary"]).startswith("Coffee")]
    assert _emails(coffee) == {MARIA, "dev@example.com"}
    assert coffee["RRULE"]["INTERVAL"] == [4]


def test_lena_missed_three_of_the_last_four_in_three_ways(calendars: dict[str, Calendar]) -> None:
    for who in ("maria", "lena"):
        cal = calendars[who]
        occurrences = _occurrences(cal, TITLES["lena"])
        wednesdays = [date(2026, 10, 28) + timedelta(weeks=n) for n in range(4)]
        starts = [_at(day, 10, 0, "America/New_York") for day in wednesdays]
        held, deleted, cancelled, declined = starts
        assert occurrences[held].get("status") == "CONFIRMED"
        assert deleted not in occurrences  # the EXDATE
        assert occurrences[cancelled].get("status") == "CANCELLED"
        assert _partstat(occurrences[declined], "lena@example.com") == "DECLINED"
        earlier = _at(date(2026, 9, 23), 10, 0, "America/New_York")
        assert occurrences[earlier].get("status") == "CANCELLED"
        (master,) = _series(cal, TITLES["lena"])
        assert [d.astimezone(UTC) for d in master.exdates] == [deleted]


def test_sam_four_of_the_last_six_were_cut_to_fifteen_minutes(
    calendars: dict[str, Calendar],
) -> None:
    occurrences = _occurrences(calendars["sam"], TITLES["sam"])
    past = [e for o, e in sorted(occurrences.items()) if o < DEMO_NOW]
    lengths = [int((e.end - e.start).total_seconds() // 60) for e in past[-6:]]
    assert lengths == [30, 15, 15, 30, 15, 15]


def test_priya_series_ended_five_weeks_ago_with_nothing_after(
    calendars: dict[str, Calendar],
) -> None:
    (master,) = _series(calendars["priya"], TITLES["priya"])
    assert master["RRULE"]["UNTIL"] == [DEMO_NOW - timedelta(weeks=5)]
    occurrences = _occurrences(calendars["maria"], TITLES["priya"])
    assert max(occurrences) == _at(date(2026, 10, 12), 11, 0, "America/New_York")


def test_tom_outlook_file_gives_the_right_instants_across_the_aus_dst_change(
    generated: Path, calendars: dict[str, Calendar]
) -> None:
    text = (generated / "tom.ics").read_text()
    assert "TZID:AUS Eastern Standard Time" in text
    assert "Australia/Sydney" not in text
    tom = _occurrences(calendars["tom"], TITLES["tom"])
    # Read back through the Outlook VTIMEZONE: 07:00 AEST before 4 October, AEDT after.
    assert tom[datetime(2026, 9, 21, 21, 0, tzinfo=UTC)].start.utcoffset() == timedelta(hours=10)
    assert tom[datetime(2026, 10, 5, 20, 0, tzinfo=UTC)].start.utcoffset() == timedelta(hours=11)
    sydney = ZoneInfo("Australia/Sydney")
    for original, event in tom.items():
        local = original.astimezone(sydney)
        assert (local.weekday(), local.hour, local.minute) == (1, 7, 0), original
        assert event.start.astimezone(UTC) == event.start.replace(tzinfo=None).replace(
            tzinfo=sydney
        ).astimezone(UTC)
    # Maria's copy (IANA TZIDs) has the same instants.
    assert _occurrences(calendars["maria"], TITLES["tom"]).keys() == tom.keys()
    declined = [o for o, e in tom.items() if _partstat(e, MARIA) == "DECLINED"]
    assert declined == [_at(date(2026, 9, 8), 7, 0, "Australia/Sydney")]
    moved = {o: e.start - o for o, e in tom.items() if e.start != o}
    assert moved == {_at(date(2026, 10, 20), 7, 0, "Australia/Sydney"): timedelta(days=-11)}


def test_ana_series_was_split_google_style(calendars: dict[str, Calendar]) -> None:
    old, new = sorted(_series(calendars["ana"], TITLES["ana"]), key=lambda e: e.start)
    assert str(new.uid) == f"{old.uid}_R20260602T180000"
    assert old["RRULE"]["UNTIL"][0] < new.start
    hours = {e.start.astimezone(ZoneInfo("America/New_York")).hour for e in (old, new)}
    assert hours == {11, 14}
    occurrences = _occurrences(calendars["maria"], TITLES["ana"])
    assert len([o for o in occurrences if o < DEMO_NOW]) == 12


@pytest.mark.parametrize(
    "zone",
    ["Australia/Sydney", "Europe/Berlin", "America/New_York", "America/Sao_Paulo", "Asia/Kolkata"],
)
def test_outlook_style_timezones_read_back_like_zoneinfo(zone: str, tmp_path: Path) -> None:
    """Weekly series over a year, written with a Windows TZID, expand to zoneinfo's instants.

    Sundays just before and just after the night-time DST changes catch a wrong
    transition day or hour; times inside the gap or the overlap are ambiguous by
    nature and not tested.
    """
    person = Person("x", "x@example.com", "X", zone, outlook=True)
    meetings = [
        Meeting(uid=f"u{at.hour}", title=f"t{at.hour}", organizer="x", private=True,
                first=-52, day="SU", at=at, every=1)
        for at in (time(0, 30), time(4, 0))
    ]
    timeline = Timeline(now=DEMO_NOW, home=ZoneInfo("UTC"))
    (path,) = Writer([person], timeline).write(tmp_path, meetings)
    text = path.read_text()
    assert f"TZID:{windows_zone_name(zone)}" in text
    assert zone not in text
    occurrences = recurring_ical_events.of(Calendar.from_ical(text)).between(
        DEMO_NOW - timedelta(weeks=53), DEMO_NOW
    )
    assert len(occurrences) >= 2 * 52
    for event in occurrences:
        wall = event.start.replace(tzinfo=None)
        expected = wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        assert event.start.astimezone(UTC) == expected, wall


# -- the demo config ----------------------------------------------------------------


def test_demo_config_lists_the_sample_team() -> None:
    settings = load_settings(ROOT / "config" / "demo.toml")
    people = {(p.email, p.name, p.timezone, p.working_hours.text) for p in settings.people}
    assert people == {(p.email, p.name, p.timezone, p.working_hours) for p in PEOPLE}
    folder = settings.base_dir / settings.providers["feeds"].path
    assert folder.resolve() == CALENDARS.resolve()
    for person in settings.people:
        assert person.calendar is not None
        assert (folder / person.calendar).is_file(), person.calendar
    reports = {pair.report for pair in settings.pairs}
    assert reports == {p.email for p in PEOPLE} - {MARIA}
    assert {pair.manager for pair in settings.pairs} == {MARIA}


# -- the benchmark team -------------------------------------------------------------


def test_big_team_has_the_requested_pairs_each_in_both_files(tmp_path: Path) -> None:
    config = write_big_team(tmp_path, pairs=20, now=DEMO_NOW, seed=7)
    settings = load_settings(config)
    assert len(settings.pairs) == 20
    assert len(settings.people) == 20 + 3  # eight reports a manager
    folder = settings.base_dir / settings.providers["feeds"].path
    cals = {
        p.email: Calendar.from_ical((folder / p.calendar).read_bytes())
        for p in settings.people
        if p.calendar
    }
    kinds: set[str] = set()
    for pair in settings.pairs:
        both = {pair.manager, pair.report}
        uids = []
        for email in both:
            weekly = [
                e
                for e in cals[email].events
                if "RRULE" in e and _emails(e) == both and e["RRULE"].get("INTERVAL", [1]) == [1]
            ]
            assert len(weekly) == 1, (email, pair)
            uids.append(str(weekly[0].uid))
            start = weekly[0].start.astimezone(UTC)
            assert DEMO_NOW - timedelta(weeks=53) < start <= DEMO_NOW - timedelta(weeks=51)
        assert uids[0] == uids[1], pair
        copies = [e for e in cals[pair.report].events if e.uid == uids[0]]
        overrides = [e for e in copies if "RECURRENCE-ID" in e]
        kinds |= {str(e["status"]) for e in overrides}
        kinds |= {"DECLINED" for e in overrides if "DECLINED" in {_partstat(e, m) for m in both}}
        kinds |= {"EXDATE" for e in copies if e.exdates}
    assert {"CANCELLED", "DECLINED", "EXDATE"} <= kinds


def test_big_team_is_deterministic(tmp_path: Path) -> None:
    write_big_team(tmp_path / "a", pairs=10, now=DEMO_NOW, seed=3)
    write_big_team(tmp_path / "b", pairs=10, now=DEMO_NOW, seed=3)
    first, second = _files(tmp_path / "a" / "calendars"), _files(tmp_path / "b" / "calendars")
    assert first == second
    assert (tmp_path / "a" / "calsync.toml").read_text() == (
        tmp_path / "b" / "calsync.toml"
    ).read_text()
