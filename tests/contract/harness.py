"""One harness per backend, all with the same small API.

A harness owns one remote calendar (Maria's), seeded from ``History``, and
changes it the way that backend changes: ICS rewrites the file, the emulators
go through their own API (an instance deleted, patched, declined by the
attendee). Readers and writers are built from config exactly as ``calsync``
builds them, and every write goes through the ``CalendarWriter`` port.

Capabilities (``capabilities``) say which contract tests apply:

- ``incremental``: the cursor is a provider sync token that can expire
  (an ICS cursor is a content hash: there is nothing to expire);
- ``faults``: HTTP 429/5xx can be injected (ICS reads a file);
- ``write``: a ``CalendarWriter`` (ICS feeds are read-only);
- ``batch``: a ``BatchReader``.

The engine helpers are imported here and nowhere else in the suite, so their
move to ``calsync.providers.factory`` is a one-line change.
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import Settings, settings_from_dict
from calsync.engine.sync import CalendarResult, sync_all
from calsync.model import Event
from calsync.providers.base import BatchReader, CalendarReader, CalendarWriter
from calsync.providers.factory import build_readers, close_readers
from calsync.store import Store, open_store
from tests.caldav_support import (
    DavProxy,
    RadicaleServer,
    delete,
    put,
    shared_radicale,
    split_objects,
)
from tests.contract.history import (
    DEV,
    LENGTH,
    MARIA,
    NOW,
    NY_NAME,
    SERIES_UID,
    SINGLE_UID,
    History,
    Neutral,
    NewSeries,
    canonical,
    local_start,
    neutral,
    original_start,
)

PROVIDER = "work"


class Harness(ABC):
    """What every backend offers the contract; subclasses say how their remote changes."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]
    #: Why a capability is missing, for the skip message.
    lacks: ClassVar[dict[str, str]] = {}
    #: A recurrence change restates the whole series (``History.split_at``).
    restates_series: ClassVar[bool] = False

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.history = History()
        self.sleeps: list[float] = []
        self._readers: dict[str, CalendarReader] | None = None
        self._settings: Settings | None = None
        self._store: Store | None = None
        self._stores = 0
        #: Provider config on top of ``provider_config()`` (see ``reconfigure``).
        self.extra: dict[str, Any] = {}

    # -- life -------------------------------------------------------------------

    def start(self) -> None:  # noqa: B027 - a default: nothing to start for a file
        """Start whatever serves the calendar (nothing for ICS)."""

    def stop(self) -> None:
        if self._readers is not None:
            close_readers(self._readers)
        if self._store is not None:
            self._store.close()

    # -- config, readers, writers --------------------------------------------------

    @abstractmethod
    def provider_config(self) -> dict[str, Any]:
        """How this backend does it."""

    @property
    def calendar(self) -> str:
        """Maria's calendar id as the provider knows it."""
        return MARIA

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = settings_from_dict(
                {
                    "providers": {PROVIDER: {**self.provider_config(), **self.extra}},
                    "people": [
                        {"email": MARIA, "provider": PROVIDER, "timezone": NY_NAME,
                         "calendar": self.calendar},
                    ],
                },
                self.tmp / "calsync.toml",
            )  # fmt: skip
        return self._settings

    def reconfigure(self, **provider: Any) -> None:
        """Change the provider's config (e.g. ``past_days``); readers are built again."""
        if self._readers is not None:
            close_readers(self._readers)
        self._readers = self._settings = None
        self.extra = provider

    def reader(self) -> CalendarReader:
        """The reader ``calsync`` builds from config; its waits are recorded, not slept."""
        if self._readers is None:
            self._readers = build_readers(self.settings, sleep=self.sleeps.append)
        return self._readers[PROVIDER]

    def writer(self) -> CalendarWriter | None:
        built = self.reader()
        return built if isinstance(built, CalendarWriter) else None

    def batch_reader(self) -> BatchReader | None:
        built = self.reader()
        return built if isinstance(built, BatchReader) else None

    # -- syncing --------------------------------------------------------------------

    def sync(self, store: Store, now: datetime = NOW) -> CalendarResult:
        """One engine sync pass of Maria's calendar into ``store``."""
        [result] = sync_all(self.settings, store, {PROVIDER: self.reader()}, now)
        return result

    @property
    def store(self) -> Store:
        """The store this backend syncs into for the whole test."""
        if self._store is None:
            self._store = self._open()
        return self._store

    def _open(self) -> Store:
        self._stores += 1
        return open_store(f"sqlite:///{self.tmp / f'store-{self._stores}.db'}")

    @contextmanager
    def fresh_store(self) -> Iterator[Store]:
        """Another, empty store (for a fresh full sync to compare with)."""
        with self._open() as store:
            yield store

    def rows(self, store: Store) -> list[Neutral]:
        return canonical(neutral(e) for e in self.events(store))

    def events(self, store: Store) -> list[Event]:
        return store.events_of([MARIA])[MARIA]

    # -- the remote calendar ------------------------------------------------------------

    def seed(self, history: History | None = None) -> None:
        """Put the 1:1 history on the remote calendar."""
        if history is not None:
            self.history = history
        self._seed(self.history.to_ics())

    @abstractmethod
    def _seed(self, ics: str) -> None:
        """How this backend does it."""

    def cancel(self, index: int) -> None:
        """The organizer cancels occurrence ``index``."""
        self.history.cancel(index)
        self._cancel(index)

    def move(self, index: int, new_start: datetime) -> None:
        """The organizer moves occurrence ``index``, keeping its length."""
        start, end = self.history.span(index)
        self._reschedule(index, new_start, new_start + (end - start))

    def shorten(self, index: int, minutes: int) -> None:
        """The organizer shortens occurrence ``index`` to ``minutes``, same start."""
        start, _ = self.history.span(index)
        self._reschedule(index, start, start + timedelta(minutes=minutes))

    def _reschedule(self, index: int, start: datetime, end: datetime) -> None:
        self.history.reschedule(index, start, end)
        self._patch_times(index, start, end)

    def decline_as_attendee(self, index: int) -> None:
        """Dev declines occurrence ``index``; Maria's calendar shows his answer."""
        self.history.decline(index)
        self._decline(index)

    def split_series(self, index: int, new_local_time: tuple[int, int]) -> None:
        """"This and following events": from ``index`` on, a new series at another time."""
        wall = local_start(index).replace(tzinfo=None, hour=new_local_time[0],
                                          minute=new_local_time[1])  # fmt: skip
        new = self.history.split_at(index, wall, restates=self.restates_series)
        self._split(index, new)

    def delete(self, what: str) -> None:
        """The organizer deletes the whole ``"series"`` or the ``"single"`` event.

        After a split the series is both halves (``History.delete_series``): the
        new one is deleted too, each by its own id, as a calendar app deletes them.
        """
        if what == "series":
            split = self.history.split
            self.history.delete_series()
            self._delete(SERIES_UID)
            if split is not None:
                self._delete(split.uid)
        elif what == "single":
            self.history.delete_single()
            self._delete(SINGLE_UID)
        else:
            raise ValueError(what)

    def expire_cursor(self) -> None:  # noqa: B027 - a default: ICS has no cursor to expire
        """Every outstanding sync cursor is refused on its next use."""

    def inject(self, status: int, times: int) -> None:
        """The next ``times`` API calls fail with ``status`` (429 or a 5xx)."""
        raise NotImplementedError(f"{self.name} has no faults to inject")

    # Subclasses: how this backend's remote changes.
    @abstractmethod
    def _cancel(self, index: int) -> None:
        """How this backend does it."""

    @abstractmethod
    def _patch_times(self, index: int, start: datetime, end: datetime) -> None:
        """How this backend does it."""

    @abstractmethod
    def _decline(self, index: int) -> None:
        """How this backend does it."""

    @abstractmethod
    def _split(self, index: int, new: NewSeries) -> None:
        """How this backend does it."""

    @abstractmethod
    def _delete(self, uid: str) -> None:
        """How this backend does it."""


