"""Benchmark the CalDAV provider against a real Radicale: prints figures, asserts nothing.

    .venv/bin/python bench/bench_caldav.py [--events 5000] [--calendars 200]

Radicale runs in its own process on loopback (as the demo starts it), with
the calendars written straight into its storage folder (one object per UID,
as a calendar app stores them), so seeding costs no HTTP. Figures: the first
(full) sync of one big calendar in events/s, beside the same calendar read
from an ICS file in the same run as the floor; an idle cycle of it; then the
first sync and idle cycles of many small calendars into SQLite, in HTTP
requests per calendar. Requests are counted by the provider's own counter
(every request it sends, retries included).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from calsync.config import CaldavProvider, IcsProvider, settings_from_dict
from calsync.demo.run import DemoRadicale, radicale_installed
from calsync.engine.sync import sync_all
from calsync.providers.caldav.calendar import CaldavCalendar
from calsync.providers.caldav.mapping import split_calendar
from calsync.providers.ics.reader import IcsReader
from calsync.store import open_store

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
USER = "bench"
_STAMP = "DTSTAMP:20260101T000000Z"


def _stamp(instant: datetime) -> str:
    return instant.strftime("%Y%m%dT%H%M%SZ")


def _vevent(uid: str, start: datetime, minutes: int, summary: str, *extra: str) -> str:
    lines = [
        "BEGIN:VEVENT", f"UID:{uid}", _STAMP, f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(start + timedelta(minutes=minutes))}", f"SUMMARY:{summary}", *extra,
        "END:VEVENT",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def _calendar(vevents: list[str]) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//bench//EN\r\n"
            + "".join(vevents) + "END:VCALENDAR\r\n")  # fmt: skip


def big_calendar(count: int) -> str:
    """``count`` events: mostly one-offs over the past year, plus weekly series of 60."""
    start = NOW - timedelta(days=360)
    series = count // 100
    vevents = [
        _vevent(f"series{i:05d}@bench", start + timedelta(hours=i % 40), 30, f"Weekly {i}",
                "RRULE:FREQ=WEEKLY;COUNT=60", "ORGANIZER:mailto:big@example.com",
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:big@example.com",
                f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:peer{i}@example.com")
        for i in range(series)
    ]  # fmt: skip
    vevents += [
        _vevent(f"single{i:05d}@bench", start + timedelta(minutes=37 * i), 30, f"Meeting {i}",
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:big@example.com")
        for i in range(count - series)
    ]  # fmt: skip
    return _calendar(vevents)


def small_calendar(index: int) -> str:
    when = NOW + timedelta(days=1 + index % 10, hours=index % 8)
    weekly = NOW - timedelta(days=84, hours=index % 8)
    return _calendar([
        _vevent(f"planning{index}@bench", when, 60, "Planning"),
        _vevent(f"one-on-one{index}@bench", weekly, 30, "1:1", "RRULE:FREQ=WEEKLY"),
    ])  # fmt: skip


def store_calendar(collections: Path, cal_id: str, ics: str) -> None:
    """A calendar collection in Radicale's filesystem storage, one file per object."""
    folder = collections / "collection-root" / USER / cal_id
    folder.mkdir(parents=True)
    props = {"tag": "VCALENDAR", "D:displayname": cal_id,
             "C:supported-calendar-component-set": "VEVENT"}  # fmt: skip
    (folder / ".Radicale.props").write_text(json.dumps(props))
    for number, data in enumerate(split_calendar(ics).values()):
        (folder / f"{number:06d}.ics").write_bytes(data)


