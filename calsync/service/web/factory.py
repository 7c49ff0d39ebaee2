"""The whole web app for a configured team, as ``calsync run`` and ``calsync serve`` serve it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from starlette.types import ASGIApp

from calsync.config import Settings
from calsync.secrets import SecretBox
from calsync.service.web.app import create_app
from calsync.service.web.hooks import Hooks
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
) -> ASGIApp:
    """The machine endpoints plus the 1:1 pages, sign-in and API for ``settings``' team."""
    del settings, store, box, clock  # the pages arrive with the site module
    return create_app(hooks)
