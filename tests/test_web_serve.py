"""``calsync serve`` (the web app alone) and the ``[web]`` settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from calsync.config import ConfigError, settings_from_dict
from tests.support import free_port


def _wait(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_health_and_metrics_but_leaves_push_to_run(team: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "-c", str(team), "serve",
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        health = _wait(f"http://127.0.0.1:{port}/healthz", process)
        assert health.status_code == 200
        assert health.json() == {"ok": True, "status": "ok"}
        assert health.headers["cache-control"] == "no-store"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200 and "calsync_" in metrics.text
        # No daemon in this process: a notification here would be lost, so it is refused.
        assert httpx.post(f"http://127.0.0.1:{port}/push/google").status_code == 404
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    assert b"serving the 1:1 pages" in err


def test_serve_refuses_a_bad_listen(team: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "calsync.cli", "-c", str(team), "serve", "--listen", "8787"],
        capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert b"not host:port" in done.stderr


BASE = {"providers": {"f": {"kind": "ics", "path": "x"}},
        "people": [{"email": "a@example.com", "provider": "f"}]}


def test_web_settings_have_safe_defaults_and_normalise() -> None:
    settings = settings_from_dict(
        {**BASE, "web": {"public_url": "https://calsync.example.com/",
                         "admins": ["Boss@Example.com"], "listen": "0.0.0.0:8080",
                         "session_lifetime": "8h"}},
        source=Path("/tmp/c.toml"),
    )
    web = settings.web
    assert web.public_url == "https://calsync.example.com"
    assert web.admins == ["boss@example.com"]
    assert web.email_signin is True
    assert web.session_lifetime.total_seconds() == 8 * 3600
    assert settings_from_dict(BASE, source=Path("/tmp/c.toml")).web.public_url is None


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"public_url": "calsync.example.com"}, "web.public_url"),
        ({"listen": "8080"}, "web.listen"),
        ({"admins": ["boss"]}, "web.admins"),
        ({"session_lifetime": "0m"}, "web.session_lifetime"),
        ({"colour": "blue"}, "web.colour"),
    ],
)
def test_bad_web_settings_name_the_key(web: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        settings_from_dict({**BASE, "web": web}, source=Path("/tmp/c.toml"))


def test_the_demo_prints_the_serve_line_and_working_sign_in_links(team: Path) -> None:
    import re

    from calsync.config import load_settings
    from calsync.secrets import SecretBox
    from calsync.service.web.factory import web_app
    from calsync.service.web.hooks import Hooks
    from calsync.service.web.server import WebServer
    from calsync.store import open_store
    from tests.support import cli

    code, out, err = cli(team, "demo", "--now", "2026-11-20T21:00:00Z")
    assert code == 0, err
    assert f"calsync -c {team} serve" in out
    links = dict(re.findall(r"(Maria Chen|Dev Patel): (http://\S+)", out))
    assert set(links) == {"Maria Chen", "Dev Patel"}
    settings = load_settings(team)
    with open_store(settings.database_url()) as store:
        box = SecretBox.load(settings.path(settings.secret_key_file))
        app = web_app(settings, store, Hooks(b"x", lambda: (True, {})), box)
        with (WebServer("127.0.0.1:0", app) as server,
              httpx.Client(follow_redirects=True) as browser):
            path = links["Dev Patel"].split("8787", 1)[1]
            page = browser.get(server.url + path)
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token, page.text[:300]
            answer = browser.post(server.url + path.split("?")[0],
                                  data={"csrf": token.group(1), "next": path.split("next=")[1]})
            assert answer.status_code == 200  # followed to the pair page
            assert "Maria Chen / Dev Patel" in answer.text and "History" in answer.text


@pytest.mark.parametrize("verb", [["serve", "--listen", "127.0.0.1:0"], ["run"]])
def test_serve_and_run_stop_at_once_without_the_sign_in_secret(team: Path, verb: list[str]) -> None:
    with team.open("a") as config:
        config.write('\n[web.oidc]\nkind = "google"\nclient_id = "app"\n'
                     'client_secret_env = "CALSYNC_TEST_ABSENT_SECRET"\n')
    env = {k: v for k, v in os.environ.items() if k != "CALSYNC_TEST_ABSENT_SECRET"}
    done = subprocess.run([sys.executable, "-m", "calsync.cli", "-c", str(team), *verb],
                          capture_output=True, timeout=60, check=False, env=env)
    assert done.returncode == 2, done.stderr.decode()
    said = " ".join(done.stderr.decode().split())
    assert "environment variable CALSYNC_TEST_ABSENT_SECRET, which is not set" in said
    assert "Warning" not in said
