"""The ``calsync`` group: global options, logging, and the verbs registered on it.

Each verb lives in its own module; exit codes and shared helpers are in
:mod:`calsync.cli.common`.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.logging import RichHandler
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from calsync.cli.agenda import agenda
from calsync.cli.auth import auth
from calsync.cli.check import check
from calsync.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, Context, err_console
from calsync.cli.demo import demo
from calsync.cli.doctor import doctor
from calsync.cli.people import people
from calsync.cli.report import report
from calsync.cli.run import run
from calsync.cli.serve import serve
from calsync.cli.sync import sync
from calsync.cli.undo import undo
from calsync.cli.writes import writes
from calsync.model import printable
from calsync.secrets import SecretError


class _Guarded(click.Group):
    """The error boundary of every verb: a failure is a message and an exit code.

    A person never sees a traceback: what they must fix in the config or the
    key file exits 2 (so systemd stops restarting a daemon that cannot start),
    a database or network failure exits 1, and anything unforeseen says so in
    one line and exits 1 (``-vv`` logs the traceback for a bug report).
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except SecretError as exc:
            fail(f"secret key: {exc}", EXIT_BAD_INPUT)
        except SQLAlchemyError as exc:
            detail = printable(" ".join(str(getattr(exc, "orig", None) or exc).split()))
            fail(f"database: {detail[:300]}", EXIT_FAILED)
        except OSError as exc:
            binding = "cannot listen on" in str(exc)
            if binding or exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                # Another process has the port, or it is not ours to take: a person
                # picks another ([web] listen); restarting would not help.
                fail(f"{exc.strerror or exc} (check [web] listen / [daemon] listen)",
                     EXIT_BAD_INPUT)
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            fail(f"{exc.strerror or exc}{where}", EXIT_FAILED)
        except Exception as exc:  # the boundary: nothing unforeseen escapes as a traceback
            logging.getLogger("calsync").debug("unexpected failure", exc_info=True)
            fail(f"unexpected {type(exc).__name__}: {printable(str(exc))[:300]} "
                 "(a bug: run again with -vv and report it)", EXIT_FAILED)


def fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[bold red]error[/]: {escape(message)}", highlight=False)
    sys.exit(code)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (doctor, sync, check, run, report, auth, demo, serve, agenda, writes, undo,
                people):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
