"""``calsync undo``: take back calsync's writes, exactly, through the outbox."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from rich.markup import escape

from calsync.cli.common import EXIT_FAILED, Context, bad_input, opened_store, out_console
from calsync.cli.params import InstantParam
from calsync.engine.outbox import execute
from calsync.engine.undo import enqueue_undo, plan_undo
from calsync.model import normalize_email
from calsync.providers.factory import open_readers


@click.command()
@click.argument("write_ids", nargs=-1, type=int, metavar="[WRITE-ID]...")
@click.option("--all", "everything", is_flag=True, help="Undo every write (of --pair).")
@click.option("--pair", nargs=2, metavar="MANAGER REPORT", default=None,
              help="With --all: only this pair's writes.")
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.pass_obj
def undo(obj: Context, write_ids: tuple[int, ...], everything: bool,
         pair: tuple[str, str] | None, now: datetime | None) -> None:
    """Delete calsync's upcoming make-ups and take its agenda blocks out (see `calsync writes`)."""
    if bool(write_ids) == everything:
        bad_input("name the writes to undo (ids from `calsync writes`) or give --all")
    if pair is not None and not everything:
        bad_input("--pair only goes with --all")
    settings = obj.settings
    now = now or datetime.now(UTC)
    if pair is not None:
        pair = (normalize_email(pair[0]), normalize_email(pair[1]))
    console = out_console()
    with opened_store(settings, obj.config_path) as store:
        records = store.writes(pair=pair)
        if write_ids:
            known = {r.id: r for r in records}
            missing = [i for i in write_ids if i not in known]
            if missing:
                bad_input(f"no write #{missing[0]} (see `calsync writes`)")
            records = [known[i] for i in write_ids]
        plan = plan_undo(store, records, now)
        for record, why in plan.skipped:
            if everything and why == "an undo itself":
                continue
            console.print(f"– #{record.id} {escape(record.why)}: not undone ({why})",
                          highlight=False)
        enqueue_undo(store, plan, now)
        with open_readers(settings) as readers:
            outcomes = execute(store, readers, now)
    undone = {q.key for _, q in plan.queued}
    failed = [o for o in outcomes if o.key in undone and o.outcome != "done"]
    for record, queued in plan.queued:
        state = next((o.outcome for o in outcomes if o.key == queued.key), "done earlier")
        mark = "✓" if state in ("done", "done earlier") else "✗"
        console.print(f"{mark} #{record.id} {escape(record.why)}: {state}", highlight=False)
    if failed:
        sys.exit(EXIT_FAILED)
