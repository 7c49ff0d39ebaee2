"""Terminal escapes in a feed never reach a terminal, a log or the database raw."""

from __future__ import annotations

from pathlib import Path

from calsync.store import open_store
from tests.support import cli

CLEAR_SCREEN = "\x1b[2J"
SET_TITLE = "\x1b]0;pwned\x07"
FRIDAY = "2026-11-20T21:00:00Z"


def test_escapes_in_titles_and_broken_components_are_replaced(team: Path) -> None:
    calendars = team.parent / "calendars"
    hostile = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n"
        "BEGIN:VEVENT\r\nUID:bad" + CLEAR_SCREEN + "\r\nDTSTART:not-a-time" + SET_TITLE
        + "\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:title\r\nDTSTART:20261125T090000Z\r\nDURATION:PT30M\r\n"
        "SUMMARY:Lunch " + CLEAR_SCREEN + SET_TITLE + "\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    path = calendars / "maria.ics"
    original = path.read_text()
    path.write_text(original.replace("END:VCALENDAR", hostile.split("PRODID:-//x//EN\r\n", 1)[1]
                                     .rsplit("END:VCALENDAR", 1)[0] + "END:VCALENDAR"))
    _code, out, err = cli(team, "-v", "sync", "--now", FRIDAY)
    assert "event UID bad" in out + err  # the broken component is named...
    for channel in (out, err):
        assert "\x1b" not in channel and "\x07" not in channel  # ...without its escapes
    store = open_store(f"sqlite:///{team.parent / 'state' / 'calsync.db'}")
    try:
        titles = [e.title for e in store.events_of(["maria@example.com"])["maria@example.com"]
                  if e.uid == "title"]
    finally:
        store.close()
    assert titles and all("\x1b" not in t and "\x07" not in t for t in titles)
    assert titles[0].startswith("Lunch ")
