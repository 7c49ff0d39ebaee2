"""Shared pieces of the weekly-email tests (and tests of those pieces).

- a team of two managers in plain data, and their calendars as neutral events;
- a real SMTP server on loopback (aiosmtpd) that records what it accepts and
  can be told to fail;
- headless Chromium, found on the machine (``.ci/run`` installs it; the tests
  never install anything): under ``CI`` a missing browser fails the test,
  elsewhere it is skipped with the reason;
- a tiny PNG decoder (zlib only), to check a screenshot is not blank.

A helper module, not a test module: its name does not start with ``test_``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from calsync.config import Settings, settings_from_dict
from calsync.engine.evaluate import pair_params, policy_params
from calsync.model import Attendee, ChangeSet, Event, EventStatus, Response
from calsync.policies import evaluate_pair
from calsync.report import IsoWeek, ManagerReport, build_manager_report
from calsync.report.schedule import evaluation_instant
from calsync.store import CalendarStatus, Store
from tests.support import missing

# -- a team of two managers ---------------------------------------------------------

# Ann manages Cid and Dee from Berlin; Bob manages Eve and Fay from New York.
PEOPLE = {
    "ann@example.com": ("Ann Arendt", "Europe/Berlin"),
    "bob@example.com": ("Bob Brown", "America/New_York"),
    "cid@example.com": ("Cid Campos", "Europe/Lisbon"),
    "dee@example.com": ("Dee Dalton", "Europe/Berlin"),
    "eve@example.com": ("Eve Evans", "America/Chicago"),
    "fay@example.com": ("Fay Foster", "America/Los_Angeles"),
}
TEAMS = {
    "ann@example.com": ["cid@example.com", "dee@example.com"],
    "bob@example.com": ["eve@example.com", "fay@example.com"],
}
# Monday 23 Nov 2026, 08:00 in New York (13:00 UTC): both managers' emails are due.
SEND_NOW = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)
# The first 1:1 of every series: Monday 7 Sep 2026 (11 weeks before the reported week).
FIRST = datetime(2026, 9, 7, 15, 0, tzinfo=UTC)
WEEKS = 14  # weekly occurrences from FIRST: 11 up to week 47, then three ahead

# What happened to each pair's weekly 1:1, oldest first (index 10 is week 47).
OUTCOMES: dict[tuple[str, str], dict[int, str]] = {
    ("ann@example.com", "cid@example.com"): {8: "cancelled", 9: "cancelled", 10: "cancelled"},
    ("ann@example.com", "dee@example.com"): {},
    ("bob@example.com", "eve@example.com"): {9: "declined_report", 10: "declined_report"},
    ("bob@example.com", "fay@example.com"): {},
}


def calendar_of(email: str) -> str:
    return f"{email.split('@')[0]}.ics"


def team_config(smtp: dict[str, Any] | None = None, **report: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "database": "sqlite:///unused.db",
        "providers": {"feeds": {"kind": "ics", "path": "feeds"}},
        "people": [
            {"email": email, "name": name, "timezone": zone, "provider": "feeds",
             "calendar": calendar_of(email)}
            for email, (name, zone) in PEOPLE.items()
        ],
        "pairs": [
            {"manager": manager, "report": report_email, "cadence": "weekly"}
            for manager, reports in TEAMS.items()
            for report_email in reports
        ],
    }
    if report or smtp is not None:
        data["report"] = {"from_address": "calsync <calsync@example.org>", **report}
    if smtp is not None:
        data["smtp"] = smtp
    return data


def team_settings(smtp: dict[str, Any] | None = None, **report: Any) -> Settings:
    return settings_from_dict(team_config(smtp, **report), source=Path("/tmp/calsync.toml"))


def pair_events(manager: str, report: str, outcomes: dict[int, str]) -> dict[str, list[Event]]:
    """Both calendars' copies of a weekly 1:1 series (master + one instance per week)."""
    uid = f"{manager.split('@')[0]}-{report.split('@')[0]}-1on1"
    first_names = f"{PEOPLE[manager][0].split()[0]} / {PEOPLE[report][0].split()[0]}"
    attendees = (Attendee(manager, Response.ACCEPTED), Attendee(report, Response.ACCEPTED))
    master = Event(
        uid=uid,
        start=FIRST,
        end=FIRST + timedelta(minutes=30),
        title=f"{first_names} 1:1",
        organizer=manager,
        attendees=attendees,
        recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO",),
        timezone="UTC",
    )
    copies: dict[str, list[Event]] = {manager: [master], report: [master]}
    for index in range(WEEKS):
        start = FIRST + timedelta(weeks=index)
        instance = replace(
            master, recurrence=(), original_start=start, start=start,
            end=start + timedelta(minutes=30),
        )
        outcome = outcomes.get(index, "held")
        if outcome == "cancelled":
            instance = replace(instance, status=EventStatus.CANCELLED)
        elif outcome == "declined_report":
            instance = replace(
                instance,
                attendees=(Attendee(manager, Response.ACCEPTED),
                           Attendee(report, Response.DECLINED)),
            )
        copies[manager].append(instance)
        copies[report].append(instance)
    return copies


