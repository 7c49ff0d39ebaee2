"""The whole web app for a configured team, as ``calsync run`` and ``calsync serve`` serve it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import text
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp

from calsync.config import Settings
from calsync.secrets import SecretBox
from calsync.service.web import auth
from calsync.service.web.app import create_app
from calsync.service.web.hooks import Hooks
from calsync.service.web.oidc import oidc_sign_in
from calsync.service.web.site import TeamSite
from calsync.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


def database_health(store: Store) -> Callable[[], tuple[bool, dict[str, Any]]]:
    """``/healthz`` of a ``calsync serve`` process: the database answers."""

    def health() -> tuple[bool, dict[str, Any]]:
        try:
            with store.transaction() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            return False, {"status": "database unreachable", "error": type(exc).__name__}
        return True, {"status": "ok"}

    return health


def web_app(
    settings: Settings,
    store: Store,
    hooks: Hooks,
    box: SecretBox,
    clock: Callable[[], datetime] = _now,
    *,
    send_mail: Callable[[EmailMessage], None] | None = None,
) -> ASGIApp:
    """The machine endpoints plus the 1:1 pages, sign-in and API for ``settings``' team.

    Raises :class:`~calsync.service.web.oidc.OidcSecretMissing` when ``[web.oidc]``
    is set and its client secret is not in the environment.
    """
    site = TeamSite(settings, store, clock, send_mail=send_mail,
                    oidc=oidc_sign_in(settings.web.oidc), on_booked=hooks.on_change)
    return create_app(hooks, site, [session_middleware(settings, box)])


def session_middleware(settings: Settings, box: SecretBox) -> Middleware:
    web = settings.web
    return Middleware(
        SessionMiddleware,
        secret_key=auth.session_key(box.fingerprint()),
        session_cookie=auth.SESSION_COOKIE,
        max_age=int(web.session_lifetime.total_seconds()),
        same_site="lax",
        https_only=bool(web.public_url and web.public_url.startswith("https://")),
    )
