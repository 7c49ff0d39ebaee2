"""Maria and her report Dev on the Google emulator: their config, calendars and daemon.

The daemon, series-setup, booking, nudge, link and browser tests all start from
this team; it lives here rather than in one of those test modules so that no
test module imports another. A helper module, not a test module: its name does
not start with ``test_``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from calsync_emulators.google import GoogleEmulator

from calsync.config import Settings, load_settings
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import CycleResult, Daemon
from calsync.store import Store, open_store
from tests.support import Clock

MARIA, DEV = "maria@example.com", "dev@example.com"
UID = "maria-dev-1on1@example.com"
# Monday 23 Nov 2026, 08:00 in New York; the 1:1 is at 10:00 every Monday.
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

_CONFIG = """
database = "{database}"

[providers.work]
kind = "google"
auth = "none"
api_endpoint = "{endpoint}"

[[people]]
email = "maria@example.com"
name = "Maria"
timezone = "America/New_York"
working_hours = "Mon-Fri 09:00-17:00"
provider = "work"

[[people]]
email = "dev@example.com"
name = "Dev"
timezone = "Europe/Berlin"
working_hours = "Mon-Fri 09:00-18:00"
provider = "work"

[[pairs]]
manager = "maria@example.com"
report = "dev@example.com"
cadence = "weekly"
duration = "30m"
{pair_extra}
{agenda}
[daemon]
poll_interval = "1h"
listen = "127.0.0.1:0"
{daemon_extra}
"""
_AGENDA = '[agenda]\nurl_template = "https://docs.example.com/1on1/{pair}"\n'


def team_config(database: str, endpoint: str, *, rebook: str | None = "auto",
                setup: str | None = None, agenda_template: bool = True,
                daemon_extra: str = "") -> str:
    """The team's ``calsync.toml``: one weekly 30-minute pair, polled hourly.

    ``rebook`` (with a 15-minute floor) and ``setup`` are the pair's settings,
    left out when None; without ``agenda_template`` every occurrence links to
    the pair's own page instead of the agenda doc.
    """
    pair = []
    if rebook is not None:
        pair += ['min_duration = "15m"', f'rebook = "{rebook}"']
    if setup is not None:
        pair.append(f'setup = "{setup}"')
    return _CONFIG.format(
        database=database, endpoint=endpoint, pair_extra="\n".join(pair),
        agenda=_AGENDA if agenda_template else "", daemon_extra=daemon_extra,
    )


def write_config(tmp_path: Path, google: GoogleEmulator, database: str | None = None, *,
                 rebook: str | None = "auto", setup: str | None = None,
                 agenda_template: bool = True, daemon_extra: str = "") -> Path:
    """``tmp_path/calsync.toml`` for the team on ``google``; the rest as ``team_config``."""
    path = tmp_path / "calsync.toml"
    path.write_text(team_config(
        database or f"sqlite:///{tmp_path / 'calsync.db'}", google.url, rebook=rebook,
        setup=setup, agenda_template=agenda_template, daemon_extra=daemon_extra,
    ))
    return path


def seed(google: GoogleEmulator) -> str:
    """Both calendars with the 1:1 (Mondays 10:00 New York since 7 Sep 2026); its id."""
    google.add_calendar(MARIA)
    google.add_calendar(DEV)
    body = {
        "iCalUID": UID,
        "summary": "Maria / Dev 1:1",
        "description": "Our notes live in the agenda doc.",
        "start": {"dateTime": "2026-09-07T10:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-09-07T10:30:00", "timeZone": "America/New_York"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        "organizer": {"email": MARIA},
        "attendees": [
            {"email": MARIA, "responseStatus": "accepted", "organizer": True},
            {"email": DEV, "responseStatus": "accepted"},
        ],
    }
    master = google.import_event(MARIA, body)
    google.import_event(DEV, body)
    # A busy Monday for Maria: the make-up must go around these.
    google.insert_event(MARIA, {
        "summary": "Budget review",
        "start": {"dateTime": "2026-11-23T16:30:00Z"}, "end": {"dateTime": "2026-11-23T17:00:00Z"},
    })
    return master["id"]


def cancel(google: GoogleEmulator, master_id: str, when: datetime) -> None:
    """Maria cancels the occurrence of the 1:1 that starts at ``when``."""
    google.delete_event(MARIA, f"{master_id}_{when:%Y%m%dT%H%M%SZ}")


def makeups(google: GoogleEmulator, calendar: str) -> list[dict]:
    """The live make-ups calsync booked on ``calendar``."""
    return [
        e for e in google.events(calendar)
        if e.get("status") != "cancelled" and e.get("summary", "").startswith("1:1 Maria / Dev")
    ]


def one_cycle(config: Path, now: datetime = NOW) -> CycleResult:
    """One daemon cycle in a fresh process state, as ``calsync run --once`` does it."""
    settings = load_settings(config)
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    daemon = Daemon(settings, store, readers, clock=lambda: now)
    try:
        return daemon.cycle()
    finally:
        daemon.worker.release()  # as `calsync run --once` does: the share is free at once
        close_readers(readers)
        store.close()


class RunningTeam:
    """The daemon over a written config, on a clock the test moves: ``calsync run``'s state."""

    def __init__(self, config: Path, start: datetime) -> None:
        self.settings: Settings = load_settings(config)
        self.clock = Clock(start)
        self.readers = build_readers(self.settings)
        self.open()

    def open(self) -> None:
        """A new store and daemon on the same database: what a restart is."""
        self.store: Store = open_store(self.settings.database_url())
        self.daemon = Daemon(self.settings, self.store, self.readers, clock=self.clock)

    def restart(self) -> None:
        self.store.close()
        self.open()

    def cycle(self, now: datetime) -> None:
        self.clock.now = now
        result = self.daemon.cycle()
        assert result.ok, result

    def close(self) -> None:
        close_readers(self.readers)
        self.store.close()