class Requests:
    """The provider's request counter: outcome -> count; and the seconds spent waiting on
    the server (set by :func:`timed`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.waiting = 0.0

    def clear(self) -> None:
        self.counts.clear()
        self.waiting = 0.0

    def __call__(self, provider: str, outcome: str) -> None:
        self.counts[outcome] += 1

    def total(self) -> int:
        return sum(self.counts.values())


def timed(dav: CaldavCalendar, counter: Requests) -> CaldavCalendar:
    """Add the time each request takes (the server's share of a sync) to ``counter``."""
    send = dav.client.request

    def request(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return send(*args, **kwargs)
        finally:
            counter.waiting += time.perf_counter() - started

    dav.client.request = request  # type: ignore[method-assign]
    return dav


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--calendars", type=int, default=200)
    args = parser.parse_args()
    if not radicale_installed():
        raise SystemExit("bench_caldav needs Radicale: .venv/bin/pip install radicale")
    utc = ZoneInfo("UTC")
    with tempfile.TemporaryDirectory(prefix="calsync-bench-caldav-") as tmp:
        folder = Path(tmp)
        big = big_calendar(args.events)
        (folder / "big.ics").write_text(big)
        store_calendar(folder / "radicale" / "collections", "big", big)
        for index in range(args.calendars):
            store_calendar(folder / "radicale" / "collections", f"cal{index:04d}",
                           small_calendar(index))  # fmt: skip
        radicale = DemoRadicale(folder / "radicale")
        radicale.start()
        try:
            run(args, folder, radicale.url, utc)
        finally:
            radicale.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of calsync (Radicale excluded): {peak:.0f} MiB (max RSS)")


def run(args: argparse.Namespace, folder: Path, url: str, utc: ZoneInfo) -> None:
    # The floor: the same calendar from an ICS file, in this run.
    ics = IcsReader("floor", IcsProvider(kind="ics", path=str(folder)), folder, lambda _: utc)
    started = time.perf_counter()
    from_file = ics.fetch_changes("big.ics", None, NOW)
    floor = time.perf_counter() - started
    print(f"ICS file, the same {args.events}-event calendar: {len(from_file.events)} neutral "
          f"events in {floor:.2f}s = {len(from_file.events) / floor:,.0f} events/s (the floor)")

    settings = CaldavProvider(kind="caldav", url=url + "/", username=USER)
    counter = Requests()
    dav = timed(CaldavCalendar("bench", settings, lambda _: utc, count_api_call=counter), counter)
    big = f"{url}/{USER}/big/"
    try:
        started = time.perf_counter()
        first = dav.fetch_changes(big, None, NOW)
        elapsed = time.perf_counter() - started
        print(f"CalDAV first sync, 1 calendar of {args.events} events: {len(first.events)} neutral "
              f"events (series expanded) in {elapsed:.2f}s = {len(first.events) / elapsed:,.0f} "
              f"events/s, {counter.total()} HTTP requests ({counter.waiting:.2f}s waiting on "
              f"Radicale, its item cache cold); {elapsed / floor:.1f}x the ICS floor")
        assert sorted(e.key for e in first.events) == sorted(e.key for e in from_file.events), \
            "CalDAV and ICS disagree"
        # Second read of the same server state: Radicale's item cache is warm now.
        counter.clear()
        started = time.perf_counter()
        again = dav.fetch_changes(big, None, NOW)
        warm = time.perf_counter() - started
        print(f"  again, server cache warm: {warm:.2f}s = {len(again.events) / warm:,.0f} "
              f"events/s, {counter.total()} HTTP requests ({counter.waiting:.2f}s waiting on "
              f"Radicale); {warm / floor:.1f}x the ICS floor")
        for cycle in range(3):
            counter.clear()
            started = time.perf_counter()
            idle = dav.fetch_changes(big, first.cursor, NOW)
            seconds = time.perf_counter() - started
            print(f"idle cycle {cycle + 1}, the {args.events}-event calendar: "
                  f"{counter.total()} HTTP request(s), {seconds * 1000:.0f} ms "
                  f"({counter.waiting * 1000:.0f} ms waiting on Radicale), "
                  f"unchanged={idle.unchanged}")
    finally:
        dav.close()

    people = [{"email": f"person{i:04d}@example.com", "provider": "dav",
               "calendar": f"{url}/{USER}/cal{i:04d}/"} for i in range(args.calendars)]  # fmt: skip
    config = settings_from_dict({
        "providers": {"dav": {"kind": "caldav", "url": url + "/", "username": USER}},
        "people": people,
    }, folder / "c.toml")  # fmt: skip
    counter = Requests()
    dav = timed(CaldavCalendar("dav", config.providers["dav"], lambda _: utc,  # type: ignore[arg-type]
                               count_api_call=counter), counter)  # fmt: skip
    store = open_store(f"sqlite:///{folder / 'bench.db'}")
    try:
        started = time.perf_counter()
        results = sync_all(config, store, {"dav": dav}, NOW)
        seconds = time.perf_counter() - started
        events = sum(r.inserted for r in results)
        print(f"first sync, {args.calendars} calendars into SQLite: {seconds:.2f}s, "
              f"{events} events stored ({events / seconds:,.0f} events/s), "
              f"{counter.total()} HTTP requests = {counter.total() / args.calendars:.2f} per "
              f"calendar ({counter.waiting:.2f}s waiting on Radicale), "
              f"{sum(r.ok for r in results)} ok")
        for cycle in range(3):
            counter.clear()
            started = time.perf_counter()
            results = sync_all(config, store, {"dav": dav}, NOW)
            seconds = time.perf_counter() - started
            print(f"idle cycle {cycle + 1}, {args.calendars} calendars: {seconds:.2f}s, "
                  f"{counter.total()} HTTP requests = {counter.total() / args.calendars:.2f} per "
                  f"idle calendar ({counter.waiting:.2f}s waiting on Radicale), "
                  f"{sum(r.unchanged for r in results)} unchanged")
    finally:
        store.close()
        dav.close()


if __name__ == "__main__":
    main()
