"""``calsync demo``: the sample team, partly on the built-in emulators."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from calsync.cli.check_table import render_check
from calsync.cli.common import (
    EXIT_FAILED,
    Context,
    bad_input,
    opened_store,
    out_console,
)
from calsync.cli.params import InstantParam
from calsync.cli.report import write_previews
from calsync.config import Settings
from calsync.demo.sample import DEMO_NOW
from calsync.engine.evaluate import evaluate_all
from calsync.engine.plan import evaluate_and_plan
from calsync.engine.sync import sync_all
from calsync.providers.factory import open_readers
from calsync.report import IsoWeek, build_message, build_reports
from calsync.service.web.auth import LINK_LIFETIME, new_link_token
from calsync.store import Store


@click.command()
@click.option("--now", type=InstantParam(), default=None, help="Evaluate as of this instant.")
@click.option("--emails", "emails_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write the managers' weekly emails into this folder.")
@click.pass_obj
def demo(obj: Context, now: datetime | None, emails_dir: Path | None) -> None:
    """Run the sample team (config/demo.toml), partly on the built-in emulators."""
    try:
        # The emulators are a separate distribution: only the demo needs them.
        from calsync.demo.run import BUMP_NOW, bump_and_make_up, on_emulators
    except ImportError as exc:
        bad_input(f"calsync demo needs the calsync-emulators distribution "
                  f"(pip install ./emulators): {exc}")
    now = now or DEMO_NOW
    console = out_console()
    with (
        on_emulators(obj.settings) as (settings, sources, emulator),
        opened_store(settings, obj.config_path) as store,
        open_readers(settings) as readers,
    ):
        results = sync_all(settings, store, readers, now)
        # One manager's group at a time: memory follows a group, not the team.
        healths, plans = evaluate_and_plan(settings, store, readers, now, enqueue=False)
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
            console.print()
            reports = build_reports(settings, store, BUMP_NOW, week=IsoWeek(2026, 47))
            sender = settings.report.from_address or "calsync <calsync@example.com>"
            messages = [build_message(r, sender) for r in reports]
            write_previews(reports, messages, emails_dir,
                           lambda line: console.print(line, highlight=False))
        console.print()
        for line in page_lines(obj.settings, store, obj.config_path):
            console.print(line, highlight=False)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)


def page_lines(settings: Settings, store: Store, config: Path) -> list[str]:
    """How to open the 1:1 pages: the serve command and one-time links for Maria and Dev.

    The links are minted on the real clock (they expire 15 minutes from now,
    whatever instant the demo pretends it is).
    """
    listen = settings.web.listen or settings.daemon.listen
    base = settings.web.public_url or f"http://{listen}"
    wall = datetime.now(UTC)
    lines = ["[bold]The 1:1 pages[/]: start the web app, then open a link (each works once, "
             "for 15 minutes):", f"  calsync -c {config} serve"]
    for email in ("maria@example.com", "dev@example.com"):
        page = store.page_id("maria@example.com", "dev@example.com", wall)
        token, digest = new_link_token()
        store.add_signin_token(email, digest, wall, LINK_LIFETIME)
        name = settings.person(email).display
        lines.append(f"  {name}: {base}/signin/link/{token}?next=/1on1/{page}")
    return lines
