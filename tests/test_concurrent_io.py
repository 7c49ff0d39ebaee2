"""Provider requests overlap, within each provider's limits (no timings: the emulators
count the requests they were answering at once).

Google: several batches and full reads in flight, never more than ``max_concurrency``;
an idle pass is still one batch per 50 calendars. Graph: the same, and never more than
four requests at once for one mailbox, however many threads ask.
"""

from __future__ import annotations

import contextlib
import math
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import GoogleProvider, OutlookProvider, settings_from_dict
from calsync.engine.actions import CreateMakeUp, UpdateAgenda, encode
from calsync.engine.outbox import BATCH, execute
from calsync.model import AgendaBlock, ChangeSet
from calsync.providers.base import NewEvent
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar
from calsync.providers.limits import Spawned, Throttle, stream, stream_spawning
from calsync.providers.outlook.auth import NoTokens
from calsync.providers.outlook.calendar import OutlookCalendar
from calsync.store import open_store

NOW = datetime(2026, 11, 20, 21, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
LATENCY = 0.03  # enough for requests sent together to be answered together
PEOPLE = [f"p{index:03d}@example.com" for index in range(60)]


def _event(index: int) -> dict:
    when = NOW + timedelta(days=1 + index % 5, hours=index % 7)
    return {
        "summary": f"Planning {index}",
        "start": {"dateTime": when.isoformat()},
        "end": {"dateTime": (when + timedelta(hours=1)).isoformat()},
    }


def _graph_event(index: int, subject: str | None = None) -> dict:
    """``_event`` as Graph takes it: local wall times with a time zone."""
    google_shape = _event(index)
    return {
        "subject": subject or google_shape["summary"],
        **{end: {"dateTime": google_shape[end]["dateTime"][:19], "timeZone": "UTC"}
           for end in ("start", "end")},
    }


@pytest.fixture
def google() -> GoogleEmulator:
    with GoogleEmulator(port=0) as emulator:
        for index, person in enumerate(PEOPLE):
            emulator.add_calendar(person)
            emulator.insert_event(person, _event(index))
        emulator.latency(LATENCY)
        yield emulator


@pytest.fixture
def graph() -> GraphEmulator:
    with GraphEmulator(port=0, auth=False) as emulator:
        for index, person in enumerate(PEOPLE):
            emulator.add_mailbox(person)
            emulator.create_event(person, _graph_event(index))
        emulator.latency(LATENCY)
        yield emulator


def _google(emulator: GoogleEmulator, concurrency: int) -> GoogleCalendar:
    settings = GoogleProvider(kind="google", auth="none", api_endpoint=emulator.url,
                              max_concurrency=concurrency)
    return GoogleCalendar("work", settings, NoCredentials(), lambda _c: UTC_ZONE,
                          sleep=lambda _s: None)


def _graph(emulator: GraphEmulator, concurrency: int) -> OutlookCalendar:
    settings = OutlookProvider(kind="outlook", auth="none", graph_endpoint=emulator.url,
                               max_concurrency=concurrency)
    return OutlookCalendar("m365", settings, NoTokens(), lambda _c: UTC_ZONE,
                           sleep=lambda _s: None)


def test_google_reads_calendars_concurrently_within_its_ceiling(google):
    reader = _google(google, concurrency=4)
    try:
        google.requests.clear()
        cold = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
        assert 1 < google.requests.max_in_flight <= 4
        assert all(isinstance(c, ChangeSet) and len(c.events) == 1 for c in cold.values())

        google.requests.clear()
        cursors = [(p, cold[p].cursor) for p in PEOPLE]  # type: ignore[union-attr]
        idle = reader.fetch_many(cursors, NOW)
        # An idle pass stays at the batch floor: one request per 50 calendars, in flight together.
        assert len(google.requests) == math.ceil(len(PEOPLE) / 50)
        assert google.requests.max_in_flight == 2
        assert all(isinstance(c, ChangeSet) and c.unchanged for c in idle.values())
    finally:
        reader.close()


def test_one_request_at_a_time_when_the_ceiling_is_one(google):
    reader = _google(google, concurrency=1)
    try:
        google.requests.clear()
        dict(reader.fetch_stream([(p, None) for p in PEOPLE[:10]], NOW))
        assert google.requests.max_in_flight == 1
    finally:
        reader.close()


def test_graph_reads_mailboxes_concurrently_within_its_ceiling(graph):
    reader = _graph(graph, concurrency=6)
    try:
        graph.requests.clear()
        cold = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
        assert 1 < graph.requests.max_in_flight <= 6
        assert all(isinstance(c, ChangeSet) and len(c.events) == 1 for c in cold.values())
        assert all(graph.requests.max_in_flight_per(p) <= 4 for p in PEOPLE)

        graph.requests.clear()
        idle = reader.fetch_many([(p, cold[p].cursor) for p in PEOPLE], NOW)  # type: ignore[union-attr]
        assert len(graph.requests) == math.ceil(len(PEOPLE) / 20)
        assert graph.requests.max_in_flight == 3
        assert all(isinstance(c, ChangeSet) and c.unchanged for c in idle.values())
    finally:
        reader.close()


def test_graph_never_has_more_than_four_requests_in_flight_for_one_mailbox(graph):
    reader = _graph(graph, concurrency=16)
    mailbox = PEOPLE[0]
    start = threading.Barrier(12)
    problems: list[str | None] = []

    def probe() -> None:
        start.wait()
        problems.append(reader.probe(mailbox))

    try:
        graph.requests.clear()
        threads = [threading.Thread(target=probe) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert problems == [None] * 12
        # Twelve threads asked at once; the mailbox saw at most Graph's four.
        assert 1 < graph.requests.max_in_flight_per(mailbox) <= 4
    finally:
        reader.close()


def test_a_per_minute_budget_makes_the_extra_call_wait_for_the_window():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = Throttle(4, per_minute=100, per_key_per_minute=30,
                        clock=lambda: now[0], sleep=sleep)
    with throttle.slot("ana", calls=50):  # a batch of 50 calls: 50 of the project's 100
        pass
    now[0] = 10.0
    with throttle.slot("ben", calls=30):
        pass
    assert waits == []
    now[0] = 20.0
    with throttle.slot("ben", calls=1):  # ben's 30 a minute are spent until t = 70
        pass
    assert waits == [50.0]
    with throttle.slot("cleo", calls=50):  # the project's 100: the first 50 left at t = 60
        pass
    assert waits == [50.0]  # it is t = 70 now: room again


def test_stream_keeps_only_a_few_tasks_ahead_of_a_slow_consumer():
    started: list[int] = []
    lock = threading.Lock()

    def task(number: int) -> int:
        with lock:
            started.append(number)
        return number

    results = stream(((lambda n=n: task(n)) for n in range(100)), 2)
    seen = []
    for number in results:
        seen.append(number)
        if len(seen) == 3:
            with lock:
                ahead = len(started)
    assert sorted(seen) == list(range(100))
    assert ahead <= 3 + 2 * 2


def test_stream_with_one_worker_runs_in_order_on_the_callers_thread():
    me = threading.get_ident()
    assert list(stream([lambda: (1, threading.get_ident()), lambda: (2, threading.get_ident())],
                       1)) == [(1, me), (2, me)]


def test_spawned_reads_count_against_the_same_bound_as_the_batches():
    """Ten batches of fifty calendars: no more than a few reads wait for the consumer."""
    started: list[str] = []
    lock = threading.Lock()

    def read(calendar: str) -> Spawned[str]:
        with lock:
            started.append(calendar)
        return Spawned([calendar])

    def batch(number: int) -> Spawned[str]:
        return Spawned(more=[partial(read, f"{number}/{i}") for i in range(50)])

    seen: list[str] = []
    ahead = []
    for calendar in stream_spawning([partial(batch, n) for n in range(10)], 4):
        seen.append(calendar)
        with lock:
            ahead.append(len(started) - len(seen))
    assert sorted(seen) == sorted(f"{n}/{i}" for n in range(10) for i in range(50))
    assert max(ahead) <= 2 * 4  # not 50 per batch in flight
    # One worker: in order, spawned reads first, on the caller's thread.
    assert list(stream_spawning([partial(batch, 0), partial(batch, 1)], 1))[:51] == [
        *(f"0/{i}" for i in range(50)), "1/0"]


class _RecordingWriter:
    """A CalendarWriter that counts the writes in flight and the order per event."""

    name = "work"

    def __init__(self, expected: int) -> None:
        self.lock = threading.Lock()
        self.flying = 0
        self.most = 0
        self.order: list[str] = []
        # Every write waits until enough writes are in flight (or a short timeout):
        # a serial executor would only ever show one.
        self.gate = threading.Barrier(expected, timeout=2)

    def _write(self, label: str) -> None:
        with self.lock:
            self.flying += 1
            self.most = max(self.most, self.flying)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.gate.wait()
        with self.lock:
            self.flying -= 1
            self.order.append(label)

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        self._write(key)
        return f"id-{key}"

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        self._write(f"{remote_id} {block.url}")

    def delete_owned(self, calendar: str, remote_id: str, key: str) -> None:
        self._write(remote_id)

    def fetch_changes(self, calendar: str, cursor: str | None, now: datetime) -> ChangeSet:
        raise AssertionError("not read")

    def probe(self, calendar: str) -> str | None:
        return None


def test_the_outbox_writes_calendars_at_once_and_one_calendars_writes_in_order(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'calsync.db'}")
    writer = _RecordingWriter(expected=4)
    try:
        start = NOW + timedelta(days=1)
        for index in range(4):
            event = NewEvent(f"1:1 #{index}", start, start + timedelta(minutes=30),
                             PEOPLE[index + 1], (PEOPLE[0], PEOPLE[index + 1]))
            kind, payload = encode(CreateMakeUp("work", PEOPLE[index + 1], event))
            store.enqueue(f"makeup|{index}", kind, payload, now=NOW)
        for version in ("v1", "v2", "v3"):  # three writes to one calendar: in queue order
            block = AgendaBlock(f"https://docs.example.com/{version}")
            kind, payload = encode(UpdateAgenda("work", PEOPLE[0], "series-1", block))
            store.enqueue(f"agenda|{version}", kind, payload, now=NOW)
        outcomes = execute(store, {"work": writer}, NOW)  # type: ignore[dict-item]
        assert sorted(o.outcome for o in outcomes) == ["done"] * 7
        assert writer.most >= 4  # four calendars' make-ups (and the agenda chain) overlapped
        agenda = [label for label in writer.order if label.startswith("series-1")]
        assert agenda == [f"series-1 https://docs.example.com/{v}" for v in ("v1", "v2", "v3")]
    finally:
        store.close()


def _team(tmp_path, manager: str, reports: list[str]):
    """Settings with one manager and these reports, each a pair (calendars unread)."""
    return settings_from_dict(
        {
            "providers": {"work": {"kind": "ics", "path": str(tmp_path)}},
            "people": [
                {"email": email, "timezone": "UTC", "provider": "work", "calendar": "x.ics"}
                for email in (manager, *reports)
            ],
            "pairs": [{"manager": manager, "report": report} for report in reports],
        },
        tmp_path / "calsync.toml",
    )


def test_two_pairs_write_one_calendar_at_once_and_each_pairs_writes_in_order(tmp_path):
    """A manager's calendar holds every report's series: their writes need not queue
    behind each other (the throttle bounds the mailbox), one series' writes do."""
    manager, reports = PEOPLE[0], PEOPLE[1:3]
    settings = _team(tmp_path, manager, reports)
    store = open_store(f"sqlite:///{tmp_path / 'calsync.db'}")
    writer = _RecordingWriter(expected=2)
    try:
        store.sync_config(settings)
        for report in reports:
            pair = store.pair_id(manager, report)
            for version in ("v1", "v2", "v3"):
                block = AgendaBlock(f"https://docs.example.com/{report}/{version}")
                kind, payload = encode(UpdateAgenda("work", manager, f"series-{report}", block))
                store.enqueue(f"agenda|{report}|{version}", kind, payload, pair, now=NOW)
        outcomes = execute(store, {"work": writer}, NOW)  # type: ignore[dict-item]
        assert sorted(o.outcome for o in outcomes) == ["done"] * 6
        assert writer.most == 2  # the two pairs' chains overlapped on the manager's calendar
        for report in reports:
            chain = [label for label in writer.order if label.startswith(f"series-{report}")]
            assert chain == [
                f"series-{report} https://docs.example.com/{report}/{v}" for v in ("v1", "v2", "v3")
            ]
    finally:
        store.close()


def test_google_reads_what_follows_changed_first_pages_at_once(google):
    """After the batched first pages, each changed calendar's touched series are
    re-read (master + its instances): calendars and series go on together."""
    reader = _google(google, concurrency=8)
    changed = PEOPLE[:6]
    try:
        masters = {}
        for person in changed:
            when = _event(0)
            body = {
                "summary": "1:1",
                "start": {**when["start"], "timeZone": "UTC"},
                "end": {**when["end"], "timeZone": "UTC"},
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=10"],
            }
            masters[person] = [google.insert_event(person, body)["id"] for _ in range(2)]
        cold = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
        for person in changed:
            for master in masters[person]:
                google.patch_event(person, master, {"summary": "1:1, renamed"})
        google.requests.clear()
        cursors = [(p, cold[p].cursor) for p in PEOPLE]  # type: ignore[union-attr]
        warm = reader.fetch_many(cursors, NOW)
        assert google.requests.max_in_flight > 2  # more than one batch's follow-ups at once
        for person in changed:
            renamed = {e.title for e in warm[person].events}  # type: ignore[union-attr]
            assert renamed == {"1:1, renamed"}
            assert len(warm[person].series_scope) == 2  # type: ignore[union-attr]
        assert all(warm[p].unchanged for p in PEOPLE[6:])  # type: ignore[union-attr]
    finally:
        reader.close()


def test_graph_reads_what_follows_changed_first_pages_at_once(graph):
    """The same on Graph: a changed series' master is read after the delta's first page."""
    reader = _graph(graph, concurrency=8)
    changed = PEOPLE[:6]
    try:
        masters = {}
        for person in changed:
            when = _event(0)
            masters[person] = graph.create_event(person, {
                **_graph_event(0, "1:1"),
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "numbered", "startDate": when["start"]["dateTime"][:10],
                              "numberOfOccurrences": 10},
                },
            })["id"]
        cold = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
        for person in changed:
            graph.patch_event(person, masters[person], {"subject": "1:1, renamed"})
        graph.requests.clear()
        warm = reader.fetch_many([(p, cold[p].cursor) for p in PEOPLE], NOW)  # type: ignore[union-attr]
        assert graph.requests.max_in_flight > 3  # more than the three first-page batches
        for person in changed:
            titles = {e.title for e in warm[person].events}  # type: ignore[union-attr]
            assert "1:1, renamed" in titles
    finally:
        reader.close()


