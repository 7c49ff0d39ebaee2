"""The ``calsync`` command: doctor, sync, check.

Exit status: 0 success; 1 something the command checks failed (a calendar that
could not be synced, a doctor problem); 2 bad input (config file, arguments).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from calsync.cli.params import InstantParam
from calsync.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from calsync.engine.sync import CalendarResult
    from calsync.store import Store

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

err_console = Console(stderr=True)


def out_console() -> Console:
    """stdout; piped or in a log (no terminal to ask, no COLUMNS), 140 columns wide."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=140)


class Context:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                err_console.print(f"[bold red]config error[/]\n{escape(str(exc))}", highlight=False)
                sys.exit(EXIT_BAD_INPUT)
        return self._settings


@contextmanager
def opened_store(settings: Settings, source: Path) -> Iterator[Store]:
    from calsync.store import StoreError, open_store
    from calsync.store.db import normalize_url

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


def _redact(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as nothing
        return "(database URL)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="calsync.toml",
    envvar="CALSYNC_CONFIG",
    show_default=True,
    help="Configuration file (TOML).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="calsync")
@click.pass_context
def main(ctx: click.Context, config_path: Path, verbose: int) -> None:
    """Keep recurring one-on-one meetings alive."""
    level = logging.WARNING - 10 * min(verbose, 2)
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(
            console=err_console, show_path=False, markup=False
        )
        style = "%(message)s"
    else:
        # Under systemd or cron: one plain line per event, no wrapping.
        handler = logging.StreamHandler()
        style = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=style, handlers=[handler], force=True)
    ctx.obj = Context(config_path)


@main.command()
@click.pass_obj
def doctor(obj: Context) -> None:
    """Check the config, the database and every calendar; list the problems."""
    from calsync.engine.sync import build_readers, calendar_of, close_readers

    settings = obj.settings
    console = out_console()
    problems: list[str] = []
    console.print(f"[green]✓[/] config {obj.config_path}: {len(settings.people)} people, "
                  f"{len(settings.pairs)} pairs, {len(settings.providers)} providers")
    with opened_store(settings, obj.config_path) as store:
        console.print(f"[green]✓[/] database {_redact(settings.database_url())} (schema current)")
        from calsync.report import report_problems

        problems += report_problems(store)
        for status in store.calendar_status():
            if status.last_error:
                problems.append(
                    f"{status.owner}: last sync failed at {status.last_error_at:%Y-%m-%d %H:%M} "
                    f"UTC: {status.last_error}"
                )
    readers = build_readers(settings)
    try:
        for person in settings.people:
            calendar = calendar_of(person.calendar, person.email)
            problem = readers[person.provider].probe(calendar)
            if problem:
                problems.append(f"{person.email} ({person.provider}): {problem}")
            else:
                console.print(f"[green]✓[/] {person.email}: {person.provider} calendar readable")
    finally:
        close_readers(readers)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {escape(problem)}", highlight=False)
        sys.exit(EXIT_FAILED)
    console.print("[green]No problems found.[/]")


def _sync(settings: Settings, store: Store, now: datetime) -> list[CalendarResult]:
    from calsync.engine.sync import build_readers, close_readers, sync_all

    readers = build_readers(settings)
    try:
        return sync_all(settings, store, readers, now)
    finally:
        close_readers(readers)


@main.command()
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.pass_obj
def sync(obj: Context, now: datetime | None) -> None:
    """One pass of every provider into the store."""
    settings = obj.settings
    now = now or datetime.now(UTC)
    console = out_console()
    with opened_store(settings, obj.config_path) as store:
        results = _sync(settings, store, now)
    for r in results:
        if r.ok:
            what = f"+{r.inserted} ~{r.updated} -{r.deleted}"
            if r.unchanged:
                what = "unchanged"
            elif r.resynced:
                what += " (full resync)"
            console.print(f"[green]✓[/] {r.owner} ({r.provider}): {what}", highlight=False)
        else:
            console.print(f"[red]✗[/] {r.owner} ({r.provider}): {escape(r.message)}",
                          highlight=False)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON document.")
@click.option("--now", type=InstantParam(), default=None, help="Evaluate as of this instant.")
@click.option("--no-sync", is_flag=True, help="Evaluate what the store holds; do not sync.")
@click.pass_obj
def check(obj: Context, as_json: bool, now: datetime | None, no_sync: bool) -> None:
    """Sync, then show each pair's 1:1 health and what needs attention."""
    from calsync.cli.check_json import check_document
    from calsync.engine.evaluate import evaluate_all, load_calendars

    settings = obj.settings
    now = now or datetime.now(UTC)
    from calsync.engine.plan import plan_all

    with opened_store(settings, obj.config_path) as store:
        results = [] if no_sync else _sync(settings, store, now)
        calendars = load_calendars(store, settings.pairs)
        healths = evaluate_all(settings, store, now, calendars=calendars)
        plans = plan_all(settings, store, healths, {}, now, enqueue=False, calendars=calendars)
    if as_json:
        document = check_document(settings, healths, results, now, plans)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    from calsync.cli.check_table import render_check

    render_check(out_console(), settings, healths, results, now)


@main.command()
@click.option("--once", is_flag=True, help="One cycle, then exit (for cron); no HTTP server.")
@click.option("--now", type=InstantParam(), default=None,
              help="Pretend it is this instant (with --once).")