def seed_team(store: Store, settings: Settings, now: datetime = SEND_NOW) -> None:
    """Store every person's calendar as a sync would have."""
    store.sync_config(settings)
    calendars: dict[str, list[Event]] = {email: [] for email in PEOPLE}
    for (manager, report), outcomes in OUTCOMES.items():
        for owner, events in pair_events(manager, report, outcomes).items():
            calendars[owner].extend(events)
    for owner, events in calendars.items():
        calendar = store.ensure_calendar("feeds", calendar_of(owner), owner)
        # Masters are shared by both copies: keep one per uid.
        unique = list({(e.uid, e.original_start): e for e in events}.values())
        store.apply_changes(calendar, ChangeSet(events=tuple(unique), cursor="c1"), now)


def report_names(manager: str) -> list[str]:
    return [PEOPLE[email][0] for email in TEAMS[manager]]


def other_names(manager: str) -> list[str]:
    return [PEOPLE[e][0] for m, reports in TEAMS.items() if m != manager for e in reports]


# -- the demo team ------------------------------------------------------------------

# Monday 23 Nov 2026, 08:00 in New York: Maria's email for 2026-W47 is due.
DEMO_MONDAY = "2026-11-23T13:00:00Z"
# Maria's reports in the demo team, in the email's order.
DEMO_REPORTS = ["Dev Patel", "Lena Fischer", "Sam Okafor", "Priya Raman", "Tom Becker",
                "Ana Souza", "Kenji Watanabe"]  # fmt: skip


# -- SMTP on loopback ---------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class Catcher:
    """An aiosmtpd handler: keeps every accepted message; ``fail_next`` refuses some first."""

    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_code: str = "451 4.3.0 Try again later"
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_code
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


@contextmanager
def smtp_server(handler: Catcher, **kwargs: Any) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 and a free port; yields the port."""
    from aiosmtpd.controller import Controller

    class Loopback(Controller):
        def _trigger_server(self) -> None:
            assert self.server is not None
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Loopback(handler, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command (skip without)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# -- headless Chromium --------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def _which_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def find_chromium() -> str:
    """Chromium's path; a missing browser fails under ``CI`` and is skipped elsewhere."""
    found = _which_chromium()
    if found is None:
        missing(
            "headless Chromium (Debian package 'chromium') is not installed;"
            " .ci/run installs it, or: apt-get install chromium",
            what="the browser test",
        )
    return found


def chromium(browser: str, workdir: Path, *args: str, timeout: float = 120) -> str:
    """Run headless Chromium with a throwaway profile and no network chatter; stdout."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--hide-scrollbars",
        f"--user-data-dir={workdir / 'chromium-profile'}", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def screenshot(browser: str, html: Path, png: Path, width: int = 760, height: int = 1600) -> None:
    chromium(
        browser, html.parent, f"--screenshot={png}", f"--window-size={width},{height}",
        html.resolve().as_uri(),
    )


def dump_dom(browser: str, html: Path) -> str:
    return chromium(browser, html.parent, "--dump-dom", html.resolve().as_uri())


# -- PNG (zlib only) ----------------------------------------------------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows of raw pixel bytes, bytes per pixel) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat = 8, b""
    width = height = bpp = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((x + p) & 0xFF for x, p in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, previous[i], up_left)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def colours(rows: list[bytes], bpp: int, step: int = 2) -> set[tuple[int, int, int]]:
    """The distinct RGB colours on every ``step``-th pixel of every ``step``-th row."""
    seen = set()
    for row in rows[::step]:
        for x in range(0, len(row) - bpp + 1, bpp * step):
            seen.add((row[x], row[x + 1], row[x + 2]))
    return seen


def hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def encode_png(width: int, height: int, pixel: Any) -> bytes:
    """A small RGB PNG using every filter type (to test the decoder): ``pixel(x, y) -> rgb``."""
    raw = bytearray()
    previous = bytes(width * 3)
    for y in range(height):
        line = bytes(c for x in range(width) for c in pixel(x, y))
        kind = y % 5
        raw.append(kind)
        raw += _filtered(kind, line, previous)
        previous = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def _filtered(kind: int, line: bytes, previous: bytes, bpp: int = 3) -> bytes:
    out = bytearray(len(line))
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        up_left = previous[i - bpp] if i >= bpp else 0
        predictor = (0, left, up, (left + up) >> 1, _paeth(left, up, up_left))[kind]
        out[i] = (line[i] - predictor) & 0xFF
    return bytes(out)


W47 = IsoWeek(2026, 47)


def synced(owner: str, error: str | None = None) -> CalendarStatus:
    when = datetime(2026, 11, 22, 12, tzinfo=UTC)
    return CalendarStatus("feeds", calendar_of(owner), owner, when, error, when if error else None)


def build(
    manager: str, calendars: list[CalendarStatus] | None = None, week: IsoWeek = W47,
    now: datetime = SEND_NOW, since: dict[tuple[str, str], datetime] | None = None,
) -> ManagerReport:
    """One manager's report for ``week``, every pair of the team evaluated (others too)."""
    settings = team_settings()
    person = settings.person(manager)
    as_of = evaluation_instant(week, person.zone, now)
    healths = []
    for pair in settings.pairs:  # every manager's pairs: the builder must keep only its own
        events = pair_events(pair.manager, pair.report, OUTCOMES[(pair.manager, pair.report)])
        healths.append(
            evaluate_pair(events, pair_params(settings, pair), policy_params(settings.policy),
                          as_of)
        )
    if calendars is None:
        calendars = [synced(email) for email in PEOPLE]
    return build_manager_report(
        person,
        {p.email: p for p in settings.people},
        settings.pairs,
        healths,
        calendars,
        week=week,
        as_of=as_of,
        policy=policy_params(settings.policy),
        generated_at=now,
        since=since,
    )
