"""``calsync sync``: one pass of every provider into the store."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from rich.markup import escape

from calsync.cli.common import EXIT_FAILED, Context, opened_store, out_console, sync_now
from calsync.cli.params import InstantParam


@click.command()
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.pass_obj
def sync(obj: Context, now: datetime | None) -> None:
    """One pass of every provider into the store."""
    settings = obj.settings
    now = now or datetime.now(UTC)
    console = out_console()
    with opened_store(settings, obj.config_path) as store:
        results = sync_now(settings, store, now)
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
