"""The team page and the report's own page in a real browser, on the Google emulator.

Playwright drives Debian's Chromium (``executable_path``); the web app is a
real uvicorn server on loopback, sign-in links go through aiosmtpd, and the
record comes from real daemon cycles on an injected clock.

The story: Maria cancels Monday's 1:1 with Dev (``rebook = "suggest"``); her
team page offers make-up slots. A slot that stopped being free is refused with
fresh suggestions; then a double click in one tab and a click in a second tab
book exactly one make-up, which the next daemon cycle puts on both calendars
and the page shows. Dev's own page shows his record and not Lena's, whose
pair page is 403 for him. Maria, who reports to Boss, has both pages.

``CALSYNC_SCREENSHOTS=docs`` keeps the pictures (``docs/web-team.png``,
``docs/web-me.png``); otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calsync_emulators.google import GoogleEmulator
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import LENA, LENA_PERSON, BrowserStage, photograph, shots_dir
from tests.google_team_support import DEV, MARIA, cancel, makeups
from tests.report_support import Catcher

BOSS = "boss@example.com"
THURSDAY = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 New York

PEOPLE = LENA_PERSON + """
[[people]]
email = "boss@example.com"
name = "Boss"
timezone = "America/New_York"
provider = "work"

[[pairs]]
manager = "maria@example.com"
report = "lena@example.com"
cadence = "weekly"

