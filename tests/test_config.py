"""Configuration: typed settings, and errors that name the file, the key and the problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from calsync.config import ConfigError, load_settings
from calsync.timeutil import Cadence, WorkingHours, parse_duration
from tests.support import ROOT

GOOD = """
database = "sqlite:///state/calsync.db"

[providers.feeds]
kind = "ics"
path = "calendars/"

[[people]]
email = "Maria@Example.com"
name = "Maria"
timezone = "America/New_York"
working_hours = "Mon-Fri 09:00-17:00"
provider = "feeds"
calendar = "maria.ics"

[[people]]
email = "dev@example.com"
timezone = "Asia/Kolkata"
provider = "feeds"

[[pairs]]
manager = "maria@example.com"
report = "dev@example.com"
cadence = "every 3 weeks"
duration = "45m"
min_duration = "20m"
rebook = "auto"

[policy]
cancellations = "3 of 5"
max_gap = 2.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    return str(info.value)


def test_good_config_is_typed(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    maria = settings.person("maria@example.com")
    assert maria.email == "maria@example.com"  # normalised
    assert settings.person("dev@example.com").display == "dev"
    pair = settings.pairs[0]
    assert pair.cadence == Cadence(weeks=3)
    assert pair.duration == timedelta(minutes=45)
    assert pair.rebook == "auto"
    assert pair.setup == "suggest"  # the default: propose a series, never create one unasked
    assert settings.database_url() == f"sqlite:///{tmp_path / 'state' / 'calsync.db'}"


def test_shipped_configs_are_valid():
    for name in ("calsync.example.toml", "demo.toml"):
        settings = load_settings(ROOT / "config" / name)
        assert settings.pairs


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("cadence = \"every 3 weeks\"", "cadence = \"fortnightly-ish\""),
         "pairs[0].cadence: 'fortnightly-ish' is not a cadence"),
        (("timezone = \"Asia/Kolkata\"", "timezone = \"India Time\""),
         "people[1].timezone: 'India Time' is not an IANA time zone"),
        (("rebook = \"auto\"", "rebook = \"sometimes\""), "pairs[0].rebook:"),
        (("rebook = \"auto\"", "rebook = \"auto\"\nsetup = \"always\""), "pairs[0].setup:"),
        (("min_duration = \"20m\"", "min_duration = \"1h\""),
         "pairs[0]: min_duration 1h is longer than duration 45m"),
        (("duration = \"45m\"", "duration = \"45 minutes please\""),
         "pairs[0].duration: '45 minutes please' is not a duration"),
        (("max_gap = 2.0", "max_gap = 0.5"), "policy.max_gap:"),
        (("cancellations = \"3 of 5\"", "cancellations = \"most\""),
         "policy.cancellations: 'most' is not of the form 'K of N'"),
        (("cancellations = \"3 of 5\"", "cancelations = \"3 of 5\""),
         "policy.cancelations: unknown key"),
        (("working_hours = \"Mon-Fri 09:00-17:00\"", "working_hours = \"weekdays\""),
         "people[0].working_hours: 'weekdays' is not working hours"),
        (("provider = \"feeds\"\ncalendar", "provider = \"gcal\"\ncalendar"),
         "people[0].provider: no provider named 'gcal' (known: feeds)"),
        (("report = \"dev@example.com\"", "report = \"kim@example.com\""),
         "pairs[0].report: kim@example.com is not listed under [[people]]"),
        (("kind = \"ics\"", "kind = \"exchange2003\""),
         "providers.feeds.kind: unknown provider kind 'exchange2003'"),
        (("kind = \"ics\"\n", ""), "providers.feeds: 'kind' is missing"),
        (("path = \"calendars/\"", "path = \"calendars/\"\ncolour = \"red\""),
         "providers.feeds.colour: unknown key"),
        (("email = \"dev@example.com\"", "email = \"maria@example.com\""),
         "people[1].email: maria@example.com is listed twice"),
    ],
)
def test_bad_values_name_file_key_and_problem(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    message = error_of(tmp_path, GOOD.replace(old, new, 1))
    assert message.startswith(str(tmp_path / "calsync.toml") + ": ")
    assert expected in message


def test_toml_syntax_error_names_the_line(tmp_path):
    message = error_of(tmp_path, GOOD.replace("[policy]", "[policy"))
    assert "not valid TOML" in message
    assert "line" in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml")


def test_several_problems_are_all_reported(tmp_path):
    text = GOOD.replace("\"every 3 weeks\"", "\"often\"").replace("max_gap = 2.0", "max_gap = 0")
    message = error_of(tmp_path, text)
    assert "pairs[0].cadence" in message
    assert "policy.max_gap" in message


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30m", 30), ("1h", 60), ("1h15m", 75), ("45min", 45), ("2H", 120), ("2d", 2880),
     ("1d12h", 2160)],
)
def test_durations(text, minutes):
    assert parse_duration(text) == timedelta(minutes=minutes)


def test_one_duration_grammar_for_pairs_and_the_daemon(tmp_path):
    """Durations are parsed once, into timedelta, with the same grammar everywhere."""
    text = GOOD.replace('duration = "45m"', 'duration = "1h30m"') + (
        '\n[daemon]\npoll_interval = "90s"\nrebook_lookback = "2d"\nbuffer = "0m"\n'
    )
    path = tmp_path / "calsync.toml"
    path.write_text(text)
    settings = load_settings(path)
    assert settings.pairs[0].duration == timedelta(hours=1, minutes=30)
    assert settings.daemon.poll_interval == timedelta(seconds=90)
    assert settings.daemon.rebook_lookback == timedelta(days=2)
    assert settings.daemon.buffer == timedelta(0)
    assert settings.policy.cancellations == (3, 5)


@pytest.mark.parametrize(
    ("rule", "cadence"),
    [
        ("RRULE:FREQ=WEEKLY;BYDAY=MO", Cadence(weeks=1)),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", Cadence(weeks=2)),
        ("RRULE:FREQ=MONTHLY;BYDAY=1TU", Cadence(monthly=True)),
        ("RRULE:FREQ=DAILY;INTERVAL=14", Cadence(weeks=2)),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE", None),
        ("RRULE:FREQ=DAILY", None),
        ("RRULE:FREQ=YEARLY", None),
    ],
)
def test_cadence_from_rrule(rule, cadence):
    assert Cadence.from_rrule(rule) == cadence


def test_working_hours_are_local_and_dst_correct():
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    hours = WorkingHours.parse("Mon-Thu 09:00-17:00, Fri 09:00-13:00")
    zone = ZoneInfo("Europe/Berlin")
    # Friday before and after the October DST change.
    assert hours.intervals(date(2026, 10, 23), zone) == [
        (datetime(2026, 10, 23, 7, tzinfo=UTC), datetime(2026, 10, 23, 11, tzinfo=UTC))
    ]
    assert hours.intervals(date(2026, 10, 30), zone) == [
        (datetime(2026, 10, 30, 8, tzinfo=UTC), datetime(2026, 10, 30, 12, tzinfo=UTC))
    ]
    assert hours.intervals(date(2026, 10, 25), zone) == []  # Sunday
    assert hours.contains(datetime(2026, 10, 26, 8, tzinfo=UTC),
                          datetime(2026, 10, 26, 9, tzinfo=UTC), zone)
    assert not hours.contains(datetime(2026, 10, 26, 7, 30, tzinfo=UTC),
                              datetime(2026, 10, 26, 8, 30, tzinfo=UTC), zone)
