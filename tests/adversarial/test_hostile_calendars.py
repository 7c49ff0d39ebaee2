"""Hostile calendars are refused with a message, in bounded memory, and erase nothing.

Each parse of an attack runs in a child process under an address-space limit
(``resource.setrlimit``): a blow-up fails the child with MemoryError instead
of taking the machine. The child's timeout only stops a hang from stalling
the suite; what is asserted is the outcome and its message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.config import IcsProvider
from calsync.model import ChangeSet, Window
from calsync.providers.ics.reader import IcsReader
from calsync.store import Store

NOW = datetime(2026, 11, 20, 21, tzinfo=UTC)
MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space for the parsing child

CHILD = """
import json, resource, sys
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from calsync.model import Window
from calsync.providers.expand import parse_calendars
now = datetime(2026, 11, 20, 21, tzinfo=UTC)
window = Window(now - timedelta(days=400), now + timedelta(days=120))
events, warnings = parse_calendars(
    [("hostile.ics", open(sys.argv[1], "rb").read())], window, ZoneInfo("UTC"))
print(json.dumps({{"events": len(events), "warnings": list(warnings),
                  "unread": sorted(warnings.skipped_uids)}}))
"""


def parse_in_child(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(limit=MEMORY_LIMIT), str(path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def calendar(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//hostile//EN", *lines,
                        "END:VCALENDAR"]) + "\r\n"


def event(uid: str, *extra: str, start: str = "20261120T100000Z") -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART:{start}", "DURATION:PT30M",
            "SUMMARY:Maria / Dev 1:1", *extra, "END:VEVENT"]


def test_a_time_zone_that_repeats_every_minute_is_refused(tmp_path: Path) -> None:
    """469 bytes that used to take half a gigabyte and 23 s (FREQ=MINUTELY from year 1)."""
    rules = []
    for part, offset_from, offset_to, second in (("STANDARD", "+0100", "+0000", "00"),
                                                 ("DAYLIGHT", "+0000", "+0100", "30")):
        rules += [f"BEGIN:{part}", f"DTSTART:00010101T0000{second}", "RRULE:FREQ=MINUTELY",
                  f"TZOFFSETFROM:{offset_from}", f"TZOFFSETTO:{offset_to}", f"END:{part}"]
    path = tmp_path / "hostile.ics"
    path.write_text(calendar(
        "BEGIN:VTIMEZONE", "TZID:Evil/Zone", *rules, "END:VTIMEZONE",
        "BEGIN:VEVENT", "UID:one", "DTSTART;TZID=Evil/Zone:20261120T100000",
        "DTEND;TZID=Evil/Zone:20261120T110000", "SUMMARY:x", "END:VEVENT",
    ))
    result = parse_in_child(path)
    assert result["events"] == 1  # the event is read, in the floating zone
    assert any("VTIMEZONE 'Evil/Zone' refused" in w and "MINUTELY" in w
               for w in result["warnings"])


def test_a_yearly_zone_rule_with_every_minute_listed_is_refused(tmp_path: Path) -> None:
    minutes = ",".join(str(m) for m in range(60))
    path = tmp_path / "hostile.ics"
    path.write_text(calendar(
        "BEGIN:VTIMEZONE", "TZID:Wide/Zone", "BEGIN:STANDARD", "DTSTART:16010101T000000",
        f"RRULE:FREQ=YEARLY;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYMINUTE={minutes}",
        "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD", "END:VTIMEZONE",
        "BEGIN:VEVENT", "UID:one", "DTSTART;TZID=Wide/Zone:20261120T100000",
        "DTEND;TZID=Wide/Zone:20261120T110000", "SUMMARY:x", "END:VEVENT",
    ))
    result = parse_in_child(path)
    assert any("Wide/Zone' refused" in w and "720 instances a year" in w
               for w in result["warnings"])


def test_a_huge_rdate_list_skips_that_event_only(tmp_path: Path) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [(base + timedelta(minutes=i)).strftime("%Y%m%dT%H%M%SZ") for i in range(20_000)]
    rdates = [f"RDATE:{','.join(stamps[i:i + 500])}" for i in range(0, len(stamps), 500)]
    path = tmp_path / "hostile.ics"
    path.write_text(calendar(*event("bomb", *rdates), *event("fine")))
    result = parse_in_child(path)
    assert result["unread"] == ["bomb"]
    assert result["events"] == 1
    assert any("RDATE lists more than 5000 dates" in w for w in result["warnings"])


def test_an_unreadable_master_keeps_its_upcoming_occurrences(tmp_path: Path, store: Store):
    """A bad DTSTART on the master used to sweep the series' upcoming rows (false no_upcoming)."""
    # Another event stays readable, so the snapshot is not empty (an empty one is
    # refused on its own, by SuspiciousSnapshot).
    good = calendar(*event("series", "RRULE:FREQ=WEEKLY", start="20261102T140000Z"),
                    *event("standup", start="20261125T090000Z"))
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "maria.ics").write_text(good)
    reader = IcsReader("feeds", IcsProvider(kind="ics", path=str(folder)), tmp_path,
                       lambda _c: ZoneInfo("UTC"))
    calendar_id = store.ensure_calendar("feeds", "maria.ics", "maria@example.com")
    store.apply_changes(calendar_id, reader.fetch_changes("maria.ics", None, NOW), NOW)
    before = {e.key for e in store.events_of(["maria@example.com"])["maria@example.com"]}
    upcoming = [k for k in before if "#" in k and k.split("#")[1] > "20261121"]
    assert upcoming

    broken = good.replace("DTSTART:20261102T140000Z", "DTSTART:not-a-time")
    (folder / "maria.ics").write_text(broken)
    changes = reader.fetch_changes("maria.ics", None, NOW + timedelta(days=1))
    assert changes.unread_uids == ("series",)
    store.apply_changes(calendar_id, changes, NOW + timedelta(days=1))
    after = {e.key for e in store.events_of(["maria@example.com"])["maria@example.com"]}
    assert set(upcoming) <= after


