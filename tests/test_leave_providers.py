"""Leave on every provider, end to end: ``calsync check`` and ``report`` on a real store.

One story, read from ICS files, the Google emulator and the Graph emulator:
Maria (New York) has a weekly 1:1 with Ana (Lisbon) on Mondays at 14:00 UTC.
Ana is away Mon 16 to Fri 27 Nov, and both 1:1s of those weeks were cancelled;
she is back on Mon 30 Nov, when Maria cancels again (that one counts) and is
busy for the rest of the day; Ana is off again on Tue 1 Dec. So:

- 16 and 23 Nov are ``excused`` ("Ana away (out of office)"), not flags;
- adherence counts only the 1:1s both could attend: 3 held of the last 4;
- 30 Nov is a bump, and its make-up is not offered on Tue 1 Dec (Ana away)
  but on Wed 2 Dec: without the second leave, Tuesday would come first;
- the weekly email says "Ana away 16–27 Nov" instead of flagging her.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.google_errors import ApiError
from calsync_emulators.graph import GraphEmulator
from click.testing import CliRunner

from calsync.cli.main import main

MARIA = "maria@example.com"
ANA = "ana@example.com"
NOW = "2026-11-30T18:00:00Z"
LEAVE_REASON = "Ana away (out of office)"
EXCUSED = ["2026-11-16T14:00:00+00:00", "2026-11-23T14:00:00+00:00"]
BACK = "2026-11-30T14:00:00+00:00"

SERIES = """BEGIN:VEVENT
UID:maria-ana-1on1
SUMMARY:Maria / Ana 1:1
DTSTART:20260907T140000Z
DTEND:20260907T143000Z
RRULE:FREQ=WEEKLY;BYDAY=MO
EXDATE:20261116T140000Z,20261123T140000Z,20261130T140000Z
ORGANIZER:mailto:maria@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:maria@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:ana@example.com
STATUS:CONFIRMED
END:VEVENT
"""
# Maria's Monday afternoon after the cancelled 1:1: no make-up fits that day.
PLANNING = """BEGIN:VEVENT
UID:maria-planning
SUMMARY:Quarterly planning
DTSTART:20261130T143000Z
DTEND:20261130T220000Z
ORGANIZER:mailto:maria@example.com
STATUS:CONFIRMED
END:VEVENT
"""


def _calendar(*events: str) -> str:
    body = "".join(events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//calsync tests//EN\n{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def _config(tmp_path: Path, provider: str, calendars: dict[str, str], **person: str) -> Path:
    people = ""
    for email, name, zone in ((MARIA, "Maria Chen", "America/New_York"),
                              (ANA, "Ana Souza", "Europe/Lisbon")):
        extra = "".join(f'{key} = "{value}"\n' for key, value in person.items()
                        if email == MARIA)
        people += (
            f'[[people]]\nemail = "{email}"\nname = "{name}"\ntimezone = "{zone}"\n'
            f'working_hours = "Mon-Fri 09:00-17:00"\nprovider = "work"\n'
            f'calendar = "{calendars[email]}"\n{extra}\n'
        )
    config = tmp_path / "calsync.toml"
    config.write_text(
        'database = "sqlite:///state.db"\n\n'
        f"[providers.work]\n{provider}\n{people}"
        f'[[pairs]]\nmanager = "{MARIA}"\nreport = "{ANA}"\ncadence = "weekly"\n'
        'duration = "30m"\nrebook = "suggest"\n'
    )
    return config


def _run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["-c", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def _check(config: Path) -> dict[str, Any]:
    document = json.loads(_run(config, "check", "--json", "--now", NOW))
    (pair,) = document["pairs"]
    return pair


def _assert_the_story(config: Path, *, second_leave: bool = True) -> dict[str, Any]:
    pair = _check(config)
    by_start = {o["start"]: o for o in pair["occurrences"]}
    for start in EXCUSED:
        assert by_start[start]["status"] == "excused"
        assert by_start[start]["reason"] == LEAVE_REASON
        assert by_start[start]["by"] is None
    # The day after returning still counts: cancelled by Maria, and a bump.
    assert by_start[BACK]["status"] == "cancelled" and by_start[BACK]["by"] == MARIA
    assert [b["original_start"] for b in pair["bumps"]] == [BACK]
    # No flag: one cancellation of the last four that count, a gap of 9 days present.
    assert pair["flags"] == []
    # The last twelve weeks: ten that count (two excused), nine of them held.
    assert pair["adherence"] == {"last_4": 0.75, "last_12": 0.9}
    assert pair["bumped_by"] == {MARIA: 1}
    assert pair["away"][0] == "Ana away 16\u201327 Nov"
    days = {s["start"][:10] for s in pair["suggestions"]}
    assert days, "the bump of 30 Nov gets suggested make-ups"
    if second_leave:
        assert "2026-12-01" not in days  # Ana is off on Tuesday
        assert pair["suggestions"][0]["start"].startswith("2026-12-02")
    else:
        assert pair["suggestions"][0]["start"].startswith("2026-12-01")

    email = _run(config, "report", "--now", NOW, "--week", "2026-W48")
    assert "Ana away 16\u201327 Nov" in email
    assert "1 excused (someone away)" in email
    assert "no 1:1s were due (1 excused: someone away)" in email  # the subject
    assert "did not happen" not in email and "No 1:1" not in email
    return pair


# -- ICS: an OOF-marked timed event, and an all-day "Urlaub" ---------------------------

ICS_LEAVE = """BEGIN:VEVENT
UID:ana-leave-nov
SUMMARY:Lisbon trip
DTSTART:20261116T000000Z
DTEND:20261128T000000Z
X-MICROSOFT-CDO-BUSYSTATUS:OOF
STATUS:CONFIRMED
END:VEVENT
"""
ICS_URLAUB = """BEGIN:VEVENT
UID:ana-urlaub-dec
SUMMARY:Urlaub
DTSTART;VALUE=DATE:20261201
DTEND;VALUE=DATE:20261202
TRANSP:TRANSPARENT
END:VEVENT
"""
ICS_NOT_LEAVE = """BEGIN:VEVENT
UID:ana-leave-planning
SUMMARY:Leave planning sync
DTSTART;VALUE=DATE:20261202
DTEND;VALUE=DATE:20261203
TRANSP:TRANSPARENT
END:VEVENT
"""


def _ics_team(tmp_path: Path, *ana_extra: str) -> Path:
    folder = tmp_path / "calendars"
    folder.mkdir(exist_ok=True)
    (folder / "maria.ics").write_text(_calendar(SERIES, PLANNING), newline="")
    (folder / "ana.ics").write_text(_calendar(SERIES, ICS_LEAVE, *ana_extra), newline="")
    return _config(tmp_path, 'kind = "ics"\npath = "calendars"\n',
                   {MARIA: "maria.ics", ANA: "ana.ics"})


def test_ics_oof_and_an_all_day_urlaub_excuse_and_block_make_ups(tmp_path: Path) -> None:
    _assert_the_story(_ics_team(tmp_path, ICS_URLAUB, ICS_NOT_LEAVE))


def test_ics_without_the_second_leave_the_make_up_goes_to_tuesday(tmp_path: Path) -> None:
    # The control: "Leave planning sync" is not leave, so Wednesday stays free too.
    _assert_the_story(_ics_team(tmp_path, ICS_NOT_LEAVE), second_leave=False)


# -- Google: eventType "outOfOffice" --------------------------------------------------


def _ooo(start: str, end: str) -> dict[str, Any]:
    return {
        "summary": "Out of office",
        "eventType": "outOfOffice",
        "start": {"dateTime": start, "timeZone": "Europe/Lisbon"},
        "end": {"dateTime": end, "timeZone": "Europe/Lisbon"},
        "outOfOfficeProperties": {"autoDeclineMode": "declineOnlyNewConflictingInvitations",
                                  "declineMessage": "Back on 30 Nov."},
    }


def test_google_out_of_office_events_excuse_and_block_make_ups(tmp_path: Path) -> None:
    with GoogleEmulator(port=0) as google:
        for email, extra in ((MARIA, PLANNING), (ANA, "")):
            seed = tmp_path / f"{email}.ics"
            seed.write_text(_calendar(SERIES, extra), newline="")
            google.load_seed(seed)
        stored = google.insert_event(ANA, _ooo("2026-11-16T00:00:00", "2026-11-27T23:59:00"))
        # As Google keeps it: busy, its properties, the type a client filters on.
        assert stored["eventType"] == "outOfOffice" and stored["transparency"] == "opaque"
        assert stored["outOfOfficeProperties"]["declineMessage"] == "Back on 30 Nov."
        google.insert_event(ANA, _ooo("2026-12-01T00:00:00", "2026-12-01T23:59:00"))
        config = _config(
            tmp_path, f'kind = "google"\nauth = "none"\napi_endpoint = "{google.url}"\n',
            {MARIA: MARIA, ANA: ANA},
        )
        _assert_the_story(config)


def test_the_google_emulator_refuses_what_google_refuses_for_out_of_office() -> None:
    with GoogleEmulator(port=0) as google:
        google.add_calendar(ANA)
        all_day = {**_ooo("2026-11-16T00:00:00", "2026-11-17T00:00:00"),
                   "start": {"date": "2026-11-16"}, "end": {"date": "2026-11-17"}}
        free = {**_ooo("2026-11-16T00:00:00", "2026-11-17T00:00:00"),
                "transparency": "transparent"}
        guests = {**_ooo("2026-11-16T00:00:00", "2026-11-17T00:00:00"),
                  "attendees": [{"email": MARIA}]}
        bare = {k: v for k, v in _ooo("2026-11-16T00:00:00", "2026-11-17T00:00:00").items()
                if k != "outOfOfficeProperties"}
        for body in (all_day, free, guests, bare):
            with pytest.raises(ApiError) as raised:
                google.insert_event(ANA, body)
            assert raised.value.status == 400


# -- Graph: showAs "oof", and scheduled automatic replies --------------------------------


def _graph_team(graph: GraphEmulator, tmp_path: Path,
                leave: Callable[[GraphEmulator], None]) -> Path:
    graph.add_mailbox(MARIA, "Maria Chen", time_zone="Eastern Standard Time")
    graph.add_mailbox(ANA, "Ana Souza", time_zone="GMT Standard Time")
    seed = tmp_path / f"{MARIA}.ics"  # the organizer's mailbox; Ana gets her copy
    seed.write_text(_calendar(SERIES, PLANNING), newline="")
    graph.load_seed(seed)
    leave(graph)
    return _config(
        tmp_path, f'kind = "outlook"\nauth = "none"\ngraph_endpoint = "{graph.url}"\n',
        {MARIA: MARIA, ANA: ANA},
    )


def _oof(graph: GraphEmulator, start: str, end: str) -> None:
    graph.create_event(ANA, {
        # Not a title that says leave: only showAs marks it.
        "subject": "Lisbon trip", "showAs": "oof", "isAllDay": True,
        "start": {"dateTime": f"{start}T00:00:00", "timeZone": "GMT Standard Time"},
        "end": {"dateTime": f"{end}T00:00:00", "timeZone": "GMT Standard Time"},
    })


def test_graph_oof_events_excuse_and_block_make_ups(tmp_path: Path) -> None:
    with GraphEmulator(port=0, auth=False) as graph:
        def leave(emu: GraphEmulator) -> None:
            _oof(emu, "2026-11-16", "2026-11-28")
            _oof(emu, "2026-12-01", "2026-12-02")

        _assert_the_story(_graph_team(graph, tmp_path, leave))


def test_graph_scheduled_automatic_replies_are_leave(tmp_path: Path) -> None:
    with GraphEmulator(port=0, auth=False) as graph:
        def leave(emu: GraphEmulator) -> None:
            emu.set_automatic_replies(ANA, {
                "status": "scheduled",
                "scheduledStartDateTime": {"dateTime": "2026-11-16T00:00:00", "timeZone": "UTC"},
                "scheduledEndDateTime": {"dateTime": "2026-11-28T00:00:00", "timeZone": "UTC"},
                "internalReplyMessage": "Away until 30 Nov.",
            })
            _oof(emu, "2026-12-01", "2026-12-02")

        _assert_the_story(_graph_team(graph, tmp_path, leave))


def test_without_mailbox_settings_access_the_calendar_alone_says_who_is_away(
    tmp_path: Path,
) -> None:
    with GraphEmulator(port=0, auth=False) as graph:
        def leave(emu: GraphEmulator) -> None:
            emu.set_automatic_replies(ANA, {
                "status": "scheduled",
                "scheduledStartDateTime": {"dateTime": "2026-11-16T00:00:00", "timeZone": "UTC"},
                "scheduledEndDateTime": {"dateTime": "2026-11-28T00:00:00", "timeZone": "UTC"},
            })
            emu.deny_mailbox_settings(ANA)

        pair = _check(_graph_team(graph, tmp_path, leave))
    # Unreadable replies are no leave: the sync went on, and the misses count.
    assert {o["status"] for o in pair["occurrences"] if o["start"] in EXCUSED} == {"cancelled"}
    assert {f["kind"] for f in pair["flags"]} >= {"repeated_cancellations"}


# -- a public holiday of the person's region ----------------------------------------------

THURSDAY_SERIES = SERIES.replace("DTSTART:20260907T140000Z", "DTSTART:20260910T150000Z") \
    .replace("DTEND:20260907T143000Z", "DTEND:20260910T153000Z") \
    .replace("BYDAY=MO", "BYDAY=TH") \
    .replace("EXDATE:20261116T140000Z,20261123T140000Z,20261130T140000Z",
             "EXDATE:20261126T150000Z")


def test_a_public_holiday_of_the_managers_region_excuses_thanksgiving(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    for name in ("maria", "ana"):
        (folder / f"{name}.ics").write_text(_calendar(THURSDAY_SERIES), newline="")
    provider = 'kind = "ics"\npath = "calendars"\n'
    calendars = {MARIA: "maria.ics", ANA: "ana.ics"}
    plain = _check(_config(tmp_path, provider, calendars))
    thanksgiving = "2026-11-26T15:00:00+00:00"
    assert next(o for o in plain["occurrences"] if o["start"] == thanksgiving)["status"] \
        == "cancelled"

    (tmp_path / "state.db").unlink()
    pair = _check(_config(tmp_path, provider, calendars, holidays="US-CA"))
    occurrence = next(o for o in pair["occurrences"] if o["start"] == thanksgiving)
    assert occurrence["status"] == "excused"
    assert occurrence["reason"] == "public holiday: Thanksgiving Day"
    assert pair["away"] == ["Thanksgiving Day (26 Nov)"]
    assert pair["adherence"]["last_4"] == 1.0 and plain["adherence"]["last_4"] == 0.75
    assert pair["bumped_by"] == {} and plain["bumped_by"] == {MARIA: 1}


def test_an_unknown_holiday_region_is_a_clear_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, 'kind = "ics"\npath = "calendars"\n',
                     {MARIA: "maria.ics", ANA: "ana.ics"}, holidays="US-XX")
    result = CliRunner().invoke(main, ["-c", str(config), "check", "--now", NOW])
    assert result.exit_code != 0
    assert "people[0].holidays" in result.output and "'US-XX'" in result.output
    assert "US has no subdivision 'XX'" in result.output


def test_the_graph_emulator_serves_mailbox_settings_as_graph_does() -> None:
    with GraphEmulator(port=0, auth=False) as graph:
        graph.add_mailbox(ANA, "Ana Souza", time_zone="GMT Standard Time")
        url = f"{graph.url}/users/{ANA}/mailboxSettings"
        settings = httpx.get(url).json()
        assert settings["timeZone"] == "GMT Standard Time"
        assert settings["automaticRepliesSetting"]["status"] == "disabled"
        assert settings["workingHours"]["daysOfWeek"][0] == "monday"
        patched = httpx.patch(url, json={"automaticRepliesSetting": {
            "status": "scheduled",
            "scheduledStartDateTime": {"dateTime": "2026-11-16T00:00:00", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-11-28T00:00:00", "timeZone": "UTC"},
        }})
        assert patched.status_code == 200
        replies = httpx.get(url).json()["automaticRepliesSetting"]
        assert replies["scheduledEndDateTime"] == {"dateTime": "2026-11-28T00:00:00.0000000",
                                                   "timeZone": "UTC"}
        bad = httpx.patch(url, json={"automaticRepliesSetting": {"status": "sometimes"}})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
        missing = httpx.patch(url, json={"automaticRepliesSetting": {
            "status": "scheduled", "scheduledStartDateTime": None}})
        assert missing.status_code == 400
        graph.deny_mailbox_settings(ANA)
        denied = httpx.get(url)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "ErrorAccessDenied"
