"""``calsync run``: the team daemon (or one cycle of it, for cron)."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from calsync.cli.common import Context, bad_input, opened_store
from calsync.cli.params import InstantParam
from calsync.providers.factory import open_readers
from calsync.service import metrics
from calsync.service.daemon import Daemon
from calsync.service.web.oidc import OidcSecretMissing, oidc_sign_in


@click.command()
@click.option("--once", is_flag=True, help="One cycle, then exit (for cron); no HTTP server.")
@click.option("--now", type=InstantParam(), default=None,
              help="Pretend it is this instant (with --once).")
@click.pass_obj
def run(obj: Context, once: bool, now: datetime | None) -> None:
    """The team daemon: sync, evaluate, rebook, agenda links, weekly emails."""
    if now is not None and not once:
        raise click.BadParameter("--now only makes sense with --once", param_hint="--now")
    settings = obj.settings
    if not once:
        try:
            oidc_sign_in(settings.web.oidc)  # fail now, not when the web app starts
        except OidcSecretMissing as exc:
            bad_input(str(exc))
    with (
        opened_store(settings, obj.config_path) as store,
        open_readers(settings, count_api_call=metrics.record_api_call) as readers,
    ):
        daemon = Daemon(settings, store, readers, toml=obj.toml_settings,
                        **({"clock": lambda: now} if now is not None else {}))
        code = daemon.run(once=once)
    sys.exit(code)
