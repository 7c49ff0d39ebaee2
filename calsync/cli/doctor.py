"""``calsync doctor``: check the config, the database and every calendar; list the problems."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from rich.markup import escape

from calsync.cli.common import EXIT_FAILED, Context, opened_store, out_console, redact_database_url
from calsync.engine.workers import team_shares
from calsync.providers.base import DoctorNotes
from calsync.providers.factory import open_readers
from calsync.report import report_problems
from calsync.report.nudge import nudge_problems


@click.command()
@click.pass_obj
def doctor(obj: Context) -> None:
    """Check the config, the database and every calendar; list the problems."""
    settings = obj.settings
    console = out_console()
    problems: list[str] = []
    if not settings.pairs:
        # An empty or mistyped file is valid TOML, and would watch nobody.
        problems.append(f"{obj.config_path}: no [[pairs]] configured: calsync watches nothing")
    else:
        console.print(f"[green]✓[/] config {obj.config_path}: {len(settings.people)} people, "
                      f"{len(settings.pairs)} pairs, {len(settings.providers)} providers")
    with opened_store(settings, obj.config_path) as store:
        database = redact_database_url(settings.database_url())
        console.print(f"[green]✓[/] database {database} (schema current)")
        write_problem = store.write_problem()
        if write_problem:
            problems.append(f"database {database}: {write_problem}")
        problems += report_problems(store)
        problems += nudge_problems(store, datetime.now(UTC))
        for view in team_shares(settings, store, datetime.now(UTC)):
            # Several workers on PostgreSQL: who holds what, and who stopped renewing.
            state = "alive" if view.alive else "stopped renewing: its share is taken over"
            heartbeat = f"{view.last_heartbeat:%Y-%m-%d %H:%M:%S}" if view.last_heartbeat else "-"
            console.print(
                f"[green]✓[/] worker {escape(view.worker)}: {view.calendars} calendars, "
                f"{view.groups} groups, lease until {view.lease_expires:%Y-%m-%d %H:%M:%S} UTC, "
                f"last heartbeat {heartbeat} UTC ({state})",
                highlight=False,
            )
        for status in store.calendar_status():
            if status.last_error:
                problems.append(
                    f"{status.owner}: last sync failed at {status.last_error_at:%Y-%m-%d %H:%M} "
                    f"UTC: {status.last_error}"
                )
    with open_readers(settings) as readers:
        for person in settings.people:
            problem = readers[person.provider].probe(person.calendar_id)
            if problem:
                problems.append(f"{person.email} ({person.provider}): {problem}")
            else:
                console.print(f"[green]✓[/] {person.email}: {person.provider} calendar readable")
                reader = readers[person.provider]
                if isinstance(reader, DoctorNotes):
                    for note in reader.doctor_notes(person.calendar_id):
                        console.print(f"  {escape(note)}", highlight=False)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {escape(problem)}", highlight=False)
        sys.exit(EXIT_FAILED)
    console.print("[green]No problems found.[/]")