# -- ICS ----------------------------------------------------------------------------------


class IcsHarness(Harness):
    """Maria's calendar is a file; every change rewrites it from the model."""

    name = "ics"
    capabilities = frozenset()
    lacks: ClassVar[dict[str, str]] = {
        "write": "an ICS feed is read-only: there is no CalendarWriter",
        "incremental": "an ICS cursor is a content hash and the day; nothing can expire",
        "faults": "the ICS backend reads a local file: no HTTP status to inject",
        "batch": "the ICS reader fetches one calendar at a time",
    }

    @property
    def calendar(self) -> str:
        return f"{MARIA}.ics"

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "ics", "path": str(self.tmp / "calendars")}

    def _write(self) -> None:
        folder = self.tmp / "calendars"
        folder.mkdir(exist_ok=True)
        (folder / self.calendar).write_text(self.history.to_ics(), newline="")

    def _seed(self, ics: str) -> None:
        self._write()

    def _cancel(self, index: int) -> None:
        self._write()

    def _patch_times(self, index: int, start: datetime, end: datetime) -> None:
        self._write()

    def _decline(self, index: int) -> None:
        self._write()

    def _split(self, index: int, new: NewSeries) -> None:
        self._write()

    def _delete(self, uid: str) -> None:
        self._write()


# -- Google ---------------------------------------------------------------------------------


