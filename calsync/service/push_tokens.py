"""Push tokens: the Google channel token and the Graph clientState calsync mints.

A token is ``base64url(calendar) + "." + base64url(HMAC-SHA256(secret,
provider + "|" + calendar))[:32]``. It names the calendar and proves calsync
issued it, so the webhook needs no channel or subscription table, and a
notification from a channel opened before a restart still verifies (it
triggers a harmless sync). Neither tokens nor the secret are ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

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


_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, provider: str, calendar: str) -> str:
    message = f"{provider}|{calendar}".encode()
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())[:MAC_CHARS]


def push_secret(key_fingerprint: bytes) -> bytes:
    """The push-token secret, derived from the secret key's fingerprint (never the key).

    Derived, not stored, so every worker and every restart agree on it.
    """
    if not key_fingerprint:
        raise ValueError("the secret key is empty")
    return hashlib.sha256(b"calsync push tokens|" + key_fingerprint).digest()


def mint_token(secret: bytes, provider: str, calendar: str) -> str:
    """The push token (Google channel token, Graph clientState) for ``calendar``.

    Raises :class:`TokenTooLong` beyond :data:`TOKEN_MAX` characters (calendar
    ids up to 71 bytes of UTF-8 fit).
    """
    if not secret:
        raise ValueError("the push secret is empty")
    if not provider or "|" in provider:
        raise ValueError(f"{provider!r} is not a provider name")
    if not calendar:
        raise ValueError("the calendar id is empty")
    token = _b64(calendar.encode("utf-8")) + "." + _mac(secret, provider, calendar)
    if len(token) > TOKEN_MAX:
        raise TokenTooLong(
            f"calendar {calendar!r}: its push token would be {len(token)} characters, but "
            f"Microsoft Graph accepts at most {TOKEN_MAX} in clientState (calendar ids up to "
            "71 bytes fit); this calendar is synced by polling only"
        )
    return token


def verify_token(secret: bytes, provider: str, token: str | None) -> str | None:
    """The calendar ``token`` was minted for, or None when it is not calsync's."""
    if not secret or not token or len(token) > TOKEN_MAX:
        return None
    head, dot, mac = token.rpartition(".")
    if not dot or not head or len(mac) != MAC_CHARS:
        return None
    try:
        calendar = _unb64(head).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    expected = _mac(secret, provider, calendar)
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("utf-8", "replace")):
        return None
    return calendar
