"""``calsync people sync``: people and pairs from the directory sources, shown then applied."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.markup import escape

from calsync.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Context,
    err_console,
    opened_store,
    out_console,
)
from calsync.cli.params import InstantParam
from calsync.engine.directory import SourceOutcome, people_sync
from calsync.engine.roster import Difference


@click.group()
def people() -> None:
    """People and pairs from the organisation's directory ([directory])."""


@people.command("sync")
@click.option("--dry-run", is_flag=True, help="Show the difference; store nothing.")
@click.option("--force", is_flag=True,
              help="Apply even when more than half of a source's people would leave at once.")
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.pass_obj
def sync_people(obj: Context, dry_run: bool, force: bool, now: datetime | None) -> None:
    """Read every directory source, print the difference, then apply it.

    Exit 1 when a source could not be read or would lose more than half its
    people at once (it changes nothing), 2 when a source's data is wrong (a
    CSV with bad rows: the file is refused whole).
    """
    settings = obj.toml_settings
    console = out_console()
    if not settings.directory.sources:
        console.print("no [[directory.sources]] in the config: nothing to read", highlight=False)
        return
    with opened_store(settings, obj.config_path) as store:
        outcomes = people_sync(settings, store, now or datetime.now(UTC), dry_run=dry_run,
                               force=force)
    for outcome in outcomes:
        _show(err_console if outcome.error else console, outcome, dry_run)
    if any(o.bad_input for o in outcomes):
        sys.exit(EXIT_BAD_INPUT)
    if any(o.error is not None for o in outcomes):
        sys.exit(EXIT_FAILED)


def _show(console: Console, outcome: SourceOutcome, dry_run: bool) -> None:
    if outcome.error is not None:
        console.print(f"[red]✗[/] {escape(outcome.source)}: {escape(outcome.error.message)}\n"
                      "  nothing changed for this source (no pair is ended on a failed read)",
                      highlight=False)
        if outcome.difference is not None:
            console.print("  what it read would change:", highlight=False)
            for line in difference_lines(outcome.difference):
                console.print("  " + escape(line), highlight=False)
        return
    difference = outcome.difference
    assert difference is not None
    verb = "would change" if dry_run else "changed"
    if difference.empty:
        console.print(f"[green]✓[/] {escape(outcome.source)}: no change", highlight=False)
    else:
        console.print(f"[bold]{escape(outcome.source)}[/] {verb}:", highlight=False)
        for line in difference_lines(difference):
            console.print("  " + escape(line), highlight=False)
    for note in difference.notes:
        console.print(f"  [yellow]note[/]: {escape(note)}", highlight=False)
    if dry_run and not difference.empty:
        console.print("  (dry run: nothing stored)", highlight=False)


def difference_lines(difference: Difference) -> list[str]:
    """One line per change, grouped: new people, new pairs, manager changes, departures."""
    lines = [f"+ person {email}" for email in difference.new_people]
    lines += [f"+ pair {manager} / {report}" for manager, report in difference.new_pairs
              if (manager, report) not in {(n, r) for r, _, n in difference.manager_changes}]
    lines += [f"~ manager of {report}: {old} -> {new} (pair {old} / {report} ends, "
              f"pair {new} / {report} starts)" for report, old, new in difference.manager_changes]
    lines += [f"- person {email} left" for email in difference.departures]
    lines += [f"- pair {manager} / {report} ends: {reason}"
              for manager, report, reason in difference.ended]
    return lines