def _google_time(instant: datetime) -> dict[str, str]:
    return {"dateTime": instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "timeZone": "UTC"}


class GoogleHarness(Harness):
    """The Google emulator; changes go through its API as a Calendar client makes them."""

    name = "google"
    capabilities = frozenset({"incremental", "faults", "write", "batch"})

    def start(self) -> None:
        self.emu = GoogleEmulator(port=0, clock=lambda: NOW).start()

    def stop(self) -> None:
        super().stop()
        self.emu.stop()

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "google", "auth": "none", "api_endpoint": self.emu.url, "max_retries": 3}

    def _seed(self, ics: str) -> None:
        path = self.tmp / f"{MARIA}.ics"
        path.write_text(ics, newline="")
        assert self.emu.load_seed(path) == [MARIA]

    def _event_id(self, uid: str) -> str:
        return next(
            e["id"] for e in self.emu.events(MARIA)
            if e.get("iCalUID") == uid and not e.get("recurringEventId")
        )  # fmt: skip

    def _instance(self, index: int) -> str:
        # Google's instance ids: <master id>_<original start in UTC>.
        return f"{self._event_id(SERIES_UID)}_{original_start(index):%Y%m%dT%H%M%SZ}"

    def _cancel(self, index: int) -> None:
        self.emu.delete_event(MARIA, self._instance(index))

    def _patch_times(self, index: int, start: datetime, end: datetime) -> None:
        self.emu.patch_event(
            MARIA, self._instance(index), {"start": _google_time(start), "end": _google_time(end)}
        )

    def _decline(self, index: int) -> None:
        # Google shows the attendee's answer on the organizer's copy of the instance;
        # the emulator has no attendee calendar here, so the answer is written there.
        instance = self._instance(index)
        attendees = [
            {**a, "responseStatus": "declined"} if a.get("email") == DEV else a
            for a in self.emu.get_event(MARIA, instance).get("attendees") or []
        ]
        self.emu.patch_event(MARIA, instance, {"attendees": attendees})

    def _split(self, index: int, new: NewSeries) -> None:
        master = self._event_id(SERIES_UID)
        last = original_start(index - 1)
        kept = [line for line in self.emu.get_event(MARIA, master)["recurrence"]
                if not line.startswith("RRULE")]  # EXDATEs stay  # fmt: skip
        self.emu.patch_event(MARIA, master, {
            "recurrence": [f"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL={last:%Y%m%dT%H%M%SZ}", *kept],
        })  # fmt: skip
        self.emu.insert_event(MARIA, {
            "iCalUID": new.uid,
            "summary": "Maria / Dev 1:1",
            "start": {"dateTime": new.first_local.isoformat(), "timeZone": NY_NAME},
            "end": {"dateTime": (new.first_local + LENGTH).isoformat(), "timeZone": NY_NAME},
            "recurrence": [f"RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT={new.count}"],
            "organizer": {"email": MARIA},
            "attendees": [
                {"email": MARIA, "responseStatus": "accepted", "organizer": True},
                {"email": DEV, "responseStatus": "accepted"},
            ],
        })  # fmt: skip

    def _delete(self, uid: str) -> None:
        self.emu.delete_event(MARIA, self._event_id(uid))

    def expire_cursor(self) -> None:
        self.emu.expire_sync_tokens()

    def inject(self, status: int, times: int) -> None:
        if status == 429:
            self.emu.rate_limit(times, "rateLimitExceeded")
        else:
            self.emu.fail_5xx(times, status)


