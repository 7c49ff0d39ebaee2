"""The ``calsync`` group: global options, logging, and the verbs registered on it.

Each verb lives in its own module; exit codes and shared helpers are in
:mod:`calsync.cli.common`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.logging import RichHandler

from calsync.cli.agenda import agenda
from calsync.cli.auth import auth
from calsync.cli.check import check
from calsync.cli.common import Context, err_console
from calsync.cli.demo import demo
from calsync.cli.doctor import doctor
from calsync.cli.report import report
from calsync.cli.run import run
from calsync.cli.serve import serve
from calsync.cli.sync import sync


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="calsync.toml",
    envvar="CALSYNC_CONFIG",
    show_default=True,
    help="Configuration file (TOML).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="calsync")
@click.pass_context
def main(ctx: click.Context, config_path: Path, verbose: int) -> None:
    """Keep recurring one-on-one meetings alive."""
    level = logging.WARNING - 10 * min(verbose, 2)
    if err_console.is_terminal:
        handler: logging.Handler = RichHandler(
            console=err_console, show_path=False, markup=False
        )
        style = "%(message)s"
    else:
        # Under systemd or cron: one plain line per event, no wrapping.
        handler = logging.StreamHandler()
        style = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=style, handlers=[handler], force=True)
    # HTTP libraries log each request line with its full URL at INFO, and a feed
    # URL can be a secret: they speak only of warnings, whatever -v says.
    for library in ("httpx", "httpcore", "urllib3", "googleapiclient.discovery"):
        logging.getLogger(library).setLevel(max(level, logging.WARNING))
    ctx.obj = Context(config_path)


for command in (doctor, sync, check, run, report, auth, demo, serve, agenda):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
