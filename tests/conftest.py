"""Shared fixtures; plain helpers are in ``tests/support.py``.

Databases: ``store_url`` runs a test on SQLite (a temporary file) and on a
real PostgreSQL server that the suite starts once (``postgres``) in a
throwaway directory and stops at the end; each test gets a fresh database.

Also: the demo team (``team``), an injected clock (``clock``), the Google and
Graph emulators on loopback (``google``, ``graph``), and an
SMTP handler that records what it accepts (``catcher``).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator
from hypothesis import settings
from playwright.sync_api import expect

from calsync.store import Store, open_store
from tests.caldav_support import RadicaleServer, shared_radicale
from tests.report_support import Catcher
from tests.support import ROOT, Clock, free_port, missing

# CI must not pass or fail by the luck of a draw: there, every property test
# runs the same examples. Locally they stay random, to keep finding new cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Browser assertions wait for the page, they do not time it: on two shared
# cores a page that renders in 1 s alone can take several under load, and
# Playwright's default 5 s turns that into a failure that says nothing.
expect.set_options(timeout=20_000)

# -- PostgreSQL -----------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's layout."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(p) for p in versions),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with trust authentication."""

    def __init__(self, bindir: Path, runas: list[str]) -> None:
        self.bindir = bindir
        self.runas = runas
        self.port = 0
        # Not under pytest's tmp dir: when we are root the server runs as
        # 'postgres', which must be able to reach its directory. In memory when
        # possible: a fresh database per test is then cheap even on a busy disk.
        shm = "/dev/shm"
        where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        self.base = Path(tempfile.mkdtemp(prefix="calsync-pg-", dir=where))
        self.data = self.base / "data"
        if runas:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
        self._counter = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [*self.runas, *args]
        done = subprocess.run(
            command, cwd=self.base, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            log = self.base / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{tail}"
            )

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--no-locale",
            "--no-sync",
        )  # fmt: skip
        # Durability is pointless for a throwaway server and costs seconds.
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.base}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        for attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "start", "-w", "-t", "30",
                    "-D", str(self.data),
                    "-l", str(self.base / "log"),
                    "-o", f"{options} -p {self.port}",
                )  # fmt: skip
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "stop", "-m", "fast", "-D", str(self.data))
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        name = name or f"t_{next(self._counter)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``, even if a connection was left open."""
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; skipped (failed on CI) without binaries."""
    bindir = _postgres_bindir()
    runas: list[str] = []
    reason = None
    if bindir is None:
        reason = "PostgreSQL binaries (initdb, pg_ctl) not found on PATH or /usr/lib/postgresql"
    elif os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the 'postgres' system user.
        runas = ["runuser", "-u", "postgres", "--"]
        if not _user_exists("postgres") or shutil.which("runuser") is None:
            reason = "running as root, and no 'postgres' user (or runuser) to run PostgreSQL as"
    if reason is not None:
        missing(reason, what="the PostgreSQL tests")
    assert bindir is not None
    server = PostgresServer(bindir, runas)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """One database shared by the session (tests that need isolation use ``store_url``)."""
    return postgres.create_database("calsync")


# -- stores ---------------------------------------------------------------------


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calsync.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened (migrated) store on a fresh database, closed after the test."""
    with open_store(store_url) as opened:
        yield opened


# -- the demo team --------------------------------------------------------------

@pytest.fixture
def team(tmp_path: Path) -> Path:
    """The demo team's config and ICS calendars, copied so a test may change them."""
    calendars = tmp_path / "calendars"
    shutil.copytree(ROOT / "calsync" / "demo" / "calendars", calendars)
    text = (ROOT / "config" / "demo.toml").read_text()
    text = re.sub(r"(?m)^database\s*=.*$", 'database = "sqlite:///state/calsync.db"', text)
    text = re.sub(r"(?m)^path\s*=.*$", 'path = "calendars"', text)
    config = tmp_path / "calsync.toml"
    config.write_text(text)
    return config


# -- time and the emulators -------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    """A clock to inject, at the demo's "now" until the test moves it."""
    return Clock()


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    """The Google Calendar emulator on a free loopback port, with no calendars yet."""
    with GoogleEmulator(port=0) as emulator:
        yield emulator


@pytest.fixture
def graph(clock: Clock) -> Iterator[GraphEmulator]:
    """The Microsoft Graph emulator on loopback, on ``clock``, with no mailboxes yet."""
    with GraphEmulator(port=0, clock=clock) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def radicale() -> RadicaleServer:
    """A real Radicale on loopback, started once per test process (the contract harness
    shares it); each test makes its own calendars on it."""
    return shared_radicale()


# -- SMTP -----------------------------------------------------------------------


@pytest.fixture
def catcher() -> Catcher:
    """Records the messages an SMTP server on loopback accepts (``smtp_server``)."""
    return Catcher()