# -- Microsoft Graph ---------------------------------------------------------------------------


def _graph_time(instant: datetime) -> dict[str, str]:
    return {"dateTime": instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


class GraphHarness(Harness):
    """The Graph emulator; Dev has a mailbox, so his decline reaches Maria's copy."""

    name = "graph"
    capabilities = frozenset({"incremental", "faults", "write", "batch"})
    restates_series = True  # Exchange: see History.split_at

    def start(self) -> None:
        self.emu = GraphEmulator(port=0, auth=False, clock=lambda: NOW).start()

    def stop(self) -> None:
        super().stop()
        self.emu.stop()

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "outlook", "auth": "none", "graph_endpoint": self.emu.url,
                "max_retries": 3}  # fmt: skip

    def _seed(self, ics: str) -> None:
        for mailbox in (MARIA, DEV):
            self.emu.add_mailbox(mailbox, time_zone="Eastern Standard Time")
        path = self.tmp / f"{MARIA}.ics"
        path.write_text(ics, newline="")
        assert self.emu.load_seed(path) == [MARIA]

    def _master(self, mailbox: str = MARIA) -> dict[str, Any]:
        # The seeded series (a split adds a second master, starting later).
        first = local_start(0).date().isoformat()
        return next(e for e in self.emu.events(mailbox) if e["type"] == "seriesMaster"
                    and e["recurrence"]["range"]["startDate"] == first)  # fmt: skip

    def _instance(self, index: int, mailbox: str = MARIA) -> str:
        wanted = original_start(index).strftime("%Y-%m-%dT%H:%M:%SZ")
        master = self._master(mailbox)
        for item in self.emu.instances(mailbox, master["id"], "2026-01-01T00:00:00Z",
                                       "2028-01-01T00:00:00Z"):  # fmt: skip
            if item["originalStart"] == wanted:
                return str(item["id"])
        raise AssertionError(f"{mailbox} has no instance at {wanted}")

    def _cancel(self, index: int) -> None:
        self.emu.cancel_occurrence(MARIA, self._instance(index))

    def _patch_times(self, index: int, start: datetime, end: datetime) -> None:
        self.emu.patch_event(
            MARIA, self._instance(index), {"start": _graph_time(start), "end": _graph_time(end)}
        )

    def _decline(self, index: int) -> None:
        self.emu.decline(DEV, self._instance(index, DEV))

    def _split(self, index: int, new: NewSeries) -> None:
        master = self._master()
        recurrence = master["recurrence"]
        last = local_start(index - 1).date().isoformat()
        rng = {"type": "endDate", "startDate": recurrence["range"]["startDate"], "endDate": last}
        self.emu.patch_event(MARIA, master["id"], {"recurrence": {**recurrence, "range": rng}})
        self.emu.create_event(MARIA, {
            "subject": "Maria / Dev 1:1",
            "start": {"dateTime": new.first_local.isoformat(), "timeZone": "Eastern Standard Time"},
            "end": {"dateTime": (new.first_local + LENGTH).isoformat(),
                    "timeZone": "Eastern Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "numbered", "startDate": new.first_local.date().isoformat(),
                          "numberOfOccurrences": new.count},
            },
            "attendees": [{"type": "required", "emailAddress": {"address": DEV},
                           "status": {"response": "accepted"}}],
        })  # fmt: skip

    def _delete(self, uid: str) -> None:
        if uid == SERIES_UID:
            self.emu.delete_event(MARIA, self._master()["id"])
        elif uid == SINGLE_UID:
            single = next(e for e in self.emu.events(MARIA) if e["type"] == "singleInstance")
            self.emu.delete_event(MARIA, single["id"])
        else:  # a split's new series (Exchange gave it a uid of its own): the later master
            first = local_start(0).date().isoformat()
            new = next(e for e in self.emu.events(MARIA) if e["type"] == "seriesMaster"
                       and e["recurrence"]["range"]["startDate"] != first)  # fmt: skip
            self.emu.delete_event(MARIA, new["id"])

    def expire_cursor(self) -> None:
        self.emu.expire_delta_tokens("410")

    def inject(self, status: int, times: int) -> None:
        if status == 429:
            self.emu.throttle(times, retry_after=2)
        else:
            self.emu.fail_5xx(times, status)


