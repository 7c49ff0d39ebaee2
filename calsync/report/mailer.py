"""Send one email through the configured SMTP relay (smtplib).

One connection per message; no retry loop here: a failure is classified
(``SendFailed.transient``) and the caller records it and retries later with
backoff (``calsync.report.service``). The password is read from the
environment variable named in ``[smtp] password_env`` at send time and is
never logged or put into an error message.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path

from calsync.config import SmtpSettings

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """The relay did not take the message. ``transient``: worth retrying later unchanged."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class SmtpMailer:
    def __init__(
        self,
        settings: SmtpSettings,
        *,
        env: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.env = os.environ if env is None else env
        self.base_dir = base_dir or Path(".")

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def _context(self) -> ssl.SSLContext:
        cafile = None
        if self.settings.ca_file:
            cafile = str((self.base_dir / self.settings.ca_file).resolve())
        return ssl.create_default_context(cafile=cafile)

    def _password(self) -> str:
        name = self.settings.password_env
        password = self.env.get(name)
        if not password:
            raise SendFailed(
                f"SMTP user {self.settings.user!r} is configured but the environment "
                f"variable {name} (the password) is not set",
                transient=False,
            )
        return password

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        port = s.effective_port
        if s.ssl:
            return smtplib.SMTP_SSL(s.host, port, timeout=s.timeout, context=self._context())
        client = smtplib.SMTP(s.host, port, timeout=s.timeout)
        try:
            if s.starttls:
                client.ehlo()
                client.starttls(context=self._context())
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the relay, for exactly its To/Cc recipients."""
        sender = parseaddr(str(message["From"]))[1]
        recipients = [
            address
            for _, address in getaddresses(
                [str(v) for v in (message.get_all("To") or []) + (message.get_all("Cc") or [])]
            )
            if address
        ]
        if not recipients:
            raise SendFailed("the message has no recipient", transient=False)
        password = self._password() if self.settings.user else None
        try:
            self._send(message, sender, recipients, password)
        except SendFailed as exc:
            # A relay may echo the AUTH line (the base64 password) in its error:
            # the message is logged, printed and stored, so it is scrubbed first.
            raise SendFailed(_scrub(str(exc), self.settings.user, password),
                             transient=exc.transient) from None

    def _send(
        self, message: EmailMessage, sender: str, recipients: list[str], password: str | None
    ) -> None:
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, self.where) from None
        try:
            try:
                if self.settings.user:
                    assert password is not None
                    client.login(self.settings.user, password)
                refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
            except (smtplib.SMTPException, OSError) as exc:
                raise _classify(exc, self.where) from None
            if refused:
                details = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in refused.items())
                raise SendFailed(
                    f"{self.where}: recipients refused: {details}",
                    transient=all(400 <= c < 500 for c, _ in refused.values()),
                )
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                # The message was already accepted (or the error above is what matters).
                client.close()


_AUTH_LINE = re.compile(r"(?i)\b(AUTH\s+[A-Z0-9_-]+)(\s+\S+)+")


def _scrub(text: str, user: str | None, password: str | None) -> str:
    """``text`` without the password in any form an SMTP dialogue carries it."""
    text = _AUTH_LINE.sub(r"\1 [redacted]", text)
    if password:
        # AUTH PLAIN sends base64("\0user\0password"); AUTH LOGIN base64(password).
        plain = base64.b64encode(f"\0{user or ''}\0{password}".encode()).decode()
        login = base64.b64encode(password.encode()).decode()
        for secret in sorted({password, plain, login}, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
    return text


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _classify(exc: BaseException, where: str) -> SendFailed:
    """Map smtplib and socket errors to SendFailed (4xx and network: transient)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        details = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in exc.recipients.items())
        return SendFailed(
            f"{where}: recipients refused: {details}",
            transient=all(400 <= c < 500 for c in codes),
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendFailed(
            f"{where}: authentication failed ({exc.smtp_code} {_text(exc.smtp_error)})",
            transient=False,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return SendFailed(f"{where}: {code} {_text(exc.smtp_error)}", transient=code < 500)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailed(f"{where}: {exc} (check starttls/ssl)", transient=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendFailed(
            f"{where}: TLS certificate not trusted: {exc.verify_message} (see [smtp] ca_file)",
            transient=False,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendFailed(f"{where}: server disconnected: {exc}", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        return SendFailed(f"{where}: {exc}", transient=True)
    if isinstance(exc, ConnectionRefusedError):
        return SendFailed(f"{where}: connection refused", transient=True)
    if isinstance(exc, TimeoutError):
        return SendFailed(f"{where}: timed out", transient=True)
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return SendFailed(f"{where}: {reason}", transient=True)
