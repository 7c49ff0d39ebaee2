"""A small team on the web app, in-process: settings, a record, a clock, sign-in helpers.

A helper module, not a test module: its name does not start with ``test_``.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from calsync.config import Settings, settings_from_dict
from calsync.secrets import SecretBox
from calsync.service.web.factory import web_app
from calsync.service.web.hooks import Hooks
from calsync.service.web.server import WebServer
from calsync.store import Store, StoredOccurrence
from tests.support import Clock

MARIA, DEV, LENA, BOSS, EVE = (
    "maria@example.com", "dev@example.com", "lena@example.com", "boss@example.com",
    "eve@example.com",
)
# Mondays 15:00 UTC, weekly; "now" is Friday 20 Nov 2026, 21:00 UTC.
FIRST = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
HALF = timedelta(minutes=30)
KEY = b"BLBoTimTYm3FbGjZ6_Zyu3eMCEFMcuW8rn5VHLS08w0="  # a test key, not a secret


def team_settings(tmp_path: Path, **web: Any) -> Settings:
    people = [(MARIA, "Maria Chen", "America/New_York"), (DEV, "Dev Patel", "Asia/Kolkata"),
              (LENA, "Lena Fischer", "Europe/Berlin"), (EVE, "Eve Evans", "UTC")]
    return settings_from_dict(
        {
            "providers": {"f": {"kind": "ics", "path": "feeds"}},
            "people": [{"email": e, "name": n, "timezone": z, "provider": "f"}
                       for e, n, z in people],
            "pairs": [{"manager": MARIA, "report": DEV}, {"manager": MARIA, "report": LENA}],
            "report": {"from_address": "calsync <calsync@example.org>"},
            "smtp": {"host": "127.0.0.1", "port": 2525, "starttls": False},
            "web": {"admins": [BOSS], **web},
        },
        source=tmp_path / "calsync.toml",
    )


def weekly_record(statuses: list[str], first: datetime = FIRST) -> list[StoredOccurrence]:
    return [
        StoredOccurrence(first + i * WEEK, first + i * WEEK, first + i * WEEK + HALF, status)
        for i, status in enumerate(statuses)
    ]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    def __call__(self, message: EmailMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def link_for(self, email: str) -> str:
        for message in reversed(self.messages):
            if message["To"] == email:
                body = message.get_content()
                found = re.search(r"https?://\S+/signin/link/\S+", body)
                assert found, body
                return found.group(0)
        raise AssertionError(f"no sign-in mail to {email}")


class Team:
    """The app on a real loopback server, its store, clock and mailbox."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self.mailbox = Mailbox()
        store.sync_config(settings)
        box = SecretBox(KEY)
        hooks = Hooks(b"push secret", lambda: (True, {}))
        app = web_app(settings, store, hooks, box, clock, send_mail=self.mailbox)
        self.server = WebServer("127.0.0.1:0", app).start()
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)

    def page(self, manager: str = MARIA, report: str = DEV) -> str:
        return "/1on1/" + self.store.page_id(manager, report, NOW)

    def sign_in(self, email: str) -> httpx.Client:
        client = self.client()
        csrf_of(client, "/signin")
        token = csrf_of(client, "/signin")
        answer = client.post("/signin/email", data={"email": email, "csrf": token, "next": "/"})
        assert answer.status_code == 200, answer.text
        link = self.mailbox.link_for(email)
        path = link.split(self.url, 1)[1] if link.startswith(self.url) else link
        token = csrf_of(client, path)
        answer = client.post(path.split("?")[0], data={"csrf": token, "next": "/"})
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:300])
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)