# -- CalDAV ---------------------------------------------------------------------------------

_CALENDARS = itertools.count(1)


class CaldavHarness(Harness):
    """A real Radicale (one per test process, a user per harness) behind a fault proxy.

    Maria's calendar app PUTs one object per UID (the series with its
    overrides, the one-off) and DELETEs what is gone, as CalDAV clients do;
    Radicale does not schedule, so Dev's answer reaches Maria's copy the way
    an iTIP REPLY processed by her app would: her object is rewritten.
    """

    name = "caldav"
    capabilities = frozenset({"incremental", "faults", "write"})
    lacks: ClassVar[dict[str, str]] = {
        "batch": "CalDAV has no multi-calendar request: one REPORT per calendar",
    }

    #: The Radicale to use; None: the one shared by the test process.
    server: RadicaleServer | None = None

    def start(self) -> None:
        self.radicale = self.server or shared_radicale()
        self.proxy = DavProxy(self.radicale.url).start()
        self.user = f"maria-{os.getpid()}"
        self.cal_id = f"work-{next(_CALENDARS)}"
        self.radicale.calendar(self.user, self.cal_id, "Maria")
        self.written: dict[str, bytes] = {}

    def stop(self) -> None:
        super().stop()
        self.proxy.stop()

    @property
    def calendar(self) -> str:
        return f"{self.proxy.url}/{self.user}/{self.cal_id}/"

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "caldav", "url": self.proxy.url + "/", "username": self.user,
                "max_retries": 3}  # fmt: skip

    def object_url(self, uid: str) -> str:
        return f"{self.radicale.url}/{self.user}/{self.cal_id}/{quote(uid, safe='@')}.ics"

    def _write(self) -> None:
        objects = split_objects(self.history.to_ics())
        for uid, data in objects.items():
            if self.written.get(uid) != data:
                put(self.object_url(uid), data)
        for uid in set(self.written) - set(objects):
            delete(self.object_url(uid))
        self.written = objects

    def _seed(self, ics: str) -> None:
        self._write()

    def _cancel(self, index: int) -> None:
        self._write()

    def _patch_times(self, index: int, start: datetime, end: datetime) -> None:
        self._write()

    def _decline(self, index: int) -> None:
        self._write()

    def _split(self, index: int, new: NewSeries) -> None:
        self._write()

    def _delete(self, uid: str) -> None:
        self._write()

    @property
    def server_calendar(self) -> str:
        """Maria's calendar on Radicale itself (not through the proxy)."""
        return f"{self.radicale.url}/{self.user}/{self.cal_id}/"

    def expire_cursor(self) -> None:
        self.radicale.forget_sync_tokens(self.server_calendar)

    def inject(self, status: int, times: int) -> None:
        self.proxy.fail(status, times, retry_after="1" if status == 429 else None)


HARNESSES: dict[str, type[Harness]] = {
    h.name: h for h in (IcsHarness, GoogleHarness, GraphHarness, CaldavHarness)
}
BACKENDS = list(HARNESSES)