@pytest.mark.parametrize("provider", ["google", "graph"])
def test_a_slow_consumer_holds_back_each_changed_calendars_read(provider, request):
    """What a batch's calendars still need is read a few at a time, not a batch at once."""
    emulator = request.getfixturevalue(provider)
    reader = _google(emulator, 2) if provider == "google" else _graph(emulator, 2)
    try:
        cold = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
        for index, person in enumerate(PEOPLE):  # every calendar changes
            if provider == "google":
                emulator.insert_event(person, _event(index + 1))
            else:
                emulator.create_event(person, _graph_event(index + 1, "New"))
        reads = 0
        lock = threading.Lock()
        guarded = reader.reader._guarded

        def counted(*args):
            nonlocal reads
            with lock:
                reads += 1
            return guarded(*args)

        reader.reader._guarded = counted
        ahead = []
        cursors = [(p, cold[p].cursor) for p in PEOPLE]  # type: ignore[union-attr]
        for consumed, (_calendar, changes) in enumerate(reader.fetch_stream(cursors, NOW), 1):
            assert not changes.unchanged  # type: ignore[union-attr]
            with lock:
                ahead.append(reads - consumed)
        assert len(ahead) == len(PEOPLE)
        assert max(ahead) <= 2 * 2  # a batch is 50 (Google) or 20 (Graph) calendars
    finally:
        reader.close()


