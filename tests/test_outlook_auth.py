"""msal against the Graph emulator's token endpoints: app-only, device code, the cache.

msal only accepts https authorities, so it keeps
``https://login.microsoftonline.com/<tenant>`` and gets an ``http_client``
(the emulator's ``EmulatorHttpClient``) that sends that host to the emulator.
Everything else is msal's real code: discovery, the token requests, the
device code polling and its token cache.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.graph import EmulatorHttpClient, GraphEmulator
from click.testing import CliRunner
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from calsync.cli.main import main
from calsync.config import OutlookProvider
from calsync.providers.base import ProviderError, ReauthorizationNeeded
from calsync.providers.outlook import auth as outlook_auth
from calsync.providers.outlook.auth import MsalTokens, authorize, token_source
from calsync.providers.outlook.calendar import OutlookCalendar
from calsync.secrets import SecretBox

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
TENANT = "contoso.onmicrosoft.com"
APP = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cret-value~from-the-portal"
MARIA = "maria@example.com"
TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"


class RecordingClient(EmulatorHttpClient):
    """EmulatorHttpClient that remembers the forms msal posted."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.posted: list[dict[str, Any]] = []

    def post(self, url, params=None, data=None, headers=None, **kwargs):  # type: ignore[override]
        self.posted.append(dict(data) if isinstance(data, dict) else {"raw": data})
        return super().post(url, params=params, data=data, headers=headers, **kwargs)


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(port=0, tenant=TENANT, device_code_interval=1) as emulator:
        emulator.add_mailbox(MARIA)
        emulator.create_event(MARIA, {
            "subject": "Planning",
            "start": {"dateTime": "2026-11-24T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-24T16:00:00", "timeZone": "UTC"},
        })
        yield emulator


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SecretBox:
    monkeypatch.setenv("CALSYNC_SECRET_KEY", Fernet.generate_key().decode())
    return SecretBox.load(tmp_path / "unused.key")


def settings(emu: GraphEmulator, **extra: Any) -> OutlookProvider:
    values = {"kind": "outlook", "tenant_id": TENANT, "client_id": APP,
              "graph_endpoint": emu.url, **extra}
    return OutlookProvider(**values)


def resolver(tmp_path: Path):
    return lambda value: tmp_path / value


def reader(emu: GraphEmulator, tokens) -> OutlookCalendar:
    return OutlookCalendar("m365", tokens.settings, tokens, lambda _c: ZoneInfo("UTC"),
                           sleep=lambda _s: None)


def test_client_credentials_with_a_secret_from_the_environment(emu, box, tmp_path, monkeypatch):
    emu.register_app(APP, SECRET)
    monkeypatch.setenv("M365_SECRET", SECRET)
    config = settings(emu, client_secret_env="M365_SECRET")
    client = RecordingClient(emu.url_root)
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box, http_client=client)
    assert isinstance(tokens, MsalTokens)
    changes = reader(emu, tokens).fetch_changes(MARIA, None, NOW)
    assert [e.title for e in changes.events] == ["Planning"]
    [form] = [f for f in client.posted if f.get("grant_type") == "client_credentials"]
    assert form["scope"].split()[0] == "https://graph.microsoft.com/.default"
    assert form["client_secret"] == SECRET

    # The cache is encrypted at rest, 0600; a second process uses the cached token.
    cache = tmp_path / "m365.msal"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert b"access_token" not in cache.read_bytes() and b"AccessToken" not in cache.read_bytes()
    emu.requests.clear()
    again = token_source("m365", config, resolver(tmp_path), lambda: box,
                         http_client=EmulatorHttpClient(emu.url_root))
    assert reader(emu, again).fetch_changes(MARIA, None, NOW).full
    assert emu.requests.count("POST", TOKEN_PATH) == 0


def test_an_expired_token_is_replaced_once(emu, box, tmp_path, monkeypatch):
    monkeypatch.setenv("M365_SECRET", SECRET)
    config = settings(emu, client_secret_env="M365_SECRET")
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box,
                          http_client=EmulatorHttpClient(emu.url_root))
    outlook = reader(emu, tokens)
    first = outlook.fetch_changes(MARIA, None, NOW)
    emu.expire_access_tokens()  # msal still thinks its cached token is good
    emu.requests.clear()
    assert outlook.fetch_changes(MARIA, first.cursor, NOW).unchanged
    assert emu.requests.count("POST", TOKEN_PATH) == 1


def test_wrong_or_missing_secrets_are_reported_without_the_secret(emu, box, tmp_path, monkeypatch):
    emu.register_app(APP, SECRET)
    monkeypatch.setenv("M365_SECRET", "not-the-secret")
    config = settings(emu, client_secret_env="M365_SECRET")
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box,
                          http_client=EmulatorHttpClient(emu.url_root))
    message = reader(emu, tokens).probe(MARIA)
    assert message and "invalid_client" in message and "not-the-secret" not in message

    monkeypatch.delenv("M365_SECRET")
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box,
                          http_client=EmulatorHttpClient(emu.url_root))
    with pytest.raises(ProviderError, match="M365_SECRET is not set"):
        reader(emu, tokens).fetch_changes(MARIA, None, NOW)