[[pairs]]
manager = "boss@example.com"
report = "maria@example.com"
cadence = "weekly"
"""


class Stage(BrowserStage):
    """The team with Lena (Maria's other report, no series yet) and Boss (Maria's manager);
    make-ups are suggested, not booked by calsync."""

    def __init__(self, tmp_path: Path, google: GoogleEmulator, catcher: Catcher) -> None:
        super().__init__(tmp_path, google, catcher, THURSDAY, people=PEOPLE,
                         calendars=[LENA, BOSS], rebook="suggest")

    def makeup_keys(self) -> list[str]:
        pending = [i.key for i in self.store.pending()]
        return [k for k in pending if k.startswith("makeup|")]


@pytest.fixture
def stage(tmp_path: Path, google: GoogleEmulator, catcher: Catcher) -> Iterator[Stage]:
    with Stage(tmp_path, google, catcher) as running:
        yield running


def slot_starts(page: Page, row: str) -> list[str]:
    return page.locator(f"#{row} form[action$='/book'] input[name=start]").evaluate_all(
        "nodes => nodes.map(n => n.value)")


def test_the_manager_books_a_suggested_make_up_once_and_the_report_sees_only_their_own(
    stage: Stage, browser: Browser, tmp_path: Path
) -> None:
    shots = shots_dir(tmp_path)
    cancel(stage.google, stage.master, MONDAY - timedelta(days=7))  # last week's, by Maria
    stage.cycle(THURSDAY)
    cancel(stage.google, stage.master, MONDAY)  # and Monday's, on Thursday
    stage.cycle(FRIDAY)
    assert makeups(stage.google, MARIA) == []  # rebook = "suggest": calsync books nothing itself

    # Something on the agenda and an action item for Dev, as the pair page would add them.
    stage.store.add_topic(MARIA, DEV, MONDAY, "Conference budget", DEV, FRIDAY)
    stage.store.add_action(MARIA, DEV, MONDAY - timedelta(days=7), "Draft the Q1 goals", DEV,
                           (FRIDAY - timedelta(days=2)).date(), MARIA, FRIDAY)
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    first = context.new_page()
    stage.sign_in(first, MARIA)
    nav = first.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link")).to_have_text(["Team", "My 1:1s"])  # a manager and a report
    nav.get_by_role("link", name="Team").click()
    first.wait_for_url(f"{stage.url}/team")
    dev_page = stage.page_of(MARIA, DEV)
    row_id = "row-" + dev_page.rsplit("/", 1)[1]
    row = first.locator(f"#{row_id}")
    expect(row.locator(".pair-link")).to_have_text("Dev")
    expect(row.locator(".makeup h3")).to_contain_text(
        "Make-up for the 1:1 of Mon 23 Nov 2026 (cancelled by Maria)")
    expect(row.locator(".strip .cell")).not_to_have_count(0)
    # Lena's pair has no series at all: both rows need Maria now, and say why in plain words.
    expect(first.locator(".team-row .pair-link")).to_have_text(["Dev", "Lena"])
    lena_row = first.locator(".team-row").filter(has=first.get_by_role("link", name="Lena"))
    expect(lena_row.locator(".pair-link")).to_have_text("Lena")
    expect(lena_row.locator(".flags")).to_contain_text("No recurring 1:1 with Lena")
    expect(lena_row.locator(".advice")).to_contain_text("Set up a recurring weekly 30m 1:1")
    expect(first.locator("#fairness")).to_contain_text("Dev: 1 time")
    expect(first.locator("#fairness")).to_contain_text("cancelled by you 1×")
    expect(row.locator(".waiting")).to_have_text("1 topic · 1 open action item")
    expect(row.locator(".team-actions .overdue .topic-title")).to_have_text("Draft the Q1 goals")
    offered = slot_starts(first, row_id)
    assert len(offered) == 3
    photograph(first, shots / "web-team.png")

    second = context.new_page()  # a second tab, loaded with the same three slots
    second.goto(f"{stage.url}/team")
    assert slot_starts(second, row_id) == offered

    # Dev's first offered time fills up in his calendar; the next sync sees it.
    taken = datetime.fromisoformat(offered[0]).astimezone(UTC)
    stage.google.insert_event(DEV, {
        "summary": "Dentist",
        "start": {"dateTime": taken.isoformat().replace("+00:00", "Z")},
        "end": {"dateTime": (taken + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")},
    })
    stage.cycle(FRIDAY + timedelta(minutes=10))
    second.locator(f"#{row_id} .slot").first.get_by_role("button", name=re.compile("^Book")).click()
    second.wait_for_url(re.compile(r"/team"))
    expect(second.locator(f"#{row_id} .makeup .alert")).to_have_text(
        "That time is no longer free for both of you. Here are the times that are free now.")
    fresh = slot_starts(second, row_id)
    assert offered[0] not in fresh and fresh
    assert stage.makeup_keys() == []

    # Tab one (stale) double-clicks its second slot; tab two clicks its own first slot.
    chosen = first.locator(f"#{row_id} .slot").nth(1).get_by_role(
        "button", name=re.compile("^Book"))
    chosen.dblclick()
    first.wait_for_url(re.compile(r"/team"))
    second.locator(f"#{row_id} .slot").first.get_by_role("button", name=re.compile("^Book")).click()
    second.wait_for_url(re.compile(r"/team"))
    expect(second.locator(".flash")).to_contain_text("already booked")
    [key] = stage.makeup_keys()
    assert stage.woken == [("work", MARIA)]  # the daemon is told to write it now, once
    assert key.startswith(f"makeup|{MARIA}|{DEV}|20261123T150000Z|")
    first.reload()
    expect(first.locator(f"#{row_id} .booked")).to_contain_text("Booked for")

    # The daemon's next cycle performs the write: one make-up, on both calendars.
    stage.cycle(FRIDAY + timedelta(minutes=20))
    [made] = makeups(stage.google, MARIA)
    [invited] = makeups(stage.google, DEV)
    assert made["id"] == invited["id"]
    booked_at = datetime.fromisoformat(made["start"]["dateTime"]).astimezone(UTC)
    assert booked_at.isoformat() == datetime.fromisoformat(offered[1]).astimezone(UTC).isoformat()
    stage.cycle(FRIDAY + timedelta(minutes=30))
    assert len(makeups(stage.google, MARIA)) == 1  # and no second one, ever
    first.reload()
    expect(first.locator(f"#{row_id} .makeup")).to_have_count(0)  # nothing waits any more
    local = booked_at.astimezone(stage.settings.person(MARIA).zone)
    expect(first.locator(f"#{row_id} .next")).to_have_text(
        f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}")

    # -- Dev: his own page shows his record, and Lena's pair is not his to see -------------
    dev_context = browser.new_context(viewport={"width": 900, "height": 900})
    dev = dev_context.new_page()
    stage.sign_in(dev, DEV)
    nav = dev.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link")).to_have_text(["My 1:1s"])
    nav.get_by_role("link", name="My 1:1s").click()
    dev.wait_for_url(f"{stage.url}/me")
    own = dev.locator("article.own")
    expect(own).to_have_count(1)
    expect(own.locator("h2")).to_have_text("With Maria")
    expect(own.locator(".next .chip")).to_have_text("make-up for Mon 23 Nov 2026")
    expect(own.locator(".record li").nth(0)).to_have_text(
        "Mon 16 Nov 2026, 16:00 cancelled by Maria")  # in Dev's own zone (Berlin)
    expect(own.locator(".record li").nth(1)).to_have_text("Mon 9 Nov 2026, 16:00 held")
    # 3 of the last 4 held; 10 of 11 since the series began.
    expect(own.locator(".adherence")).to_have_text("75% of the last 4 · 91% of the last 12")
    expect(own.locator(".agenda .topic-title")).to_have_text(["Conference budget"])
    expect(own.locator(".mine .topic-title")).to_have_text(["Draft the Q1 goals"])
    assert "Lena" not in dev.content()
    photograph(dev, shots / "web-me.png")
    answer = dev.goto(stage.page_of(MARIA, LENA))
    assert answer is not None and answer.status == 403
    answer = dev.goto(f"{stage.url}/team")
    assert answer is not None and answer.status == 200
    expect(dev.locator("main")).to_contain_text("You do not manage anyone")

    # Maria reports to Boss: her own page has that pair only.
    maria_me = context.new_page()
    maria_me.goto(f"{stage.url}/me")
    expect(maria_me.locator("article.own h2")).to_have_text(["With Boss"])
    for each in (context, dev_context):
        each.close()