def test_the_store_never_sweeps_an_unread_series(store: Store) -> None:
    calendar_id = store.ensure_calendar("feeds", "x.ics", "maria@example.com")
    window = Window(NOW - timedelta(days=10), NOW + timedelta(days=30))
    from calsync.model import Event

    later = Event(uid="s", start=NOW + timedelta(days=3), end=NOW + timedelta(days=3, hours=1),
                  original_start=NOW + timedelta(days=3))
    other = Event(uid="o", start=NOW + timedelta(days=4), end=NOW + timedelta(days=4, hours=1))
    store.apply_changes(calendar_id, ChangeSet(events=(later, other), full=True, window=window),
                        NOW)
    store.apply_changes(calendar_id, ChangeSet(events=(other,), full=True, window=window,
                                               unread_uids=("s",)), NOW)
    keys = {e.key for e in store.events_of(["maria@example.com"])["maria@example.com"]}
    assert later.key in keys


def test_a_calendar_over_its_total_budget_is_refused_whole(tmp_path: Path, monkeypatch) -> None:
    """Many small series, each inside its own budget, still have a total one."""
    from calsync.providers import expand
    from calsync.providers.base import ProviderError

    monkeypatch.setattr(expand, "MAX_EVENTS_PER_CALENDAR", 500)
    series = [line for i in range(20)
              for line in event(f"s{i}", "RRULE:FREQ=DAILY", start="20260101T090000Z")]
    window = Window(NOW - timedelta(days=400), NOW + timedelta(days=120))
    with pytest.raises(ProviderError, match="more than 500 occurrences"):
        expand.parse_calendars([("wide.ics", calendar(*series).encode())], window,
                               ZoneInfo("UTC"))
    monkeypatch.setattr(expand, "MAX_COMPONENTS_PER_CALENDAR", 10)
    with pytest.raises(ProviderError, match="more than 10 events"):
        expand.parse_calendars([("many.ics", calendar(*series).encode())], window,
                               ZoneInfo("UTC"))
