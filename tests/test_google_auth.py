"""`calsync auth`: the consent flow, with a fake browser and a local token endpoint."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from click.testing import CliRunner

from calsync.cli.main import main
from calsync.providers.google.auth import SCOPES, OAuthCredentials
from calsync.secrets import SecretBox

REFRESH = "1//the-refresh-token"


class _TokenEndpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        self.seen.append(form)
        body = json.dumps({
            "access_token": "ya29.access",
            "refresh_token": REFRESH,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": " ".join(SCOPES),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


class _FakeBrowser:
    """Approves the consent screen: follows the redirect back to calsync's local server."""

    opened: ClassVar[list[str]] = []

    def open(self, url, new=0, autoraise=True):
        self.opened.append(url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        redirect = query["redirect_uri"][0]
        back = f"{redirect}?state={query['state'][0]}&code=the-code&scope=" + urllib.parse.quote(
            " ".join(SCOPES)
        )
        threading.Thread(target=lambda: urllib.request.urlopen(back, timeout=10).read()).start()
        return True


@pytest.fixture
def token_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_consent_flow_stores_the_token_encrypted(tmp_path, token_server, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the token endpoint is plain http
    monkeypatch.delenv("CALSYNC_SECRET_KEY", raising=False)
    monkeypatch.setattr(webbrowser, "get", lambda *_a, **_k: _FakeBrowser())
    (tmp_path / "client.json").write_text(json.dumps({"installed": {
        "client_id": "calsync-test.apps.googleusercontent.com",
        "client_secret": "client-secret",
        "auth_uri": f"{token_server}/auth",
        "token_uri": f"{token_server}/token",
        "redirect_uris": ["http://localhost"],
    }}))
    config = tmp_path / "calsync.toml"
    config.write_text(
        '[providers.work]\nkind = "google"\nauth = "oauth"\nclient_secrets = "client.json"\n'
    )
    result = CliRunner().invoke(main, ["-c", str(config), "auth", "work"])
    assert result.exit_code == 0, result.output
    assert "Authorized" in result.output

    [url] = _FakeBrowser.opened
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["scope"][0].split() == list(SCOPES)  # least privilege, nothing more
    assert query["access_type"] == ["offline"]
    assert query["code_challenge_method"] == ["S256"]  # PKCE
    assert _TokenEndpoint.seen[-1]["code"] == ["the-code"]

    token_file = tmp_path / "work.token"
    key_file = tmp_path / "calsync.key"
    for path in (token_file, key_file):
        assert path.stat().st_mode & 0o777 == 0o600
    assert REFRESH.encode() not in token_file.read_bytes()
    assert REFRESH not in result.output

    creds = OAuthCredentials("work", token_file, SecretBox.load(key_file)).credentials(None, "c")
    assert creds.refresh_token == REFRESH
    assert creds.token_uri == f"{token_server}/token"


def test_auth_for_an_unknown_provider_exits_2(tmp_path):
    config = tmp_path / "calsync.toml"
    config.write_text('[providers.feeds]\nkind = "ics"\npath = "."\n')
    result = CliRunner().invoke(main, ["-c", str(config), "auth", "nope"])
    assert result.exit_code == 2
    assert "no provider named 'nope'" in result.output


def test_auth_for_a_provider_without_consent_says_so(tmp_path):
    config = tmp_path / "calsync.toml"
    config.write_text('[providers.feeds]\nkind = "ics"\npath = "."\n')
    result = CliRunner().invoke(main, ["-c", str(config), "auth", "feeds"])
    assert result.exit_code == 0
    assert "needs no consent step" in result.output


def test_a_key_from_another_machine_cannot_read_the_token(tmp_path):
    token = tmp_path / "t.token"
    SecretBox.load(tmp_path / "a.key").write(token, b'{"refresh_token": "x"}')
    with pytest.raises(Exception, match="cannot be decrypted"):
        SecretBox.load(tmp_path / "b.key").read(token)
