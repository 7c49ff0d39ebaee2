"""Secrets at rest, and what may be shown of them.

OAuth tokens and token caches are encrypted in 0600 files. The key comes from
``$CALSYNC_SECRET_KEY`` (a Fernet key) or from a key file that calsync creates
with mode 0600 the first time it needs one. A token file copied off the
machine without the key is useless.

A calendar id can itself be a secret: Google's "secret address in iCal
format" and most feed URLs carry their credential in the path or query.
:func:`shown_calendar` is what every output (tables, JSON, emails, logs) shows
of a calendar id.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken

KEY_ENV = "CALSYNC_SECRET_KEY"
URL_SCHEMES = ("http://", "https://", "webcal://", "webcals://")


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(URL_SCHEMES)


def redact_url(url: str) -> str:
    """Scheme and host only: the user, path and query of a URL may be a secret."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not host:
        return "<invalid URL>"
    scheme = {"webcal": "https", "webcals": "https"}.get(parts.scheme.lower(), parts.scheme)
    return f"{scheme.lower()}://{host}{port}/…"


def stored_calendar(calendar: str) -> str:
    """A calendar id as the database keeps it: a URL as its SHA-256, anything else as is.

    A feed URL's secret is its high-entropy path or query, so its digest says
    nothing of it and still tells the same calendar apart from the others.
    """
    if not is_url(calendar):
        return calendar
    return "url-sha256:" + hashlib.sha256(calendar.strip().encode()).hexdigest()


def shown_calendar(calendar: str) -> str:
    """A calendar id as it may be shown: a URL redacted, anything else as it is."""
    return redact_url(calendar) if is_url(calendar) else calendar


class SecretError(Exception):
    """A secret cannot be read or written; the message names the file, never the secret."""


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte (no window where it is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SecretBox:
    """Encrypts and decrypts small files with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
            self._fingerprint = hashlib.sha256(b"calsync key|" + key).digest()
        except (ValueError, TypeError):
            raise SecretError(
                f"the secret key is not a Fernet key (set {KEY_ENV} to the output of "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None

    @classmethod
    def load(cls, key_file: Path) -> SecretBox:
        """The key from the environment, else from ``key_file`` (created when missing)."""
        from_env = os.environ.get(KEY_ENV)
        if from_env:
            try:
                return cls(from_env.strip().encode())
            except SecretError as exc:
                raise SecretError(f"${KEY_ENV}: {exc}") from None
        try:
            return cls(key_file.read_bytes().strip())
        except SecretError as exc:
            raise SecretError(f"{key_file}: {exc}") from None
        except FileNotFoundError:
            key = Fernet.generate_key()
            _write_private(key_file, key + b"\n")
            return cls(key)
        except OSError as exc:
            raise SecretError(f"{key_file}: cannot read the secret key: {exc.strerror}") from None

    def fingerprint(self) -> bytes:
        """A digest of the key, to derive other keys from (never the key itself)."""
        return self._fingerprint

    def write(self, path: Path, data: bytes) -> None:
        _write_private(path, self._fernet.encrypt(data))

    def read(self, path: Path) -> bytes | None:
        """The decrypted content, or None when the file does not exist."""
        try:
            token = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretError(
                f"{path}: cannot be decrypted with this secret key (was {KEY_ENV} or the key "
                "file changed?); run `calsync auth` again"
            ) from None
