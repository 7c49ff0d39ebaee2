"""The web app in a real browser: Debian's Chromium under Playwright, and the stage it visits.

The stage is the Google team (``google_team_support``) with its daemon on an
injected clock, a real SMTP server (aiosmtpd) for the sign-in links, and the
web app on a real loopback server. A helper module, not a test module: its
name does not start with ``test_``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from calsync_emulators.google import GoogleEmulator
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from calsync.secrets import SecretBox
from calsync.service.web.factory import web_app
from calsync.service.web.hooks import Hooks
from calsync.service.web.server import WebServer
from tests.google_team_support import RunningTeam, seed, team_config
from tests.report_support import Catcher, colours, decode_png, find_chromium, smtp_server
from tests.support import ROOT, free_port
from tests.web_support import KEY

LAUNCH_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

LENA = "lena@example.com"
# Lena is in Maria's team; which pairs she is in, each test's config says.
LENA_PERSON = """
[[people]]
email = "lena@example.com"
name = "Lena"
timezone = "Europe/Berlin"
provider = "work"
"""

# Mail and the web app, on loopback; appended to the team's config.
WEB_CONFIG = """
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false

[report]
from_address = "calsync <calsync@example.org>"

[web]
public_url = "{public}"
listen = "127.0.0.1:{web_port}"
"""


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright (its own browser download is never used)."""
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def shots_dir(tmp_path: Path) -> Path:
    """Where pictures go: ``CALSYNC_SCREENSHOTS`` (how docs/ is made), else ``tmp_path``."""
    wanted = os.environ.get("CALSYNC_SCREENSHOTS")
    folder = (ROOT / wanted) if wanted else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def photograph(target: Page | Locator, png: Path) -> None:
    """A screenshot of a page or an element, checked to be a picture with something on it."""
    if isinstance(target, Page):
        target.screenshot(path=str(png), full_page=True)
    else:
        target.screenshot(path=str(png))
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert width > 300 and height > 100
    assert len(colours(rows, bpp)) > 20, f"{png.name} looks blank"


class BrowserStage(RunningTeam):
    """Maria and Dev's 1:1 on ``google``, plus ``calendars``, served to a browser.

    ``people`` is config text for the other people and pairs; ``rebook`` the
    pair's setting. There is no agenda url_template: every occurrence links to
    the pair's page. Pushes the web app receives are kept in ``woken``, as
    ``calsync run`` would wake the daemon for that calendar. Use it in a
    ``with``: leaving stops the web app, the daemon's readers and the SMTP server.
    """

    def __init__(self, tmp_path: Path, google: GoogleEmulator, catcher: Catcher, start: datetime,
                 *, people: str, calendars: Sequence[str], rebook: str = "auto") -> None:
        self.google, self.catcher = google, catcher
        self._closing = ExitStack()
        try:
            self._stage(tmp_path, start, people, calendars, rebook)
        except BaseException:
            self._closing.close()  # what started so far stops again
            raise

    def _stage(self, tmp_path: Path, start: datetime, people: str, calendars: Sequence[str],
               rebook: str) -> None:
        google = self.google
        smtp_port = self._closing.enter_context(smtp_server(self.catcher))
        self.master = seed(google)
        for calendar in calendars:
            google.add_calendar(calendar)
        web_port = free_port()
        self.url = f"http://127.0.0.1:{web_port}"
        config = tmp_path / "calsync.toml"
        config.write_text(
            team_config(f"sqlite:///{tmp_path / 'calsync.db'}", google.url, rebook=rebook,
                        agenda_template=False)
            + people + WEB_CONFIG.format(smtp_port=smtp_port, public=self.url, web_port=web_port)
        )
        super().__init__(config, start)
        self._closing.callback(super().close)
        self.start = start
        self.store.sync_config(self.settings)
        self.woken: list[tuple[str, str]] = []
        hooks = Hooks(b"push secret", lambda: (True, {}),
                      lambda provider, calendar: self.woken.append((provider, calendar)))
        app = web_app(self.settings, self.store, hooks, SecretBox(KEY), self.clock)
        assert self.settings.web.listen is not None
        self.server = WebServer(self.settings.web.listen, app).start()
        self._closing.callback(self.server.stop)
        assert self.server.url == self.url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closing.close()

    def page_of(self, manager: str, report: str) -> str:
        """The pair's page, full URL."""
        return f"{self.url}/1on1/{self.store.page_id(manager, report, self.start)}"

    def link_for(self, email: str) -> str:
        """The newest sign-in link mailed to ``email``."""
        for received in reversed(self.catcher.received):
            if email in received.rcpt_tos:
                found = re.search(r"https?://\S+/signin/link/\S+",
                                  received.message.get_content())
                assert found
                return found.group(0)
        raise AssertionError(f"no sign-in mail reached {email}")

    def sign_in(self, page: Page, email: str) -> None:
        """Sign ``email`` in on ``page`` by mouse: ask for the link, follow it, continue."""
        page.goto(f"{self.url}/signin")
        page.get_by_label("Work email").fill(email)
        page.get_by_role("button", name="Email me a sign-in link").click()
        page.get_by_text("a sign-in link is on its way").wait_for()
        page.goto(self.link_for(email))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{self.url}/")
