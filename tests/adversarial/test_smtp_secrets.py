"""A relay that echoes the AUTH line in its error never puts the password anywhere."""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from calsync.config import SmtpSettings
from calsync.report.mailer import SendFailed, SmtpMailer

USER = "calsync@example.com"
PASSWORD = "hunter2-correct-horse"


class _EchoingRelay(socketserver.StreamRequestHandler):
    """Just enough SMTP to reach AUTH, then a 535 that quotes the client's line."""

    def handle(self) -> None:
        self.wfile.write(b"220 relay.example ESMTP\r\n")
        while line := self.rfile.readline():
            text = line.decode("ascii", "replace").strip()
            verb = text.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == "AUTH":
                self.wfile.write(f"535 5.7.8 rejected: {text}\r\n".encode())
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def relay() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoingRelay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_password_is_scrubbed_from_the_relays_error(relay: int) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=relay, starttls=False, user=USER,
                            password_env="SMTP_PW", timeout=10)
    mailer = SmtpMailer(settings, env={"SMTP_PW": PASSWORD})
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = USER, "maria@example.com", "x"
    message.set_content("x")
    with pytest.raises(SendFailed) as info:
        mailer.send(message)
    text = str(info.value)
    assert "535" in text and "[redacted]" in text  # the relay's answer is still there
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, plain, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in text