def test_a_pairs_writes_beyond_one_batch_stay_one_chain(tmp_path):
    """More queued writes for one pair than a batch holds: the batch takes the rest of
    that pair's writes along, so no second chain writes the same series at once."""
    manager, report = PEOPLE[0], PEOPLE[1]
    settings = _team(tmp_path, manager, [report])
    store = open_store(f"sqlite:///{tmp_path / 'calsync.db'}")
    writer = _RecordingWriter(expected=2)  # two chains at once would meet here
    versions = range(BATCH + 10)
    try:
        store.sync_config(settings)
        pair = store.pair_id(manager, report)
        for version in versions:
            block = AgendaBlock(f"https://docs.example.com/{version}")
            kind, payload = encode(UpdateAgenda("work", manager, "series-1", block))
            store.enqueue(f"agenda|{version:03d}", kind, payload, pair, now=NOW)
        outcomes = execute(store, {"work": writer}, NOW)  # type: ignore[dict-item]
        assert len(outcomes) == len(versions)
        assert writer.most == 1
        assert writer.order == [f"series-1 https://docs.example.com/{v}" for v in versions]
    finally:
        store.close()


def test_make_ups_are_claimed_before_the_agenda_blocks_queued_ahead_of_them(tmp_path, monkeypatch):
    """A cold start queues thousands of agenda blocks; a bump's make-up still goes first."""
    monkeypatch.setattr("calsync.engine.outbox.MAX_WRITES", 5)
    store = open_store(f"sqlite:///{tmp_path / 'calsync.db'}")
    writer = _RecordingWriter(expected=1)
    try:
        for version in range(20):
            block = AgendaBlock(f"https://docs.example.com/{version}")
            kind, payload = encode(UpdateAgenda("work", PEOPLE[0], f"series-{version}", block))
            store.enqueue(f"agenda|{version:02d}", kind, payload, now=NOW)
        start = NOW + timedelta(days=1)
        event = NewEvent("1:1", start, start + timedelta(minutes=30), PEOPLE[1],
                         (PEOPLE[0], PEOPLE[1]))
        kind, payload = encode(CreateMakeUp("work", PEOPLE[1], event))
        store.enqueue("makeup|late", kind, payload, now=NOW)
        outcomes = execute(store, {"work": writer}, NOW)  # type: ignore[dict-item]
        assert [o.key for o in outcomes][:1] == ["makeup|late"]
        assert len(outcomes) == 5  # the cycle's bound, the rest wait for the next cycle
        assert len(store.pending(100)) == 16
    finally:
        store.close()


