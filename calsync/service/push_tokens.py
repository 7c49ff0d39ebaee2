"""Push tokens: the Google channel token and the Graph clientState calsync mints.

A token is ``base64url(calendar) + "." + expiry + "." + base64url(HMAC-SHA256(
secret, provider + "|" + calendar + "|" + expiry))[:32]``, the expiry in Unix
seconds, base 36. It names the calendar, proves calsync issued it and says
until when: the webhook needs no channel or subscription table, a
notification from a channel opened before a restart still verifies (it
triggers a harmless sync), and a token leaked from an old channel stops
working when that channel would have ended. Channels and subscriptions are
rotated (a new one, a new token) rather than extended. Neither tokens nor the
secret are ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime

GOOGLE = "google"
OUTLOOK = "outlook"
#: Microsoft Graph's clientState limit (Google's channel token allows 256).
TOKEN_MAX = 128
#: Characters of the base64url HMAC kept in a token (192 bits).
MAC_CHARS = 32


class TokenTooLong(ValueError):
    """A calendar id too long for a push token that Graph's clientState accepts."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_BASE36 = re.compile(r"^[0-9a-z]+$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, provider: str, calendar: str, expiry: str) -> str:
    message = f"{provider}|{calendar}|{expiry}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())[:MAC_CHARS]


def push_secret(key_fingerprint: bytes) -> bytes:
    """The push-token secret, derived from the secret key's fingerprint (never the key).

    Derived, not stored, so every worker and every restart agree on it.
    """
    if not key_fingerprint:
        raise ValueError("the secret key is empty")
    return hashlib.sha256(b"calsync push tokens|" + key_fingerprint).digest()


def mint_token(secret: bytes, provider: str, calendar: str, *, expires: datetime) -> str:
    """The push token (Google channel token, Graph clientState) for ``calendar``.

    Valid until ``expires``. Raises :class:`TokenTooLong` beyond
    :data:`TOKEN_MAX` characters (calendar ids up to 66 bytes of UTF-8 fit).
    """
    if not secret:
        raise ValueError("the push secret is empty")
    if not provider or "|" in provider:
        raise ValueError(f"{provider!r} is not a provider name")
    if not calendar:
        raise ValueError("the calendar id is empty")
    expiry = _base36(int(expires.timestamp()))
    token = ".".join(
        [_b64(calendar.encode("utf-8")), expiry, _mac(secret, provider, calendar, expiry)]
    )
    if len(token) > TOKEN_MAX:
        raise TokenTooLong(
            f"calendar {calendar!r}: its push token would be {len(token)} characters, but "
            f"Microsoft Graph accepts at most {TOKEN_MAX} in clientState (calendar ids up to "
            "66 bytes fit); this calendar is synced by polling only"
        )
    return token


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = digits[digit] + out
        if not number:
            return out


def verify_token(
    secret: bytes, provider: str, token: str | None, *, now: datetime
) -> str | None:
    """The calendar ``token`` was minted for, or None when it is not calsync's or expired."""
    if not secret or not token or len(token) > TOKEN_MAX:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    head, expiry, mac = parts
    if not head or len(mac) != MAC_CHARS or not _BASE36.match(expiry) or len(expiry) > 12:
        return None
    try:
        calendar = _unb64(head).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    expected = _mac(secret, provider, calendar, expiry)
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace")):
        return None
    if int(expiry, 36) < now.timestamp():
        return None
    return calendar
