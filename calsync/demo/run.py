"""`calsync demo`: the sample team, part of it served by the built-in emulators.

The demo config reads every calendar from ICS files. Here some people are
moved onto the Google Calendar API emulator and others onto the Microsoft
Graph emulator, each seeded with their same calendar, so the demo exercises
the real provider paths (google-api-python-client and httpx over HTTP, sync
tokens, delta links, batches) and still shows the same team.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import GoogleProvider, IcsProvider, OutlookProvider, Settings
from calsync.engine.actions import UpdateAgenda
from calsync.providers.base import CalendarReader
from calsync.service.daemon import Daemon
from calsync.store import Store

# The manager and two reports sync through the Google emulator; the rest stay on ICS.
ON_GOOGLE = ("maria@example.com", "dev@example.com", "lena@example.com")
GOOGLE = "google-emulator"
# Two reports sync through the Microsoft Graph emulator (mailbox = email).
ON_GRAPH = ("sam@example.com", "tom@example.com")
GRAPH = "graph-emulator"


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
        people = []
        for person in settings.people:
            provider = settings.providers[person.provider]
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
        lines = [
            f"{', '.join(ON_GOOGLE)}: Google Calendar API emulator at {emulator.url}",
            f"{', '.join(ON_GRAPH)}: Microsoft Graph emulator at {graph.url}",
            "everyone else: ICS files under "
            + ", ".join(
                str(settings.path(p.path).resolve()) for p in settings.providers.values()
                if isinstance(p, IcsProvider)
            ),
        ]
        updated = settings.model_copy(update={"people": people, "providers": providers})
        yield updated, lines, emulator


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
