"""Signing in with Google or Microsoft: OpenID Connect end to end against a provider on loopback.

The provider (``tests/oidc_support.py``) is a real HTTP server: discovery,
JWKS, authorize, token with PKCE. calsync's web app is a real uvicorn server;
the "browser" is an httpx client that carries the session cookie and follows
the redirects between the two by hand, so each hop is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from calsync.config import ConfigError, OidcSettings, settings_from_dict
from calsync.service.web.oidc import OidcSecretMissing, oidc_sign_in
from calsync.store import Store
from tests.oidc_support import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.support import Clock
from tests.web_support import BOSS, DEV, MARIA, NOW, Team, csrf_of, team_settings, weekly_record

SECRET_ENV = "CALSYNC_TEST_OIDC_SECRET"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


def oidc_team(tmp_path: Path, store: Store, provider: OidcProvider, kind: str = "google",
              **extra: object) -> Team:
    oidc = {"kind": kind, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
            "discovery_url": provider.discovery_url, **extra}
    if kind == "microsoft":
        oidc.setdefault("tenant", "contoso.onmicrosoft.com")
    team = Team(team_settings(tmp_path, oidc=oidc), store, Clock(NOW))
    store.save_evaluation(MARIA, DEV, weekly_record(["held", "held", "upcoming"]), [], NOW)
    return team


@pytest.fixture
def team(tmp_path: Path, store: Store, provider: OidcProvider,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    running = oidc_team(tmp_path, store, provider)
    yield running
    running.close()


def go_out(team: Team, client: httpx.Client, next_path: str = "/") -> str:
    """Start signing in: calsync sends the browser to the provider, which sends it back."""
    start = client.get("/signin/oidc", params={"next": next_path})
    assert start.status_code == 302, start.text
    with httpx.Client(timeout=10) as elsewhere:  # the provider's own site
        back = elsewhere.get(start.headers["location"])
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(team.url + "/signin/oidc/callback?")
    return callback.split(team.url, 1)[1]


def test_sign_in_with_google_by_the_code_flow_with_pkce(team: Team,
                                                        provider: OidcProvider) -> None:
    provider.person = {"email": "Maria@Example.com", "email_verified": True}
    with team.client() as browser:
        page = browser.get("/signin")
        assert 'href="/signin/oidc?next=/"' in page.text and "Sign in with Google" in page.text
        target = team.page()
        assert browser.get(target).headers["location"] == f"/signin?next={target}"
        answer = browser.get(go_out(team, browser, target))
        assert answer.status_code == 303 and answer.headers["location"] == target
        assert browser.get(target).status_code == 200
        assert "Maria Chen / Dev Patel" in browser.get("/").text
    [asked] = provider.authorize_requests
    assert asked["redirect_uri"] == team.url + "/signin/oidc/callback"
    assert asked["scope"] == "openid email profile"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["state"] and asked["nonce"]
    [exchanged] = provider.token_requests
    assert exchanged["code_verifier"] and "client_secret" not in exchanged  # basic auth


def test_someone_outside_the_team_gets_a_clear_refusal_and_no_session(
    team: Team, provider: OidcProvider
) -> None:
    provider.person = {"email": "mallory@evil.test", "email_verified": True}
    with team.client() as browser:
        answer = browser.get(go_out(team, browser))
        assert answer.status_code == 403
        assert "mallory@evil.test is not a person in this calsync team" in answer.text
        assert browser.get("/").status_code == 303  # still signed out
        assert browser.get(team.page()).status_code == 303


def test_an_admin_may_sign_in(team: Team, provider: OidcProvider) -> None:
    provider.person = {"email": BOSS, "email_verified": True}
    with team.client() as browser:
        assert browser.get(go_out(team, browser)).status_code == 303
        assert "Every 1:1" in browser.get("/").text


def test_google_must_have_verified_the_address(team: Team, provider: OidcProvider) -> None:
    for person in ({"email": MARIA, "email_verified": False}, {"email": MARIA}, {}):
        provider.person = person
        with team.client() as browser:
            answer = browser.get(go_out(team, browser))
            assert answer.status_code == 403 and "verified email" in answer.text
            assert browser.get("/").status_code == 303


@pytest.mark.parametrize("spoil", ["nonce", "issuer", "audience", "expired", "signature"])
def test_a_spoiled_id_token_signs_nobody_in(team: Team, provider: OidcProvider,
                                            spoil: str) -> None:
    provider.person = {"email": MARIA, "email_verified": True}
    provider.tamper = spoil
    with team.client() as browser:
        answer = browser.get(go_out(team, browser))
        assert answer.status_code == 400 and "did not complete" in answer.text
        assert browser.get("/").status_code == 303


def test_a_callback_from_another_browser_or_a_replay_is_refused(
    team: Team, provider: OidcProvider
) -> None:
    provider.person = {"email": MARIA, "email_verified": True}
    with team.client() as victim, team.client() as attacker:
        # Login CSRF: the attacker's code and state, delivered to the victim's browser.
        csrf_of(victim, "/signin")  # the victim has a session of their own
        forged = go_out(team, attacker)
        assert victim.get(forged).status_code == 400
        assert victim.get("/").status_code == 303
        # In the browser that started it, it works once; a replay is refused anywhere.
        assert attacker.get(forged).status_code == 303
        assert parse_qs(urlsplit(forged).query)["code"][0] not in provider.codes  # used
        assert attacker.get(forged).status_code == 400
        with team.client() as again:
            assert again.get(forged).status_code == 400


def test_the_next_page_is_only_ever_a_path_here(team: Team, provider: OidcProvider) -> None:
    provider.person = {"email": MARIA, "email_verified": True}
    with team.client() as browser:
        answer = browser.get(go_out(team, browser, "https://evil.example.com/"))
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_microsoft_tokens_carry_no_email_verified_and_the_tenant_vouches(
    tmp_path: Path, store: Store, provider: OidcProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    team = oidc_team(tmp_path, store, provider, kind="microsoft", label="Contoso")
    try:
        provider.person = {"email": DEV, "preferred_username": DEV, "tid": "t"}
        with team.client() as browser:
            assert "Sign in with Contoso" in browser.get("/signin").text
            assert browser.get(go_out(team, browser)).status_code == 303
            assert "Maria Chen / Dev Patel" in browser.get("/").text
        provider.person = {"preferred_username": DEV}  # no email claim: nobody
        with team.client() as browser:
            assert browser.get(go_out(team, browser)).status_code == 403
    finally:
        team.close()


def test_an_unreachable_provider_is_a_page_not_a_crash(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    with OidcProvider() as gone:
        url = gone.discovery_url
    settings = team_settings(tmp_path, oidc={"kind": "oidc", "client_id": CLIENT_ID,
                                             "client_secret_env": SECRET_ENV,
                                             "discovery_url": url})
    team = Team(settings, store, Clock(NOW))
    try:
        with team.client() as browser:
            answer = browser.get("/signin/oidc")
            assert answer.status_code == 502 and "could not be reached" in answer.text
    finally:
        team.close()


def test_oidc_settings_name_their_mistakes(tmp_path: Path) -> None:
    ms = OidcSettings(kind="microsoft", tenant="contoso.com", client_id="app")
    assert ms.metadata_url() == (
        "https://login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration")
    google = OidcSettings(kind="google", client_id="app")
    assert google.metadata_url() == "https://accounts.google.com/.well-known/openid-configuration"
    assert (google.display(), ms.display()) == ("Google", "Microsoft")
    cases = [
        ({"kind": "microsoft", "client_id": "a"}, "web.oidc: kind 'microsoft' needs tenant"),
        ({"kind": "microsoft", "client_id": "a", "tenant": "common"},
         "tenant 'common' accepts accounts of any organisation"),
        ({"kind": "google", "client_id": "a", "client_secret": "x"},
         "web.oidc.client_secret: secrets do not go in the config file"),
        ({"kind": "oidc", "client_id": "a"}, "kind 'oidc' needs discovery_url"),
        ({"kind": "github", "client_id": "a"}, "web.oidc.kind"),
    ]
    for oidc, message in cases:
        with pytest.raises(ConfigError) as raised:
            settings_from_dict({"web": {"oidc": oidc}}, source=tmp_path / "calsync.toml")
        assert message in str(raised.value), str(raised.value)
    with pytest.raises(OidcSecretMissing, match="environment variable CALSYNC_OIDC_CLIENT_SECRET"):
        oidc_sign_in(google, environ={})
    assert oidc_sign_in(None) is None