def _certificate(folder: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calsync")])
    start = datetime.now(UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path = folder / "calsync-app.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


def test_client_credentials_with_a_certificate(emu, box, tmp_path):
    emu.register_app(APP)  # no secret: the app proves itself with a signed assertion
    certificate = _certificate(tmp_path)
    config = settings(emu, certificate_file=certificate.name)
    client = RecordingClient(emu.url_root)
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box, http_client=client)
    assert reader(emu, tokens).fetch_changes(MARIA, None, NOW).full
    [form] = [f for f in client.posted if f.get("grant_type") == "client_credentials"]
    assert "client_secret" not in form
    assert form["client_assertion_type"].endswith("jwt-bearer")
    assertion = form["client_assertion"]
    assertion = assertion.encode() if isinstance(assertion, str) else assertion
    assert len(assertion.split(b".")) == 3  # a signed JWT


def _approve_when_shown(emu: GraphEmulator, upn: str = MARIA):
    """A ``say`` that reads the code from msal's message and signs ``upn`` in, like a person."""
    shown: list[str] = []

    def say(text: str) -> None:
        shown.append(text)
        code = re.search(r"enter the code (\w+)", text)
        assert code, text
        threading.Timer(0.2, emu.approve_device_code, (code[1], upn)).start()

    return say, shown


def test_device_code_sign_in_then_silent_tokens(emu, box, tmp_path):
    config = settings(emu, auth="device_code")
    say, shown = _approve_when_shown(emu)
    path = authorize("m365", config, resolver(tmp_path), box, say=say,
                     http_client=EmulatorHttpClient(emu.url_root))
    assert path == tmp_path / "m365.msal"
    assert "https://microsoft.com/devicelogin" in shown[0]
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"refresh_token" not in path.read_bytes() and b"RefreshToken" not in path.read_bytes()

    # A later run: the account's tokens come from the cache, then by refresh token.
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box,
                          http_client=EmulatorHttpClient(emu.url_root))
    outlook = reader(emu, tokens)
    first = outlook.fetch_changes(MARIA, None, NOW)
    assert [e.title for e in first.events] == ["Planning"]
    emu.expire_access_tokens()
    emu.requests.clear()
    assert outlook.fetch_changes(MARIA, first.cursor, NOW).unchanged
    assert emu.requests.count("POST", TOKEN_PATH) == 1  # the refresh_token grant


def test_device_code_without_a_sign_in_asks_for_auth(emu, box, tmp_path):
    config = settings(emu, auth="device_code")
    tokens = token_source("m365", config, resolver(tmp_path), lambda: box,
                          http_client=EmulatorHttpClient(emu.url_root))
    with pytest.raises(ReauthorizationNeeded, match="auth m365"):
        reader(emu, tokens).fetch_changes(MARIA, None, NOW)


def test_a_cache_written_with_another_key_asks_for_auth(emu, box, tmp_path):
    config = settings(emu, auth="device_code")
    say, _ = _approve_when_shown(emu)
    authorize("m365", config, resolver(tmp_path), box, say=say,
              http_client=EmulatorHttpClient(emu.url_root))
    other = SecretBox(Fernet.generate_key())
    tokens = token_source("m365", config, resolver(tmp_path), lambda: other,
                          http_client=EmulatorHttpClient(emu.url_root))
    with pytest.raises(ReauthorizationNeeded, match="cannot be decrypted"):
        reader(emu, tokens).fetch_changes(MARIA, None, NOW)


def test_cli_auth_shows_the_code_and_stores_the_cache(emu, tmp_path, monkeypatch):
    monkeypatch.delenv("CALSYNC_SECRET_KEY", raising=False)
    approve, _ = _approve_when_shown(emu)
    original = outlook_auth.authorize

    def against_emulator(*args: Any, say: Any, **kwargs: Any) -> Path:
        """The CLI's authorize, with msal's requests sent to the emulator and a person
        who reads the code the CLI prints and signs in."""

        def shown(text: str) -> None:
            say(text)
            approve(text)

        return original(*args, say=shown, http_client=EmulatorHttpClient(emu.url_root), **kwargs)

    monkeypatch.setattr(outlook_auth, "authorize", against_emulator)
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'[providers.m365]\nkind = "outlook"\nauth = "device_code"\ntenant_id = "{TENANT}"\n'
        f'client_id = "{APP}"\ngraph_endpoint = "{emu.url}"\n'
    )
    result = CliRunner().invoke(main, ["-c", str(config), "auth", "m365"])
    assert result.exit_code == 0, result.output
    assert "microsoft.com/devicelogin" in result.output and "Signed in" in result.output
    for name in ("m365.msal", "calsync.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_app_only_providers_need_no_consent_step(tmp_path):
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'[providers.m365]\nkind = "outlook"\ntenant_id = "{TENANT}"\nclient_id = "{APP}"\n'
        'client_secret_env = "M365_SECRET"\n'
    )
    result = CliRunner().invoke(main, ["-c", str(config), "auth", "m365"])
    assert result.exit_code == 0
    assert "needs no consent step" in result.output
