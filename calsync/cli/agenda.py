"""``calsync agenda export``: a pair's agenda, notes and action items, so nothing is locked in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from calsync.cli.common import Context, bad_input, opened_store
from calsync.cli.params import InstantParam
from calsync.engine.agenda import pair_agenda
from calsync.model import normalize_email
from calsync.service.web.export import agenda_json, agenda_markdown


@click.group()
def agenda() -> None:
    """The 1:1 pages' agendas."""


@agenda.command("export")
@click.option("--pair", "pair", nargs=2, required=True, metavar="MANAGER REPORT",
              help="The pair's two emails, manager first.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.pass_obj
def export(obj: Context, pair: tuple[str, str], fmt: str, now: datetime | None) -> None:
    """Print one pair's agenda, history, shared notes and action items (never private notes)."""
    settings = obj.settings
    manager, report = (normalize_email(e) for e in pair)
    if not any(p.manager == manager and p.report == report for p in settings.pairs):
        bad_input(f"no pair {manager} / {report} in {obj.config_path} (manager first)")
    now = now or datetime.now(UTC)
    names = {p.email: p.display for p in settings.people}
    with opened_store(settings, obj.config_path) as store:
        store.sync_config(settings)
        zone = settings.person(manager).zone
        view = pair_agenda(store, manager, report, "", now, now.astimezone(zone).date())
        page = store.page_id(manager, report, now)

    def name(email: str) -> str:
        return names.get(email, email)
    if fmt == "json":
        click.echo(json.dumps(agenda_json(view, page, name), indent=2, ensure_ascii=False))
    else:
        click.echo(agenda_markdown(view, name), nl=False)
