"""The 1:1 pages in a real browser, end to end on the Google emulator.

Playwright drives Debian's Chromium (``executable_path``: Playwright's own
browser download is not used). The web app is a real uvicorn server on
loopback; the sign-in links go through a real SMTP server (aiosmtpd) on
loopback; the calendars live in the Google emulator and the record comes from
real daemon cycles on an injected clock shared by the daemon and the pages.

One story, in order: Maria signs in by email link with the keyboard only and
adds topics; Dev, in a second browser context, sees them and marks one
discussed; the 1:1 passes and the rest carries over; Maria cancels the next
one in her calendar, a daemon cycle books the make-up and the agenda follows
it; Dev completes an action item; Lena, in the team but not in the pair, gets
403; a form without its CSRF token is refused.

Each page is also photographed. ``CALSYNC_SCREENSHOTS=docs`` (a directory)
keeps the pictures there, which is how the README's ``docs/web-*.png`` are
made; otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser_support import LENA, LENA_PERSON, BrowserStage, photograph, shots_dir
from tests.google_team_support import DEV, MARIA, cancel, makeups
from tests.report_support import Catcher

# Thursday 19 Nov 2026, 12:00 UTC; the 1:1 is Mondays 10:00 New York (15:00 UTC).
START = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NEXT_MONDAY = MONDAY + timedelta(days=7)


class Stage(BrowserStage):
    """The team with Lena, who is not in the pair."""

    def __init__(self, tmp_path: Path, google: GoogleEmulator, catcher: Catcher) -> None:
        super().__init__(tmp_path, google, catcher, START, people=LENA_PERSON, calendars=[LENA])

    def page(self) -> str:
        return self.page_of(MARIA, DEV)


@pytest.fixture
def stage(tmp_path: Path, google: GoogleEmulator, catcher: Catcher) -> Iterator[Stage]:
    with Stage(tmp_path, google, catcher) as running:
        yield running


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus: it is reachable from the keyboard."""
    for _ in range(limit):
        if target.evaluate("node => node === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab within {limit} presses")


