"""Several workers on one PostgreSQL share a team by leases (no timings, injected clocks).

- three workers racing over a team with bumps book exactly one make-up per bump;
- in one cycle every calendar is synced by exactly one worker;
- a worker that stops renewing (killed) has its share taken over once its lease expires;
- on SQLite the one worker owns everything and writes no lease.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator
from sqlalchemy import func, select

from calsync.config import Settings, load_settings
from calsync.engine.workers import Worker, home_groups, team_shares
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import CycleResult, Daemon
from calsync.store import Store, open_store
from calsync.store.models import LeaseRow, OutboxRow, WriteRow
from tests.support import at_once

# Monday 23 Nov 2026, 08:00 in New York; the 1:1s are at 10:00 and 11:00 every Monday.
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TODAY = (datetime(2026, 11, 23, 15, 0, tzinfo=UTC), datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
TTL = timedelta(minutes=10)
MANAGERS = ["m0", "m1", "m2"]
REPORTS = {m: [f"{m}r{i}" for i in range(2)] for m in MANAGERS}
LONER = "lee"  # in no pair: their calendar is leased on its own


def email(name: str) -> str:
    return f"{name}@example.com"


def config_text(database: str, endpoint: str) -> str:
    people = [*MANAGERS, *(r for m in MANAGERS for r in REPORTS[m]), LONER]
    parts = [
        f'database = "{database}"\n',
        f'[providers.work]\nkind = "google"\nauth = "none"\napi_endpoint = "{endpoint}"\n',
    ]
    for name in people:
        parts.append(
            f'[[people]]\nemail = "{email(name)}"\nname = "{name.upper()}"\n'
            'timezone = "America/New_York"\nworking_hours = "Mon-Fri 09:00-17:00"\n'
            'provider = "work"\n'
        )
    for manager in MANAGERS:
        for report in REPORTS[manager]:
            parts.append(
                f'[[pairs]]\nmanager = "{email(manager)}"\nreport = "{email(report)}"\n'
                'cadence = "weekly"\nduration = "30m"\nmin_duration = "15m"\nrebook = "auto"\n'
            )
    parts.append(
        '[daemon]\npoll_interval = "1h"\nlisten = "127.0.0.1:0"\n'
        f'lease_ttl = "{int(TTL.total_seconds() // 60)}m"\n'
    )
    return "\n".join(parts)


def seed(google: GoogleEmulator) -> dict[tuple[str, str], str]:
    """Every person's calendar and each pair's weekly 1:1; the series ids by pair."""
    for name in [*MANAGERS, *(r for m in MANAGERS for r in REPORTS[m]), LONER]:
        google.add_calendar(email(name))
    masters = {}
    for manager in MANAGERS:
        for hour, report in zip((10, 11), REPORTS[manager], strict=True):
            body = {
                "iCalUID": f"{manager}-{report}@example.com",
                "summary": f"{manager} / {report} 1:1",
                "start": {"dateTime": f"2026-09-07T{hour}:00:00", "timeZone": "America/New_York"},
                "end": {"dateTime": f"2026-09-07T{hour}:30:00", "timeZone": "America/New_York"},
                "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
                "organizer": {"email": email(manager)},
                "attendees": [
                    {"email": email(manager), "responseStatus": "accepted", "organizer": True},
                    {"email": email(report), "responseStatus": "accepted"},
                ],
            }
            masters[(manager, report)] = google.import_event(email(manager), body)["id"]
            google.import_event(email(report), body)
    return masters


def bump_everyone(google: GoogleEmulator, masters: dict[tuple[str, str], str]) -> None:
    """Today's occurrence of every 1:1 is cancelled by its manager."""
    for (manager, report), master in masters.items():
        when = TODAY[REPORTS[manager].index(report)]
        google.delete_event(email(manager), f"{master}_{when:%Y%m%dT%H%M%SZ}")


def makeups(google: GoogleEmulator, manager: str, report: str) -> list[dict]:
    prefix = f"1:1 {manager.upper()} / {report.upper()}"
    return [
        e for e in google.events(email(report))
        if e.get("status") != "cancelled" and e.get("summary", "").startswith(prefix)
    ]