def test_finished_threads_do_not_keep_their_google_connections(google):
    """Each fetch runs on a fresh pool of threads; a daemon runs fetches for months.
    A thread's service and sockets are closed once the thread is gone."""
    reader = _google(google, concurrency=4)
    try:
        for _ in range(6):
            changes = dict(reader.fetch_stream([(p, None) for p in PEOPLE[:12]], NOW))
            assert all(isinstance(c, ChangeSet) for c in changes.values())
        # Four threads of the last pool at most, and whichever thread is building now.
        assert len(reader.client._every) <= 4 + 1
    finally:
        reader.close()


def test_the_google_api_is_built_once_whatever_the_threads(google, monkeypatch):
    """Building parses the discovery document (about 1 MiB each): threads share it
    and send through their own HTTP objects."""
    from calsync.providers.google import client as google_client

    builds = []
    build = google_client.build
    monkeypatch.setattr(google_client, "build",
                        lambda *args, **kwargs: builds.append(1) or build(*args, **kwargs))
    reader = _google(google, concurrency=8)
    try:
        for _ in range(3):  # three fresh pools of eight threads
            changes = dict(reader.fetch_stream([(p, None) for p in PEOPLE], NOW))
            assert all(isinstance(c, ChangeSet) for c in changes.values())
        assert len(builds) == 1
        https = {id(resources.http) for _thread, resources in reader.client._every}
        assert len(https) == len(reader.client._every) > 1  # one HTTP object per thread
    finally:
        reader.close()
