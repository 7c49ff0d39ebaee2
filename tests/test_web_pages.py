"""The 1:1 pages over real HTTP: sign-in by email link, sessions, CSRF, who sees what, changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from calsync.store import Store
from tests.support import Clock
from tests.web_support import (
    BOSS,
    DEV,
    EVE,
    LENA,
    MARIA,
    NOW,
    WEEK,
    Team,
    csrf_of,
    team_settings,
    weekly_record,
)


@pytest.fixture
def team(tmp_path: Path, store: Store) -> Iterator[Team]:
    clock = Clock(NOW)
    running = Team(team_settings(tmp_path), store, clock)
    # Mon 2, 9 held, 16 cancelled by Maria, 23 and 30 ahead.
    store.save_evaluation(MARIA, DEV, weekly_record(
        ["held", "held", "cancelled", "upcoming", "upcoming"]), [], NOW)
    yield running
    running.close()


def test_pages_need_a_session_and_the_api_says_401(team: Team) -> None:
    with team.client() as anonymous:
        answer = anonymous.get(team.page())
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/signin?next=/1on1/")
        assert anonymous.get("/").headers["location"] == "/signin?next=/"
        api = anonymous.get("/api/pairs/" + team.page().rsplit("/", 1)[1] + "/agenda")
        assert api.status_code == 401


def test_sign_in_by_email_link_once_and_with_a_safe_cookie(team: Team) -> None:
    maria = team.sign_in(MARIA)
    cookie = next(c for c in maria.cookies.jar if c.name == "calsync_session")
    assert cookie.has_nonstandard_attr("httponly") and cookie.get_nonstandard_attr(
        "samesite") == "lax"
    assert not cookie.secure  # http public URL here; https below
    home = maria.get("/")
    assert home.status_code == 200
    assert "Maria Chen / Dev Patel" in home.text and "Maria Chen / Lena Fischer" in home.text
    # The link was used: a second browser cannot use it again.
    link = team.mailbox.link_for(MARIA).split(team.url, 1)[1]
    with team.client() as other:
        token = csrf_of(other, link)
        again = other.post(link.split("?")[0], data={"csrf": token})
        assert again.status_code == 400 and "used already or has expired" in again.text
    # Only the digest is stored.
    raw = link.split("/signin/link/", 1)[1].split("?")[0]
    with team.store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash FROM signin_tokens").scalars().all()
    assert raw not in stored and len(stored[0]) == 64


def test_a_link_expires_after_15_minutes(team: Team) -> None:
    with team.client() as client:
        token = csrf_of(client, "/signin")
        client.post("/signin/email", data={"email": DEV, "csrf": token})
        link = team.mailbox.link_for(DEV).split(team.url, 1)[1]
        team.clock.now = NOW + timedelta(minutes=15, seconds=1)
        token = csrf_of(client, link)
        assert client.post(link.split("?")[0], data={"csrf": token}).status_code == 400
        assert client.get("/").status_code == 303  # still signed out


def test_links_go_only_to_the_team_and_are_rate_limited(team: Team) -> None:
    with team.client() as client:
        token = csrf_of(client, "/signin")
        stranger = client.post("/signin/email", data={"email": "mallory@evil.test", "csrf": token})
        member = client.post("/signin/email", data={"email": LENA, "csrf": token})
        # The same answer either way: the page does not tell who is in the team.
        assert stranger.status_code == member.status_code == 200
        assert "on its way" in stranger.text and "on its way" in member.text
        assert [m["To"] for m in team.mailbox.messages] == [LENA]
        for _ in range(5):
            client.post("/signin/email", data={"email": "Lena@Example.com", "csrf": token})
        assert [m["To"] for m in team.mailbox.messages] == [LENA] * 3
        team.clock.now = NOW + timedelta(minutes=16)
        client.post("/signin/email", data={"email": LENA, "csrf": token})
        assert len(team.mailbox.messages) == 4


def test_a_third_person_gets_403_and_an_admin_reads_but_cannot_change(team: Team) -> None:
    page = team.page()
    lena = team.sign_in(LENA)
    assert lena.get(page).status_code == 403
    page_id = page.rsplit("/", 1)[1]
    assert lena.get(f"/api/pairs/{page_id}/agenda").status_code == 403
    token = csrf_of(lena, "/")
    assert lena.post(page + "/topics", data={"csrf": token, "title": "x"}).status_code == 403
    assert "Maria Chen / Dev Patel" not in lena.get("/").text
    eve = team.sign_in(EVE)  # in the team, in no pair
    assert eve.get(page).status_code == 403
    boss = team.sign_in(BOSS)
    view = boss.get(page)
    assert view.status_code == 200 and "Read-only" in view.text and "Add topic" not in view.text
    token = csrf_of(boss, page)
    assert boss.post(page + "/topics", data={"csrf": token, "title": "x"}).status_code == 403
    assert team.store.topics_of(MARIA, DEV) == []
    assert team.client().get("/1on1/unknown-page").status_code == 303  # sign in first
    assert boss.get("/1on1/unknown-page").status_code == 404


def test_forms_without_the_csrf_token_are_refused(team: Team) -> None:
    maria = team.sign_in(MARIA)
    page = team.page()
    assert maria.post(page + "/topics", data={"title": "No token"}).status_code == 403
    assert maria.post(page + "/topics", data={"title": "Bad", "csrf": "x" * 32}).status_code == 403
    dev = team.sign_in(DEV)  # another session's token is no good either
    dev_token = csrf_of(dev, page)
    other = maria.post(page + "/topics", data={"title": "Other", "csrf": dev_token})
    assert other.status_code == 403
    assert maria.post("/signout", data={}).status_code == 403
    assert team.store.topics_of(MARIA, DEV) == []


def post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    page = path.split("/topics")[0].split("/actions")[0].split("/notes")[0]
    data["csrf"] = csrf_of(client, page)
    answer = client.post(path, data=data)
    assert answer.status_code == 303, answer.text[:500]
    return client.get(page)


def test_topics_notes_and_action_items_between_the_two(team: Team) -> None:
    page = team.page()
    maria, dev = team.sign_in(MARIA), team.sign_in(DEV)
    post(maria, page + "/topics", title="Promotion path")
    post(dev, page + "/topics", title="On-call <script>alert(1)</script>")
    seen = dev.get(page).text
    assert "Promotion path" in seen and "&lt;script&gt;" in seen and "<script>" not in seen
    assert "Next 1:1 · Mon 23 Nov 2026, 20:30" in seen  # in Dev's own zone (Kolkata)
    topics = {t.title: t for t in team.store.topics_of(MARIA, DEV)}
    promo = topics["Promotion path"].id
    oncall = topics["On-call <script>alert(1)</script>"].id
    assert topics["Promotion path"].author == MARIA
    # Dev may not edit or remove Maria's topic, but may reorder it and mark it discussed.
    token = csrf_of(dev, page)
    refused = dev.post(f"{page}/topics/{promo}", data={"csrf": token, "do": "remove"})
    assert refused.status_code == 403
    post(dev, f"{page}/topics/{oncall}", do="up")
    assert [t.id for t in team.store.topics_of(MARIA, DEV)] == [oncall, promo]
    post(maria, f"{page}/topics/{promo}", do="edit", title="Promotion path: next steps")
    team.clock.now = NOW + 3 * timedelta(days=1) - timedelta(hours=5)  # Mon 23 Nov, 16:00
    post(maria, f"{page}/topics/{promo}", do="discussed")
    discussed = {t.id: t for t in team.store.topics_of(MARIA, DEV)}[promo]
    assert discussed.discussed_by == MARIA and discussed.discussed_in.day == 23
    # Notes: shared for both, private for one.
    key = "2026-11-23T15:00:00+00:00"
    post(maria, page + "/notes", occurrence=key, kind="shared", body="We agreed on Q1 goals")
    post(maria, page + "/notes", occurrence=key, kind="private", body="Ask about workload")
    assert "We agreed on Q1 goals" in dev.get(page).text
    assert "Ask about workload" not in dev.get(page).text
    assert "Ask about workload" in maria.get(page).text
    # An action item for Dev, due Wednesday; after Thursday it is overdue.
    post(maria, page + "/actions", title="Send the budget", owner=DEV, due="2026-11-25")
    team.clock.now = NOW + WEEK  # Fri 27 Nov
    text = dev.get(page).text
    assert re.search(r'class="action overdue"[^>]*>', text)
    (item,) = team.store.actions_of(MARIA, DEV)
    post(dev, f"{page}/actions/{item.id}", do="done")
    assert team.store.actions_of(MARIA, DEV)[0].done_by == DEV
    assert "overdue" not in dev.get(page).text.split('id="notes"')[0].split("Done (")[0]


def test_undiscussed_topics_carry_over_and_follow_a_cancellation(team: Team) -> None:
    page = team.page()
    maria = team.sign_in(MARIA)
    post(maria, page + "/topics", title="Hiring plan")
    team.clock.now = NOW + 3 * timedelta(days=1)  # Mon 23 Nov 21:00: that 1:1 is over
    text = maria.get(page).text
    assert "Next 1:1 · Mon 30 Nov 2026, 10:00" in text  # New York
    assert "carried over since Mon 23 Nov 2026" in text
    # The 30 Nov 1:1 is cancelled: the topic waits, and is not lost.
    team.store.save_evaluation(MARIA, DEV, weekly_record(
        ["held", "held", "cancelled", "held", "cancelled"]), [], team.clock.now)
    text = maria.get(page).text
    assert "nothing on the books yet" in text and "Hiring plan" in text


def test_the_json_api_matches_the_page(team: Team) -> None:
    page = team.page()
    maria = team.sign_in(MARIA)
    post(maria, page + "/topics", title="Roadmap")
    post(maria, page + "/notes", occurrence="2026-11-23T15:00:00+00:00", kind="private",
         body="mine")
    data = maria.get("/api/pairs/" + page.rsplit("/", 1)[1] + "/agenda").json()
    assert data["pair"]["manager"] == {"email": MARIA, "name": "Maria Chen"}
    assert data["next"]["start"] == "2026-11-23T15:00:00+00:00"
    assert [t["title"] for t in data["next"]["topics"]] == ["Roadmap"]
    assert data["next"]["private_notes"]["text"] == "mine"
    assert [h["status"] for h in data["history"]] == ["cancelled", "held", "held"]
    dev = team.sign_in(DEV)
    mine = dev.get("/api/pairs/" + page.rsplit("/", 1)[1] + "/agenda").json()
    assert mine["next"]["private_notes"] is None


def test_pages_carry_security_headers_and_serve_their_own_assets(team: Team) -> None:
    maria = team.sign_in(MARIA)
    answer = maria.get(team.page())
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "http" not in re.sub(r'https?://(127\.0\.0\.1|localhost)[^"]*', "", answer.text.split(
        "<body>")[0])  # no CDN in the head
    assert maria.get("/static/calsync.css").status_code == 200
    assert maria.get("/static/favicon.svg").status_code == 200


def test_the_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    from calsync.secrets import SecretBox
    from calsync.service.web.factory import session_middleware
    from tests.web_support import KEY

    https = team_settings(tmp_path, public_url="https://calsync.example.com")
    assert session_middleware(https, SecretBox(KEY)).kwargs["https_only"] is True
    assert session_middleware(team_settings(tmp_path), SecretBox(KEY)).kwargs["https_only"] is False


def test_a_pair_with_no_series_sees_the_proposed_recurring_slot(team: Team) -> None:
    from calsync.store import FindingRecord

    message = ("No recurring 1:1 between Maria Chen and Lena Fischer was found on either "
               "calendar. Propose Mondays 09:45–10:15 New York (15:45 Berlin), free 7 of "
               "the next 8 weeks (busy Mon 21 Dec).")
    team.store.save_evaluation(MARIA, LENA, [], [
        FindingRecord("no_series", message, (NOW + WEEK,), "critical")], NOW)
    maria = team.sign_in(MARIA)
    page = maria.get(team.page(MARIA, LENA))
    assert page.status_code == 200
    assert "nothing on the books yet" in page.text
    assert ('id="series-proposal">No recurring 1:1 between Maria Chen and Lena Fischer was '
            "found on either calendar. Propose Mondays 09:45–10:15 New York (15:45 Berlin), "
            "free 7 of the next 8 weeks (busy Mon 21 Dec).</p>") in page.text
    # A pair with a series shows no proposal.
    assert "series-proposal" not in maria.get(team.page(MARIA, DEV)).text