class Team:
    """Workers (each with its own Store and readers) on one PostgreSQL database."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.settings: Settings = load_settings(config)
        self.opened: list[tuple[Store, dict]] = []

    def daemon(self, clock: list[datetime], name: str) -> Daemon:
        store = open_store(self.settings.database_url())
        readers = build_readers(self.settings)
        self.opened.append((store, readers))
        worker = Worker(self.settings, store, worker_id=name)
        return Daemon(self.settings, store, readers, clock=lambda: clock[0], worker=worker)

    def close(self) -> None:
        for store, readers in self.opened:
            close_readers(readers)
            store.close()


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(port=0) as emulator:
        yield emulator


@pytest.fixture
def team(tmp_path: Path, google: GoogleEmulator, postgres) -> Iterator[Team]:
    config = tmp_path / "calsync.toml"
    config.write_text(config_text(postgres.create_database(), google.url))
    opened = Team(config)
    yield opened
    opened.close()


def race(daemons: list[Daemon]) -> list[CycleResult]:
    """One cycle of every daemon at the same moment, each on its own thread."""
    return at_once(lambda daemon: daemon.cycle(), daemons, timeout=180)


def synced(result: CycleResult) -> set[str]:
    return {c.owner for c in result.calendars}


def all_calendars(team: Team) -> set[str]:
    return {p.email for p in team.settings.people}


@pytest.mark.postgres
def test_three_workers_racing_book_exactly_one_make_up_per_bump(team, google):
    masters = seed(google)
    clock = [NOW]
    daemons = [team.daemon(clock, f"w{i}") for i in range(3)]
    race(daemons)
    bump_everyone(google, masters)
    booked: Counter[str] = Counter()
    for minute in range(1, 8):  # shares settle within a few cycles; every bump is booked
        clock[0] = NOW + timedelta(minutes=minute)
        for result in race(daemons):
            booked.update(w.key for w in result.writes if w.booked_make_up)
        if len(booked) == len(masters):
            break
    clock[0] += timedelta(minutes=1)
    for result in race(daemons):  # one more round: nothing left to book
        booked.update(w.key for w in result.writes if w.booked_make_up)

    # One make-up per bump on the calendars, each booked by one worker, once.
    for manager, report in masters:
        assert len(makeups(google, manager, report)) == 1, (manager, report)
    assert len(booked) == len(masters) and set(booked.values()) == {1}
    with team.opened[0][0].transaction() as session:
        done = session.scalars(
            select(OutboxRow.key).where(OutboxRow.key.startswith("makeup|"),
                                        OutboxRow.state == "done")
        ).all()
        audit = session.execute(
            select(WriteRow.key, func.count()).where(WriteRow.key.startswith("makeup|"))
            .group_by(WriteRow.key)
        ).all()
    assert sorted(done) == sorted(booked)
    assert all(count == 1 for _key, count in audit) and len(audit) == len(masters)


@pytest.mark.postgres
def test_in_one_cycle_every_calendar_is_synced_by_exactly_one_worker(team, google):
    seed(google)
    clock = [NOW]
    daemons = [team.daemon(clock, f"w{i}") for i in range(3)]
    for minute in range(4):  # let the shares settle: joining workers get theirs
        clock[0] = NOW + timedelta(minutes=minute)
        for daemon in daemons:
            daemon.cycle()
    assert sorted(len(d.share.managers) for d in daemons) == [1, 1, 1]  # type: ignore[union-attr]

    clock[0] += timedelta(minutes=1)
    results = race(daemons)
    owners = Counter(owner for result in results for owner in synced(result))
    assert set(owners) == all_calendars(team)
    assert set(owners.values()) == {1}
    # Each worker synced exactly its groups' calendars (and the loner's, for one of them).
    homes = home_groups(team.settings)
    for daemon, result in zip(daemons, results, strict=True):
        assert daemon.share is not None
        assert {p for p, home in homes.items() if home in daemon.share.managers} <= synced(result)


@pytest.mark.postgres
def test_a_killed_workers_share_is_taken_over_after_its_lease_expires(team, google):
    masters = seed(google)
    clock = [NOW]
    survivor, doomed = team.daemon(clock, "survivor"), team.daemon(clock, "doomed")
    for minute in range(3):
        clock[0] = NOW + timedelta(minutes=minute)
        doomed.cycle()
        survivor.cycle()
    assert survivor.share is not None and doomed.share is not None
    assert survivor.share.managers and doomed.share.managers
    assert not survivor.share.managers & doomed.share.managers
    theirs = doomed.share.managers
    last_heartbeat = clock[0]

    # "doomed" is killed: no release, no more heartbeats. Its groups get bumped.
    bump_everyone(google, masters)
    clock[0] = last_heartbeat + TTL - timedelta(seconds=1)
    before = survivor.cycle()
    assert not survivor.share.managers & theirs  # still doomed's until the lease expires
    assert not synced(before) & theirs  # nor their calendars
    views = {v.worker: v for v in team_shares(team.settings, survivor.store, clock[0])}
    assert views["doomed"].alive and views["doomed"].groups == len(theirs)

    clock[0] = last_heartbeat + TTL + timedelta(seconds=1)
    after = survivor.cycle()
    assert survivor.share.managers == {email(m) for m in MANAGERS}
    assert synced(after) == all_calendars(team)
    # The bumps in the taken-over groups are made up, once, by the survivor.
    for manager, report in masters:
        assert len(makeups(google, manager, report)) == 1, (manager, report)
    views = {v.worker: v for v in team_shares(team.settings, survivor.store, clock[0])}
    assert not views["doomed"].alive and views["doomed"].groups == 0
    assert views["survivor"].calendars == len(all_calendars(team))
    assert views["survivor"].groups == len(MANAGERS)
    # /healthz says the same.
    health = survivor.health()[1]
    assert health["worker"] == {"id": "survivor", "calendars": len(all_calendars(team)),
                                "groups": len(MANAGERS)}
    workers = {w["id"]: w for w in health["workers"]}
    assert workers["doomed"]["alive"] is False and workers["doomed"]["groups"] == 0
    assert workers["survivor"]["last_heartbeat"] == clock[0].isoformat()


@pytest.mark.postgres
def test_a_worker_that_stops_cleanly_gives_its_share_back_at_once(team, google):
    seed(google)
    clock = [NOW]
    first, second = team.daemon(clock, "first"), team.daemon(clock, "second")
    for minute in range(3):
        clock[0] = NOW + timedelta(minutes=minute)
        first.cycle()
        second.cycle()
    assert first.share is not None and first.share.managers
    first.worker.release()
    clock[0] += timedelta(minutes=1)
    second.cycle()  # no TTL to wait for
    assert second.share is not None
    assert second.share.managers == {email(m) for m in MANAGERS}


def test_on_sqlite_the_one_worker_owns_everything_and_leases_nothing(tmp_path, google):
    seed(google)
    config = tmp_path / "calsync.toml"
    config.write_text(config_text(f"sqlite:///{tmp_path / 'calsync.db'}", google.url))
    team = Team(config)
    try:
        clock = [NOW]
        daemon = team.daemon(clock, "only")
        result = daemon.cycle()
        assert synced(result) == all_calendars(team)
        assert daemon.share is not None and daemon.share.everything
        store = team.opened[0][0]
        with store.transaction() as session:
            assert session.scalar(select(func.count()).select_from(LeaseRow)) == 0
        assert daemon.health()[1]["worker"]["calendars"] == len(all_calendars(team))
    finally:
        team.close()


def test_a_worker_claims_only_the_writes_of_its_groups(tmp_path, store):
    config = tmp_path / "team.toml"
    config.write_text(config_text("sqlite:///unused.db", "http://127.0.0.1:1/"))
    settings = load_settings(config)
    store.sync_config(settings)
    theirs = store.pair_id(email("m0"), email("m0r0"))
    mine = store.pair_id(email("m1"), email("m1r0"))
    store.enqueue("agenda|theirs", "agenda_block", {"x": 1}, theirs, now=NOW)
    store.enqueue("agenda|mine", "agenda_block", {"x": 1}, mine, now=NOW)
    store.enqueue("agenda|nobody's", "agenda_block", {"x": 1}, None, now=NOW)
    claimed = store.claim(NOW, TTL, managers={email("m1")})
    assert {item.key for item in claimed} == {"agenda|mine", "agenda|nobody's"}
    assert {item.key for item in store.claim(NOW, TTL)} == {"agenda|theirs"}
