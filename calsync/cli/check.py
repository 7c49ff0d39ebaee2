"""``calsync check``: sync, then each pair's 1:1 health, with what to do about it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from calsync.cli.check_json import check_document
from calsync.cli.check_table import render_check
from calsync.cli.common import EXIT_FAILED, Context, opened_store, out_console
from calsync.cli.params import InstantParam
from calsync.engine.directory import ended_histories
from calsync.engine.evaluate import evaluate_all, load_calendars
from calsync.engine.plan import plan_all
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
        calendars = load_calendars(store, settings.pairs)
        healths = evaluate_all(settings, store, now, calendars=calendars)
        # The readers tell which calendars calsync could write (cannot_book otherwise).
        plans = plan_all(settings, store, healths, readers, now, enqueue=False,
                         calendars=calendars)
        ended = ended_histories(settings, store)
    if as_json:
        document = check_document(settings, healths, results, now, plans, ended)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        render_check(out_console(), settings, healths, results, now, plans, ended)
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILED)  # the health shown may miss what that calendar holds
