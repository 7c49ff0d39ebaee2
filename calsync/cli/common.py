"""What every verb shares: exit codes, consoles, the config context, the store, a sync.

Exit status: 0 success; 1 something the command checks failed (a calendar
that could not be synced, a doctor problem); 2 bad input (config file,
arguments).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url

from calsync.config import ConfigError, Settings, load_settings
from calsync.engine.directory import with_directory
from calsync.engine.sync import CalendarResult, sync_all
from calsync.providers.factory import open_readers
from calsync.store import Store, StoreError, open_store
from calsync.store.db import normalize_url

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

err_console = Console(stderr=True)


def out_console() -> Console:
    """stdout; piped or in a log (no terminal to ask, no COLUMNS), 140 columns wide."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=140)


def bad_input(message: str, *, title: str = "error") -> NoReturn:
    """Say what was wrong with the input and exit 2."""
    err_console.print(f"[bold red]{title}[/]: {escape(message)}", highlight=False)
    sys.exit(EXIT_BAD_INPUT)


class Context:
    """The click context object: the config path, and the settings read on first use."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._toml: Settings | None = None
        self._settings: Settings | None = None

    @property
    def toml_settings(self) -> Settings:
        """The config file as written (without the directory's people and pairs)."""
        if self._toml is None:
            try:
                self._toml = load_settings(self.config_path)
            except ConfigError as exc:
                err_console.print(f"[bold red]config error[/]\n{escape(str(exc))}", highlight=False)
                sys.exit(EXIT_BAD_INPUT)
        return self._toml

    @property
    def settings(self) -> Settings:
        """The effective settings: the config merged with the directory's stored roster."""
        if self._settings is None:
            settings = self.toml_settings
            if settings.directory.sources:
                with opened_store(settings, self.config_path) as store:
                    settings = with_directory(settings, store)
            self._settings = settings
        return self._settings


@contextmanager
def opened_store(settings: Settings, source: Path) -> Iterator[Store]:
    """The migrated store of ``settings``; a bad URL exits 2, an unusable database 1."""
    url = settings.database_url()
    try:
        normalize_url(url)
    except StoreError as exc:
        err_console.print(
            f"[bold red]config error[/]\n{escape(f'{source}: database: {exc}')}", highlight=False
        )
        sys.exit(EXIT_BAD_INPUT)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        store = open_store(url)
    except StoreError as exc:
        err_console.print(f"[bold red]database[/]: {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_FAILED)
    try:
        yield store
    finally:
        store.close()


def redact_database_url(url: str) -> str:
    """A database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as nothing
        return "(database URL)"


def sync_now(settings: Settings, store: Store, now: datetime) -> list[CalendarResult]:
    """One sync of every calendar, with readers closed (tokens saved) afterwards."""
    with open_readers(settings) as readers:
        return sync_all(settings, store, readers, now)
