"""``calsync serve`` (the web app alone) and the ``[web]`` settings."""

from __future__ import annotations

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
        ({"google": {"client_id": "x", "client_secret_env": "not a name"}}, "client_secret_env"),
        ({"microsoft": {"client_id": "x", "client_secret_env": "S",
                        "metadata_url": "http://login.example.com/x"}}, "metadata_url"),
        ({"colour": "blue"}, "web.colour"),
    ],
)
def test_bad_web_settings_name_the_key(web: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        settings_from_dict({**BASE, "web": web}, source=Path("/tmp/c.toml"))
