"""``calsync report``: the weekly cadence-health email, previewed, sent, or as JSON.

Registered on the ``calsync`` group at the end of ``calsync/cli/main.py``. Names
from ``calsync.cli.main`` are imported inside the command, not at import time, so
``python -m calsync.cli.main`` (which loads cli.py as ``__main__``) has no import
cycle.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from calsync.cli.common import EXIT_FAILED, Context, bad_input, opened_store, sync_now
from calsync.cli.params import InstantParam, IsoWeekParam
from calsync.model import normalize_email
from calsync.report import IsoWeek, build_message, build_reports, deliver, reports_document
from calsync.report.mailer import SmtpMailer
from calsync.report.service import managers_of


@click.command()
@click.option(
    "--manager",
    "managers",
    multiple=True,
    metavar="EMAIL",
    help="Only this manager (repeatable). Default: every manager.",
)
@click.option(
    "--week",
    type=IsoWeekParam(),
    default=None,
    help="The ISO week to report, e.g. 2026-W47. Default: the week each manager's email is "
    "due for (the last full week before their latest send time).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each email as WEEK-EMAIL.eml and .html previews into this folder.",
)
@click.option("--send", is_flag=True, help="Send through [smtp] (recorded: never twice).")
@click.option("--resend", is_flag=True, help="With --send: send again even if already sent.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as a JSON document.")
@click.option("--now", type=InstantParam(), default=None, help="Pretend it is this instant.")
@click.option("--no-sync", is_flag=True, help="Use what the store holds; do not sync first.")
@click.pass_obj
def report(
    obj: Context,
    managers: tuple[str, ...],
    week: IsoWeek | None,
    out_dir: Path | None,
    send: bool,
    resend: bool,
    as_json: bool,
    now: datetime | None,
    no_sync: bool,
) -> None:
    """Each manager's weekly 1:1 health email: preview (default), --out, --send, or --json."""
    settings = obj.settings
    now = now or datetime.now(UTC)

    def say(message: str) -> None:
        # Status lines go to stderr when stdout carries the JSON document.
        click.echo(message, err=as_json)

    if resend and not send:
        bad_input("--resend only makes sense with --send")
    if send and settings.smtp is None:
        bad_input(f"{obj.config_path}: [smtp] is not configured, so --send cannot send")
    known = {person.email for person in managers_of(settings)}
    wanted = [normalize_email(m) for m in managers]
    for email in wanted:
        if email not in known:
            listed = ", ".join(sorted(known)) or "none"
            bad_input(f"--manager {email}: not the manager of any pair (managers: {listed})")

    with opened_store(settings, obj.config_path) as store:
        if no_sync:
            store.sync_config(settings)  # a new database knows the pairs without a sync
        else:
            sync_now(settings, store, now)
        try:
            reports = build_reports(
                settings, store, now, week=week, managers=wanted or None
            )
        except ValueError as exc:
            bad_input(f"--week: {exc}")
        sender = settings.report.from_address
        messages = [build_message(r, sender) for r in reports]

        if as_json:
            click.echo(json.dumps(reports_document(reports, now), indent=2, ensure_ascii=False))
        if out_dir is not None:
            write_previews(reports, messages, out_dir, say)
        if not (as_json or out_dir or send):
            for index, message in enumerate(messages):
                if index:
                    click.echo("\n" + "=" * 78 + "\n")
                click.echo(f"Subject: {message['Subject']}\nTo: {message['To']}\n")
                text_part = message.get_body(("plain",))
                assert text_part is not None
                click.echo(text_part.get_content(), nl=False)
        failed = False
        if send:
            assert settings.smtp is not None and sender is not None
            mailer = SmtpMailer(settings.smtp, base_dir=settings.base_dir)
            for r, message in zip(reports, messages, strict=True):
                outcome = deliver(
                    store, r.manager, str(r.week), sender, lambda m=message: m, mailer, now,
                    ignore_backoff=True, resend=resend,
                )
                if outcome.state == "sent":
                    say(f"✓ sent to {r.manager} ({r.week})")
                elif outcome.state == "skipped":
                    record = outcome.record
                    if record is not None and record.state == "sent" and record.sent_at:
                        why = f"already sent at {record.sent_at:%Y-%m-%d %H:%M} UTC"
                    elif record is not None:
                        why = (
                            f"a send started at {record.claimed_at:%Y-%m-%d %H:%M} UTC has not "
                            "finished (another calsync process, or it was interrupted)"
                        )
                    else:
                        why = "not claimable"
                    say(f"– {r.manager} ({r.week}): {why} (--resend to send again)")
                else:
                    failed = True
                    say(f"✗ {r.manager} ({r.week}): not sent: {outcome.error}")
    if failed:
        sys.exit(EXIT_FAILED)


def write_previews(
    reports: list[Any], messages: list[Any], out_dir: Path, say: Any = click.echo
) -> None:
    """Each email as WEEK-EMAIL.eml and its HTML part as WEEK-EMAIL.html in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for r, message in zip(reports, messages, strict=True):
        stem = f"{r.week}-{r.manager}"
        eml, html = out_dir / f"{stem}.eml", out_dir / f"{stem}.html"
        eml.write_bytes(bytes(message))
        html_part = message.get_body(("html",))
        assert html_part is not None
        html.write_text(html_part.get_content(), encoding="utf-8")
        say(f"✓ {r.manager_name} ({r.week}): {eml}")
        say(f"  {' ' * len(r.manager_name)}   preview: {html}")
    say(
        f"Wrote {len(reports)} weekly email(s) to {out_dir}/: open the .html in a "
        "browser, the .eml in a mail client."
    )
