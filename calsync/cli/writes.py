"""``calsync writes``: the audit log of every calendar write calsync made (or would make)."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

from calsync.cli.common import Context, bad_input, opened_store, out_console
from calsync.cli.params import InstantParam
from calsync.model import normalize_email
from calsync.store import WriteRecord
from calsync.timeutil import iso


def _document(records: list[WriteRecord]) -> dict:
    return {
        "format": 1,
        "writes": [
            {
                "id": r.id, "at": iso(r.at), "kind": r.kind, "dry_run": r.dry_run,
                "manager": r.manager, "report": r.report, "provider": r.provider,
                "calendar": r.calendar, "remote_id": r.remote_id, "why": r.why,
                "before": r.before, "after": r.after, "key": r.key,
            }
            for r in records
        ],
    }


@click.command()
@click.option("--pair", nargs=2, metavar="MANAGER REPORT", default=None,
              help="Only this pair's writes.")
@click.option("--since", type=InstantParam(), default=None, help="Only writes from this instant.")
@click.option("--json", "as_json", is_flag=True, help="Print the writes as a JSON document.")
@click.pass_obj
def writes(obj: Context, pair: tuple[str, str] | None, since: datetime | None,
           as_json: bool) -> None:
    """Every calendar write calsync made, with where, why, and the text before and after."""
    settings = obj.settings
    if pair is not None:
        pair = (normalize_email(pair[0]), normalize_email(pair[1]))
        if not any((p.manager, p.report) == pair for p in settings.pairs):
            bad_input(f"--pair {pair[0]} {pair[1]}: no such pair in {obj.config_path}")
    with opened_store(settings, obj.config_path) as store:
        records = store.writes(pair=pair, since=since)
    if as_json:
        click.echo(json.dumps(_document(records), indent=2, ensure_ascii=False))
        return
    console = out_console()
    if not records:
        console.print("No calendar writes recorded.")
        return
    table = Table(title="Calendar writes", show_lines=True)
    for column in ("#", "When (UTC)", "What", "Pair", "Where", "Why"):
        table.add_column(column)
    for r in records:
        what = r.kind.replace("_", " ") + (" (dry run: not written)" if r.dry_run else "")
        pair_text = f"{r.manager} → {r.report}" if r.manager else "–"
        table.add_row(str(r.id), f"{r.at:%Y-%m-%d %H:%M}", escape(what), escape(pair_text),
                      escape(f"{r.provider}: {r.calendar}"), escape(r.why))
    console.print(table)
