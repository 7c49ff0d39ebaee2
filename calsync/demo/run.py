"""`calsync demo`: the sample team, part of it served by the built-in emulators.

The demo config reads every calendar from ICS files. Here some people are
moved onto the Google Calendar API emulator and others onto the Microsoft
Graph emulator, and one onto a real CalDAV server (Radicale, started on
loopback when it is installed), each seeded with their same calendar, so the
demo exercises the real provider paths (google-api-python-client and httpx
over HTTP, sync tokens, delta links, batches, CalDAV sync-collection) and
still shows the same team.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import caldav
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import CaldavProvider, GoogleProvider, IcsProvider, OutlookProvider, Settings
from calsync.engine.actions import UpdateAgenda
from calsync.providers.base import CalendarReader
from calsync.providers.caldav.mapping import split_calendar
from calsync.service.daemon import Daemon
from calsync.store import Store

# The manager and two reports sync through the Google emulator; the rest stay on ICS.
ON_GOOGLE = ("maria@example.com", "dev@example.com", "lena@example.com")
GOOGLE = "google-emulator"
# Two reports sync through the Microsoft Graph emulator (mailbox = email).
ON_GRAPH = ("sam@example.com", "tom@example.com")
GRAPH = "graph-emulator"
# One report's calendar lives on a CalDAV server: a Radicale the demo starts.
ON_CALDAV = ("priya@example.com",)
CALDAV = "caldav-radicale"


@contextmanager
def on_emulators(
    settings: Settings,
) -> Iterator[tuple[Settings, list[str], GoogleEmulator]]:
    """The demo settings with ``ON_GOOGLE`` people on a running, seeded Google emulator
    and ``ON_GRAPH`` people on a running, seeded Microsoft Graph emulator.

    Yields the settings, lines describing where each calendar comes from, and
    the Google emulator (the demo then bumps a 1:1 in it).
    """
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="calsync-demo-"))
        emulator = stack.enter_context(GoogleEmulator(port=0))
        graph = stack.enter_context(GraphEmulator(port=0, auth=False))
        radicale = stack.enter_context(demo_radicale(Path(tmp) / "radicale"))
        people = []
        on_caldav: list[str] = []
        for person in settings.people:
            provider = settings.providers[person.provider]
            if person.email in ON_CALDAV and radicale and isinstance(provider, IcsProvider):
                source = settings.path(provider.path) / (person.calendar or person.email)
                url = radicale.seed(person.email.split("@")[0], person.display,
                                    source.read_bytes())  # fmt: skip
                people.append(person.model_copy(update={"provider": CALDAV, "calendar": url}))
                on_caldav.append(f"{person.email}: CalDAV, calendar {url} on a Radicale server "
                                 "started for the demo")  # fmt: skip
                continue
            on = GOOGLE if person.email in ON_GOOGLE else GRAPH if person.email in ON_GRAPH else ""
            if not on or not isinstance(provider, IcsProvider):
                people.append(person)
                continue
            source = settings.path(provider.path) / (person.calendar or person.email)
            # The emulators name an ICS-seeded calendar after its file: use the email.
            seeded = Path(tmp) / on / f"{person.email}.ics"
            seeded.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, seeded)
            (emulator if on == GOOGLE else graph).load_seed(seeded)
            people.append(person.model_copy(update={"provider": on, "calendar": None}))
        providers = {
            **settings.providers,
            GOOGLE: GoogleProvider(kind="google", auth="none", api_endpoint=emulator.url),
            GRAPH: OutlookProvider(kind="outlook", auth="none", graph_endpoint=graph.url),
        }
        if radicale:
            providers[CALDAV] = CaldavProvider(kind="caldav", url=radicale.url + "/",
                                               username="calsync")  # fmt: skip
        lines = [
            f"{', '.join(ON_GOOGLE)}: Google Calendar API emulator at {emulator.url}",
            f"{', '.join(ON_GRAPH)}: Microsoft Graph emulator at {graph.url}",
            *on_caldav,
            *([] if radicale else [
                f"{', '.join(ON_CALDAV)}: an ICS file, not CalDAV: Radicale is not installed "
                "(pip install radicale, or make demo, which installs it)"]),
            "everyone else: ICS files under "
            + ", ".join(
                str(settings.path(p.path).resolve()) for p in settings.providers.values()
                if isinstance(p, IcsProvider)
            ),
        ]
        updated = settings.model_copy(update={"people": people, "providers": providers})
        yield updated, lines, emulator


class DemoRadicale:
    """A Radicale on 127.0.0.1 (no login: ``--auth-type none``) storing into ``folder``.

    ``extra`` is passed on to Radicale (the tests expire sync tokens with it).
    """

    def __init__(self, folder: Path, extra: Sequence[str] = ()) -> None:
        self.folder = folder
        self.extra = list(extra)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / "radicale.log"
        for _ in range(3):  # the free port may be taken between probe and bind
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "radicale", "--config", "",
                     "--server-hosts", f"127.0.0.1:{self.port}", "--auth-type", "none",
                     "--storage-filesystem-folder", str(self.folder / "collections"),
                     "--logging-level", "warning", *self.extra],
                    stdout=log, stderr=log,
                )  # fmt: skip
            if self._ready():
                return self
            self.stop()
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"Radicale did not start:\n{tail}")

    def _ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def seed(self, user: str, name: str, ics: bytes) -> str:
        """A calendar named ``name`` for ``user``, holding the objects of ``ics`` as a
        calendar app would store them (one per UID), put through the caldav client; its URL."""
        with caldav.DAVClient(self.url + "/", username=user, password="demo") as client:
            calendar = client.principal().make_calendar(name=name, cal_id="calendar")
            for data in split_calendar(ics).values():
                calendar.add_event(data.decode(), no_overwrite=True, increase_seqno=False)
            return str(calendar.url)


def radicale_installed() -> bool:
    """Radicale comes with the test extras (``make demo`` installs them), not with calsync."""
    return importlib.util.find_spec("radicale") is not None


@contextmanager
def demo_radicale(folder: Path) -> Iterator[DemoRadicale | None]:
    """A running Radicale, or None when it is not installed (the demo then says so)."""
    if not radicale_installed():
        yield None
        return
    server = DemoRadicale(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# Monday 23 Nov 2026, 08:00 in New York: Maria looks at her week.
BUMP_NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
# Dev's 1:1 on Tuesday 24 Nov, 09:00 New York.
BUMPED = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def bump_and_make_up(
    settings: Settings,
    store: Store,
    readers: Mapping[str, CalendarReader],
    emulator: GoogleEmulator,
) -> list[str]:
    """Maria cancels Tuesday's 1:1 with Dev; one daemon cycle makes it up. What happened."""
    manager, report = ON_GOOGLE[0], ON_GOOGLE[1]
    instances = emulator.list_events(manager, singleEvents=True, maxResults=2500)["items"]
    bumped = next(
        item for item in instances
        if "Dev" in item.get("summary", "") and "1:1" in item.get("summary", "")
        and datetime.fromisoformat(item["originalStartTime"]["dateTime"]) == BUMPED
    )
    emulator.delete_event(manager, bumped["id"])
    zone = settings.person(manager).zone
    when = BUMPED.astimezone(zone)
    lines = [f"Monday morning, Maria cancels Tuesday's 1:1 with Dev "
             f"({when:%a} {when.day} {when:%b} {when:%H:%M}). One daemon cycle later:"]
    result = Daemon(settings, store, readers, clock=lambda: BUMP_NOW).cycle()
    made = [write.key for write in result.writes if write.booked_make_up]
    for calendar in (manager, report):
        for event in emulator.events(calendar):
            if event.get("status") == "cancelled" or "make-up" not in event.get("summary", ""):
                continue
            start = datetime.fromisoformat(event["start"]["dateTime"]).astimezone(zone)
            end = datetime.fromisoformat(event["end"]["dateTime"]).astimezone(zone)
            agenda = next((ln for ln in event.get("description", "").splitlines()
                           if ln.startswith("http")), "none")
            lines.append(f"  \u2713 {calendar}: \u201c{event['summary']}\u201d")
            lines.append(f"      {start:%a %d %b %H:%M}\u2013{end:%H:%M} New York time; "
                         f"agenda {agenda}")
    agenda_writes = sum(1 for write in result.writes
                        if write.outcome == "done" and write.kind == UpdateAgenda.KIND)
    lines.append(f"  {len(made)} make-up booked, {agenda_writes} agenda links added to the "
                 "pairs' series; a second cycle would change nothing.")
    return lines
