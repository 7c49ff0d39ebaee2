"""``calsync check``: sync, then each pair's 1:1 health, with what to do about it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from calsync.cli.check_json import write_check_document
from calsync.cli.check_table import render_check
from calsync.cli.common import EXIT_FAILED, Context, opened_store, out_console
from calsync.cli.params import InstantParam
from calsync.engine.directory import ended_histories
from calsync.engine.plan import evaluate_and_plan, evaluate_and_plan_each
from calsync.engine.sync import sync_all
from calsync.providers.factory import open_readers


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON document.")
@click.option("--now", type=InstantParam(), default=None, help="Evaluate as of this instant.")
@click.option("--no-sync", is_flag=True, help="Evaluate what the store holds; do not sync.")
@click.pass_obj
def check(obj: Context, as_json: bool, now: datetime | None, no_sync: bool) -> None:
    """Sync, then show each pair's 1:1 health and what needs attention."""
    settings = obj.settings
    now = now or datetime.now(UTC)
    with opened_store(settings, obj.config_path) as store, open_readers(settings) as readers:
        if no_sync:
            store.sync_config(settings)  # a new database knows the pairs without a sync
            results = []
        else:
            results = sync_all(settings, store, readers, now)
        # The readers tell which calendars calsync could write (cannot_book otherwise).
        # One manager's group at a time: memory follows a group, not the team.
        if as_json:
            # Each pair is printed as soon as it is evaluated, then let go.
            each = evaluate_and_plan_each(settings, store, readers, now, enqueue=False)
            write_check_document(_echo, settings, ((h, p) for _, h, p in each), results, now,
                                 lambda: ended_histories(settings, store))
        else:
            healths, plans = evaluate_and_plan(settings, store, readers, now, enqueue=False)
            ended = ended_histories(settings, store)
    if not as_json:
        render_check(out_console(), settings, healths, results, now, plans, ended)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)  # the health shown may miss what that calendar holds


def _echo(text: str) -> None:
    click.echo(text, nl=False)
