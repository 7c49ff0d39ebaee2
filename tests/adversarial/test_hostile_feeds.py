"""A hostile feed server on loopback: dripping, oversized and redirecting feeds.

Each is refused with a message naming the (redacted) feed, and the store
keeps what it knew.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calsync.config import IcsProvider
from calsync.providers.base import ProviderError
from calsync.providers.ics import fetch
from calsync.providers.ics.reader import IcsReader

NOW = datetime(2026, 11, 20, 21, tzinfo=UTC)
FEED = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n" + b"X-PAD:" + b"x" * 200


class Hostile(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            for byte in FEED:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up, as it should
                time.sleep(0.05)
        elif self.path.startswith("/bomb"):
            body = gzip.compress(b"BEGIN:VCALENDAR\r\n" + b"\0" * (fetch.MAX_FEED_BYTES + 1))
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/to-file"):
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def read(url: str, tmp_path: Path, timeout: float = 30.0) -> None:
    settings = IcsProvider(kind="ics", path=url, timeout=timeout)
    reader = IcsReader("feeds", settings, tmp_path, lambda _c: ZoneInfo("UTC"))
    try:
        reader.fetch_changes("secret-token-abc.ics", None, NOW)
    finally:
        reader.close()


def test_a_dripping_feed_hits_the_whole_download_deadline(server: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=r"took longer than 0.5 s to download") as info:
        read(f"{server}/drip", tmp_path, timeout=0.5)
    assert "secret-token-abc" not in str(info.value)


def test_a_gzip_bomb_is_cut_at_the_size_limit(server: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=r"larger than 64 MiB"):
        read(f"{server}/bomb", tmp_path)


def test_a_redirect_to_a_local_file_is_not_followed(server: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as info:
        read(f"{server}/to-file", tmp_path)
    assert "root:" not in str(info.value)
