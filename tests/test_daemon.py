"""The team daemon end to end against the Google emulator: a bumped 1:1 is made up once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from calsync_emulators.google import GoogleEmulator

from calsync.config import load_settings
from calsync.engine.outbox import LEASE
from calsync.model import AgendaBlock
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import Daemon
from calsync.store import open_store
from tests.google_team_support import (
    DEV,
    MARIA,
    NOW,
    TODAY,
    cancel,
    makeups,
    one_cycle,
    seed,
    write_config,
)
from tests.support import Clock, cli, free_port


def test_a_cancelled_one_on_one_is_made_up_once_on_both_calendars(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google)
    assert one_cycle(config).ok
    assert makeups(google, MARIA) == []

    cancel(google, master, TODAY)
    result = one_cycle(config)
    assert [w.outcome for w in result.writes if w.key.startswith("makeup|")] == ["done"]

    [made] = makeups(google, MARIA)
    [invited] = makeups(google, DEV)
    assert invited["id"] == made["id"]
    start = datetime.fromisoformat(made["start"]["dateTime"]).astimezone(UTC)
    end = datetime.fromisoformat(made["end"]["dateTime"]).astimezone(UTC)
    # Both working days overlap 09:00-12:00 New York (Berlin 09-18 = NY 03-12). The
    # bumped 10:00-10:30 is not offered back and the budget review is 11:30-12:00,
    # each with a 10-minute buffer: the same day, later, leaves 10:45-11:15.
    assert (start, end) == (datetime(2026, 11, 23, 15, 45, tzinfo=UTC),
                            datetime(2026, 11, 23, 16, 15, tzinfo=UTC))
    assert "make-up for Mon 23 Nov" in made["summary"]
    assert {a["email"] for a in made["attendees"]} == {MARIA, DEV}
    assert "https://docs.example.com/1on1/maria-dev" in made["description"]
    # The series itself carries the agenda block, after the words people wrote.
    series = google.get_event(MARIA, master)
    assert series["description"].startswith("Our notes live in the agenda doc.")
    assert series["description"].count(AgendaBlock.BEGIN) == 1

    # A second cycle and a restart (a new process state, same database) change nothing.
    before = {e["id"]: e["etag"] for e in google.events(MARIA)}
    assert one_cycle(config).writes == []
    assert one_cycle(config, NOW + timedelta(minutes=5)).writes == []
    assert {e["id"]: e["etag"] for e in google.events(MARIA)} == before


def _reads_after_first(google: GoogleEmulator, method: str) -> list[str]:
    """Calendar reads (event lists, batches) the emulator served after the first write
    (``method`` on one event, or POST to insert one)."""
    http = google.requests.http
    first = next(i for i, r in enumerate(http) if r.method == method and "batch" not in r.path)
    return [r.path for r in http[first + 1:]
            if (r.method == "GET" and r.path.endswith("/events")) or "batch" in r.path]


def test_a_cycle_reads_back_the_meetings_it_made_not_the_agenda_blocks(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google)
    google.requests.clear()
    first = one_cycle(config)
    assert {w.kind for w in first.writes} == {"agenda_block"}
    # Descriptions change no history: nothing is re-read in this cycle (the next one will).
    assert _reads_after_first(google, "PATCH") == []

    cancel(google, master, TODAY)
    google.requests.clear()
    result = one_cycle(config)
    assert [w.outcome for w in result.writes if w.kind == "create_makeup"] == ["done"]
    # A make-up is: the pair's calendars are read back at once.
    assert _reads_after_first(google, "POST") != []


def test_the_agenda_block_is_written_once_on_the_series_and_on_exceptions_of_their_own(
        google, tmp_path):
    master = seed(google)
    moved = f"{master}_20261130T150000Z"
    google.patch_event(MARIA, moved, {"description": "Bring the Q4 numbers."})
    config = write_config(tmp_path, google)
    first = one_cycle(config)
    written = {w.key.split("|")[2] for w in first.writes if w.kind == "agenda_block"}
    # Not one write per occurrence: the plain ones show the master's description.
    assert written == {master, moved}
    upcoming = google.list_events(MARIA, singleEvents=True, timeMin="2026-11-23T00:00:00Z",
                                  timeMax="2027-02-01T00:00:00Z")["items"]
    assert len(upcoming) > 5  # ten weeks of the 1:1, and the budget review
    ones = [i for i in upcoming if i["summary"] == "Maria / Dev 1:1"]
    assert all(i["description"].count(AgendaBlock.BEGIN) == 1 for i in ones)
    moved_now = google.get_event(MARIA, moved)["description"]
    assert moved_now.startswith("Bring the Q4 numbers.")
    # The next cycle reads the blocks back and has nothing left to write.
    assert one_cycle(config).writes == []


def test_check_shows_the_make_up_as_made_up(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google)
    cancel(google, master, TODAY)
    one_cycle(config)
    later = (NOW + timedelta(days=1)).isoformat()
    code, out, err = cli(config, "check", "--json", "--now", later)
    assert code == 0, err
    [pair] = json.loads(out)["pairs"]
    today = next(o for o in pair["occurrences"] if o["status"] == "made_up")
    assert today["by"] == MARIA
    assert pair["bumped_by"] == {MARIA: 1}


def test_suggest_mode_shows_slots_and_writes_nothing(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google, rebook="suggest")
    cancel(google, master, TODAY)
    code, out, err = cli(config, "check", "--json", "--now", NOW.isoformat())
    assert code == 0, err
    [pair] = json.loads(out)["pairs"]
    assert len(pair["suggestions"]) == 3
    assert pair["bumps"][0]["reason"] == "cancelled"
    assert makeups(google, MARIA) == []


def test_push_notification_triggers_a_cycle_at_once(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google,
                          daemon_extra='public_url = "http://127.0.0.1:{port}"')
    # The daemon listens on a port chosen here, so the public URL can name it.
    port = free_port()
    config.write_text(config.read_text().replace("{port}", str(port))
                      .replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"'))
    settings = load_settings(config)
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    daemon = Daemon(settings, store, readers, clock=Clock(NOW))
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while daemon.last is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.last is not None and google.channels()
        cancel(google, master, TODAY)  # the emulator pushes; polling is an hour away
        while not makeups(google, MARIA) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(makeups(google, MARIA)) == 1
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(timeout=30)
        close_readers(readers)
        store.close()
    assert not thread.is_alive()


@pytest.mark.parametrize("point", ["before-write", "after-write"])
def test_a_crash_at_any_step_never_makes_a_second_event(google, tmp_path, point):
    master = seed(google)
    config = write_config(tmp_path, google)
    run = [sys.executable, "-m", "calsync.cli", "-c", str(config), "run", "--once",
           "--now", NOW.isoformat()]
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    cancel(google, master, TODAY)
    crashed = subprocess.run(run, env={**os.environ, "CALSYNC_CRASH_AT": point},
                             capture_output=True, timeout=120)
    assert crashed.returncode == 86, crashed.stderr.decode()[-2000:]
    expected = 1 if point == "after-write" else 0
    assert len(makeups(google, MARIA)) == expected
    # The dead worker's lease on the write runs out; then the restart finishes the
    # job (finding the event if it was made), and the run after does nothing.
    later = [*run[:-1], (NOW + LEASE + timedelta(minutes=1)).isoformat()]
    for _ in range(2):
        done = subprocess.run(later, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(makeups(google, MARIA)) == 1
    assert len(makeups(google, DEV)) == 1


@pytest.mark.postgres
def test_two_workers_on_postgresql_book_one_make_up(google, tmp_path, postgres):
    master = seed(google)
    config = write_config(tmp_path, google, database=postgres.create_database())
    one_cycle(config)
    cancel(google, master, TODAY)
    barrier = threading.Barrier(2)
    results = []
    errors: list[BaseException] = []

    def worker():
        settings = load_settings(config)
        store = open_store(settings.database_url())
        readers = build_readers(settings)
        try:
            daemon = Daemon(settings, store, readers, clock=lambda: NOW)
            barrier.wait()
            results.append(daemon.cycle())
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            close_readers(readers)
            store.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Whatever happened to the cycles, the make-up exists once.
    assert len(makeups(google, MARIA)) == 1
    done = [w.key for r in results for w in r.writes if w.booked_make_up]
    if errors:
        raise errors[0]
    assert len(results) == 2 and all(r.ok for r in results)
    assert len(done) == 1  # one worker performed it; the other never claimed it


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signals_end_the_daemon_cleanly(google, tmp_path, sig):
    import signal
    import urllib.request

    seed(google)
    port = free_port()
    config = write_config(tmp_path, google)
    config.write_text(config.read_text().replace('listen = "127.0.0.1:0"',
                                                 f'listen = "127.0.0.1:{port}"'))
    process = subprocess.Popen([sys.executable, "-m", "calsync.cli", "-c", str(config), "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.load(r)
                    break
            except OSError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok", health
        process.send_signal(getattr(signal, sig))
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()



def test_each_cycle_logs_one_summary_line(google, tmp_path, caplog):
    seed(google)
    config = write_config(tmp_path, google)
    with caplog.at_level("INFO", logger="calsync.service.daemon"):
        one_cycle(config)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cycle: ")]
    assert len(lines) == 1
    assert "2 calendars (2 changed, 0 failed)" in lines[0]


def test_a_flood_of_pushes_is_one_sync_of_the_calendar_they_name(google, tmp_path):
    """2,000 replays of one valid notification used to run a full cycle per push."""
    seed(google)
    config = write_config(tmp_path, google, daemon_extra='push_coalesce = "1s"')
    settings = load_settings(config)
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    daemon = Daemon(settings, store, readers, clock=lambda: NOW)
    cycles: list[object] = []
    first, second = threading.Event(), threading.Event()
    real_cycle = daemon.cycle

    def counted(only=None):
        result = real_cycle(only)
        cycles.append(only)
        (second if first.is_set() else first).set()
        return result

    daemon.cycle = counted  # type: ignore[method-assign]
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    thread.start()
    try:
        assert first.wait(60), "the first, full cycle never ran"
        for _ in range(2000):
            daemon.notify("google", MARIA)
        assert second.wait(60), "the pushes never caused a cycle"
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(timeout=60)
        close_readers(readers)
        store.close()
    assert cycles[0] is None  # the regular cycle syncs everyone
    pushed = cycles[1:]
    assert pushed and all(only == {MARIA} for only in pushed)  # only the named calendar
    assert len(pushed) <= 2  # the burst was coalesced, not replayed 2,000 times


# -- the audit log and the dry run ------------------------------------------------------


def test_every_write_is_in_the_audit_log_with_why_and_the_text_before_and_after(
    google, tmp_path
):
    master = seed(google)
    config = write_config(tmp_path, google)
    one_cycle(config)
    cancel(google, master, TODAY)
    one_cycle(config)
    code, out, err = cli(config, "writes", "--json")
    assert code == 0, err
    records = json.loads(out)["writes"]
    [makeup] = [r for r in records if r["kind"] == "create_makeup"]
    assert makeup["dry_run"] is False and makeup["remote_id"]
    assert makeup["why"].startswith("make-up for the 1:1 of Mon 23 Nov (cancelled")
    assert makeup["manager"] == MARIA and makeup["report"] == DEV
    agenda = [r for r in records if r["kind"] == "agenda_block"]
    series = next(r for r in agenda if "series" in r["why"])
    assert series["before"] == "Our notes live in the agenda doc."
    assert series["after"].startswith(series["before"] + "\n\n--- calsync")
    # A second cycle writes nothing, so records nothing.
    one_cycle(config, NOW + timedelta(minutes=5))
    _, again, _ = cli(config, "writes", "--json")
    assert len(json.loads(again)["writes"]) == len(records)
    _, table, _ = cli(config, "writes", "--pair", MARIA, DEV)
    assert "create makeup" in table and "make-up for the 1:1" in table


def test_a_dry_run_writes_nothing_and_records_what_it_would_write(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google, daemon_extra="dry_run = true")
    one_cycle(config)
    cancel(google, master, TODAY)
    before = {e["id"]: e["etag"] for e in google.events(MARIA)}
    one_cycle(config)
    one_cycle(config, NOW + timedelta(minutes=5))
    assert {e["id"]: e["etag"] for e in google.events(MARIA)} == before  # nothing written
    assert makeups(google, DEV) == []
    _, out, _ = cli(config, "writes", "--json")
    records = json.loads(out)["writes"]
    assert records and all(r["dry_run"] for r in records)
    assert sum(r["kind"] == "create_makeup" for r in records) == 1  # recorded once


def test_undo_all_takes_back_the_make_up_and_the_agenda_blocks_exactly(google, tmp_path):
    master = seed(google)
    config = write_config(tmp_path, google)
    one_cycle(config)
    cancel(google, master, TODAY)
    one_cycle(config)
    assert len(makeups(google, MARIA)) == 1 and len(makeups(google, DEV)) == 1
    assert "--- calsync" in google.get_event(MARIA, master)["description"]

    code, out, err = cli(config, "undo", "--all", "--now", NOW.isoformat())
    assert code == 0, err + out
    assert makeups(google, MARIA) == [] and makeups(google, DEV) == []
    assert google.get_event(MARIA, master)["description"] == "Our notes live in the agenda doc."

    # Undone stays undone: the daemon does not book or write it again, and a
    # second undo has nothing left to do.
    etags = {e["id"]: e["etag"] for e in google.events(MARIA)}
    one_cycle(config, NOW + timedelta(minutes=5))
    assert {e["id"]: e["etag"] for e in google.events(MARIA)} == etags
    code, _, err = cli(config, "undo", "--all", "--now", NOW.isoformat())
    assert code == 0, err
    assert {e["id"]: e["etag"] for e in google.events(MARIA)} == etags
    _, out, _ = cli(config, "writes", "--json")
    undos = [r for r in json.loads(out)["writes"] if r["key"].startswith("undo|")]
    assert {r["kind"] for r in undos} == {"delete_makeup", "agenda_block"}


def test_undo_refuses_unknown_ids_and_needs_a_choice(google, tmp_path):
    seed(google)
    config = write_config(tmp_path, google)
    assert cli(config, "undo")[0] == 2
    code, _, err = cli(config, "undo", "999")
    assert code == 2 and "no write #999" in err
