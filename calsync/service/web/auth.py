"""Who is asking: signed session cookies, CSRF tokens, one-time sign-in links.

Sessions live in a signed cookie (Starlette's ``SessionMiddleware`` on
itsdangerous): HttpOnly, SameSite=Lax, Secure whenever ``[web] public_url`` is
https, and valid for ``[web] session_lifetime``. The signing key is derived
from calsync's secret key, so every ``calsync serve`` process of a team
accepts the same cookies and none of them stores sessions.

Every form carries the session's CSRF token; a POST without it (or with
another session's) is refused with 403 before anything is read or changed.

A sign-in link is 32 random bytes; only its SHA-256 is stored. It is used by a
POST from the page the link opens (mail scanners that fetch links must not
use them up), once, within 15 minutes; an address gets at most
``LINK_LIMIT`` links per ``LINK_WINDOW``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

SESSION_COOKIE = "calsync_session"
LINK_LIFETIME = timedelta(minutes=15)
LINK_LIMIT = 3
LINK_WINDOW = timedelta(minutes=15)
MAX_FORM_FIELDS = 20
MAX_FIELD = 64 * 1024  # bytes in one form field (a note)


def session_key(key_fingerprint: bytes) -> str:
    return hashlib.sha256(b"calsync web sessions|" + key_fingerprint).hexdigest()


def new_link_token() -> tuple[str, str]:
    """(the token for the link, the digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, link_digest(token)


def link_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def csrf_token(request: Request) -> str:
    session: dict[str, Any] = request.session
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's; else 403."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS,
                                  max_part_size=MAX_FIELD)
    except Exception:
        raise HTTPException(400, "the form could not be read") from None
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not (isinstance(sent, str) and isinstance(expected, str)
            and hmac.compare_digest(sent.encode(), expected.encode())):
        raise HTTPException(403, "the form has expired or did not come from calsync")
    return form


def sign_in(request: Request, email: str) -> None:
    """Start a fresh session for ``email`` (a new CSRF token: nothing carries over)."""
    request.session.clear()
    request.session["email"] = email
    csrf_token(request)


def signed_in(request: Request) -> str | None:
    email = request.session.get("email")
    return email if isinstance(email, str) else None


def safe_next(value: str) -> str:
    """Where to go after signing in: only a path on this site, never an open redirect."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value