def test_the_one_on_one_page_end_to_end_in_chromium(
    stage: Stage, browser: Browser, tmp_path: Path
) -> None:
    shots = shots_dir(tmp_path)
    stage.cycle(START)  # the series is read, the record written, the agenda block linked
    series = stage.google.get_event(MARIA, stage.master)
    assert stage.page() in series["description"]

    # -- Maria signs in by email link and adds a topic, with the keyboard only ----------
    maria_context = browser.new_context(viewport={"width": 1000, "height": 900})
    maria = maria_context.new_page()
    maria.goto(stage.url + "/")  # no session: off to sign-in
    assert maria.url.startswith(f"{stage.url}/signin?next=")
    photograph(maria, shots / "web-signin.png")
    email = maria.get_by_label("Work email")
    tab_to(maria, email)
    maria.keyboard.type(MARIA)
    tab_to(maria, maria.get_by_role("button", name="Email me a sign-in link"))
    maria.keyboard.press("Enter")
    expect(maria.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    [mail] = [r for r in stage.catcher.received if MARIA in r.rcpt_tos]
    assert mail.message["Subject"] == "Your calsync sign-in link"
    maria.goto(stage.link_for(MARIA))
    tab_to(maria, maria.get_by_role("button", name="Continue"))
    maria.keyboard.press("Enter")
    maria.wait_for_url(f"{stage.url}/")
    pair_link = maria.get_by_role("link", name="Maria / Dev")
    tab_to(maria, pair_link)
    maria.keyboard.press("Enter")
    maria.wait_for_url(stage.page())
    expect(maria.get_by_role("heading", level=2).first).to_have_text(
        "Next 1:1 · Mon 23 Nov 2026, 10:00")
    for title in ("Promotion path", "Hiring plan"):
        tab_to(maria, maria.get_by_label("New topic"))
        maria.keyboard.type(title)
        maria.keyboard.press("Enter")
        expect(maria.locator(".topics .topic-title").last).to_have_text(title)
    # An action item for Dev, by label.
    maria.get_by_label("New action item").fill("Send the budget")
    maria.get_by_label("Owner").select_option(DEV)
    maria.get_by_label("Due").fill("2026-11-25")
    maria.get_by_role("button", name="Add", exact=True).click()
    expect(maria.locator("#actions .topic-title")).to_have_text(["Send the budget"])

    # -- Dev, in a second browser context, sees them and marks one discussed ------------
    dev_context = browser.new_context(viewport={"width": 420, "height": 900})  # a phone
    dev = dev_context.new_page()
    stage.sign_in(dev, DEV)
    dev.goto(stage.page())
    expect(dev.locator("#agenda .topic-title")).to_have_text(["Promotion path", "Hiring plan"])
    expect(dev.get_by_role("heading", level=2).first).to_have_text(
        "Next 1:1 · Mon 23 Nov 2026, 16:00")  # in Dev's own zone (Berlin)
    stage.clock.now = MONDAY + timedelta(minutes=10)  # during the 1:1
    dev.get_by_role("button", name="Mark “Promotion path” discussed").click()
    promotion = dev.locator("#agenda li.topic", has_text="Promotion path")
    expect(promotion.locator(".chip")).to_have_text("discussed · marked by Dev")
    maria.reload()
    expect(maria.get_by_role("button", name="Mark “Promotion path” not discussed")).to_be_visible()

    # -- The 1:1 is over: what was not discussed carries over to the next one ----------
    stage.cycle(MONDAY + timedelta(hours=6))
    maria.reload()
    expect(maria.get_by_role("heading", level=2).first).to_have_text(
        "Next 1:1 · Mon 30 Nov 2026, 10:00")
    agenda = maria.locator("#agenda")
    expect(agenda.locator(".topic-title")).to_have_text(["Hiring plan"])
    expect(agenda.locator(".carried")).to_have_text("carried over since Mon 23 Nov 2026")
    past = maria.locator("#history article").first
    expect(past.locator("h3")).to_contain_text("Mon 23 Nov 2026, 10:00")
    expect(past.locator("h3 .chip")).to_have_text("held")
    expect(past.locator(".topics .topic-title")).to_have_text(["Promotion path"])
    expect(past.locator(".actions .topic-title")).to_have_text(["Send the budget"])
    maria.get_by_label("Shared notes").first.fill("Agreed: Q1 goals by Friday.")
    maria.get_by_role("button", name="Save shared notes").first.click()

    # -- Maria cancels the next one in her calendar; the daemon books the make-up -------
    cancel(stage.google, stage.master, NEXT_MONDAY)
    stage.cycle(NEXT_MONDAY - timedelta(hours=2))
    [made] = makeups(stage.google, MARIA)
    assert stage.page() in made["description"]
    start = datetime.fromisoformat(made["start"]["dateTime"]).astimezone(UTC)
    assert NEXT_MONDAY < start < NEXT_MONDAY + timedelta(days=7)
    maria.goto(stage.page())
    heading = maria.get_by_role("heading", level=2).first
    expect(heading).not_to_have_text("Next 1:1 · Mon 30 Nov 2026, 10:00")
    expect(heading).to_have_text(re.compile(r"Next 1:1 · \w{3} \d+ \w{3} 2026, \d\d:\d\d"))
    expect(maria.locator("#agenda .status-line .chip")).to_have_text(
        "make-up for the 1:1 of Mon 30 Nov 2026")
    expect(maria.locator("#agenda .topic-title")).to_have_text(["Hiring plan"])
    # The shared notes written for the 30th stay with it: the make-up is the same 1:1.
    expect(maria.get_by_label("Shared notes").first).to_have_value("Agreed: Q1 goals by Friday.")
    photograph(maria, shots / "web-pair.png")

    # -- Dev completes the action item; Maria sees it done -------------------------------
    dev.reload()
    item = dev.locator("#actions li.action").first
    expect(item).to_have_class(re.compile(r"\boverdue\b"))  # due Wednesday 25th
    dev.get_by_role("region", name="Action items").get_by_role(
        "button", name="Mark “Send the budget” done").click()
    expect(dev.get_by_text("Nothing open.")).to_be_visible()
    maria.reload()
    maria.get_by_text("Done (1)").click()
    expect(maria.locator(".done-list .meta")).to_contain_text("by Dev")
    photograph(maria.locator("#history"), shots / "web-history.png")

    # -- Lena is in the team, not in the pair: 403 -----------------------------------------
    lena_context = browser.new_context(viewport={"width": 1000, "height": 700})
    lena = lena_context.new_page()
    stage.sign_in(lena, LENA)
    answer = lena.goto(stage.page())
    assert answer is not None and answer.status == 403
    expect(lena.get_by_role("heading", level=1)).to_have_text(
        "This page belongs to a 1:1 you are not part of.")
    assert "Hiring plan" not in lena.content()
    photograph(lena, shots / "web-403.png")

    # -- A form posted without its CSRF token is refused, and nothing changes -----------
    maria.goto(stage.page())
    form = maria.locator("form.add").first
    form.locator("input[name=csrf]").evaluate("node => node.remove()")
    maria.get_by_label("New topic").fill("Forged topic")
    with maria.expect_response(re.compile(r"/topics$")) as posted:
        maria.get_by_role("button", name="Add topic").click()
    assert posted.value.status == 403
    maria.goto(stage.page())
    expect(maria.locator("#agenda .topic-title")).to_have_text(["Hiring plan"])
    assert [t.title for t in stage.store.topics_of(MARIA, DEV)] == [
        "Promotion path", "Hiring plan"]
    for context in (maria_context, dev_context, lena_context):
        context.close()