@click.pass_obj
def run(obj: Context, once: bool, now: datetime | None) -> None:
    """The team daemon: sync, evaluate, rebook, agenda links, weekly emails."""
    from calsync.engine.sync import build_readers, close_readers
    from calsync.service.daemon import Daemon

    if now is not None and not once:
        raise click.BadParameter("--now only makes sense with --once", param_hint="--now")
    settings = obj.settings
    with opened_store(settings, obj.config_path) as store:
        readers = build_readers(settings)
        try:
            daemon = Daemon(settings, store, readers,
                            **({"clock": lambda: now} if now is not None else {}))
            code = daemon.run(once=once)
        finally:
            close_readers(readers)
    sys.exit(code)


@main.command()
@click.option("--now", type=InstantParam(), default=None, help="Evaluate as of this instant.")
@click.option("--emails", "emails_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write the managers' weekly emails into this folder.")
@click.pass_obj
def demo(obj: Context, now: datetime | None, emails_dir: Path | None) -> None:
    """Run the sample team (config/demo.toml), partly on the built-in emulators."""
    from calsync.cli.check_table import render_check
    from calsync.demo.run import BUMP_NOW, bump_and_make_up, on_emulators
    from calsync.demo.sample import DEMO_NOW
    from calsync.engine.evaluate import evaluate_all, load_calendars
    from calsync.engine.plan import plan_all
    from calsync.engine.sync import build_readers, close_readers

    now = now or DEMO_NOW
    console = out_console()
    with (
        on_emulators(obj.settings) as (settings, sources, emulator),
        opened_store(settings, obj.config_path) as store,
    ):
        readers = build_readers(settings)
        try:
            results = _sync(settings, store, now)
            calendars = load_calendars(store, settings.pairs)
            healths = evaluate_all(settings, store, now, calendars=calendars)
            plans = plan_all(settings, store, healths, {}, now, enqueue=False,
                             calendars=calendars)
            console.print("[bold]calsync demo[/]: the sample team's calendars come from")
            for line in sources:
                console.print(f"  • {line}", highlight=False)
            synced = sum(r.inserted for r in results)
            console.print(f"  {len(results)} calendars synced, {synced} events stored.\n")
            render_check(console, settings, healths, results, now, plans)
            console.print()
            for line in bump_and_make_up(settings, store, readers, emulator):
                console.print(line, highlight=False)
            later = evaluate_all(settings, store, BUMP_NOW)
            dev = [h for h in later if h.report == "dev@example.com"]
            console.print()
            render_check(console, settings, dev, [], BUMP_NOW)
            if emails_dir is not None:
                from calsync.cli.report import write_previews
                from calsync.report import IsoWeek, build_message, build_reports

                console.print()
                reports = build_reports(settings, store, BUMP_NOW, week=IsoWeek(2026, 47))
                sender = settings.report.from_address or "calsync <calsync@example.com>"
                messages = [build_message(r, sender) for r in reports]
                write_previews(reports, messages, emails_dir,
                               lambda line: console.print(line, highlight=False))
        finally:
            close_readers(readers)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("provider")
@click.option("--no-browser", is_flag=True, help="Only print the address to open.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Local port for the consent redirect (0: any free port).")
@click.pass_obj
def auth(obj: Context, provider: str, no_browser: bool, port: int) -> None:
    """Authorize calsync to read a provider's calendars (Google consent, Microsoft device code)."""
    from calsync.config import GoogleProvider, OutlookProvider
    from calsync.providers.google.auth import authorize
    from calsync.secrets import SecretBox, SecretError

    settings = obj.settings
    if provider not in settings.providers:
        known = ", ".join(sorted(settings.providers)) or "none"
        raise click.BadParameter(f"no provider named {provider!r} (known: {known})",
                                 param_hint="PROVIDER")
    chosen = settings.providers[provider]
    if isinstance(chosen, OutlookProvider) and chosen.auth == "device_code":
        from calsync.providers.outlook.auth import authorize as outlook_authorize

        try:
            box = SecretBox.load(settings.path(settings.secret_key_file))
            path = outlook_authorize(provider, chosen, settings.path, box, say=click.echo)
        except (ValueError, SecretError) as exc:
            err_console.print(f"[bold red]auth[/]: {exc}", highlight=False)
            sys.exit(EXIT_BAD_INPUT)
        click.echo(f"Signed in. The token cache is stored encrypted in {path} (mode 0600).")
        return
    if not isinstance(chosen, GoogleProvider) or chosen.auth != "oauth":
        auth_kind = getattr(chosen, "auth", "none")
        click.echo(f"Provider {provider!r} ({chosen.kind}, auth = {auth_kind}) needs no consent "
                   "step; `calsync doctor` checks that its calendars are readable.")
        return
    try:
        box = SecretBox.load(settings.path(settings.secret_key_file))
        path = authorize(provider, chosen, settings.path, box, open_browser=not no_browser,
                         port=port, say=click.echo)
    except (ValueError, SecretError) as exc:
        err_console.print(f"[bold red]auth[/]: {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"Authorized. The token is stored encrypted in {path} (mode 0600).")


from calsync.cli.report import report  # noqa: E402 (registered last: it uses this module)

main.add_command(report)


if __name__ == "__main__":  # pragma: no cover
    main()
