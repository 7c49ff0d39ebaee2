"""``python -m calsync_emulators.google|graph``: the options and the serving both share.

Each emulator's ``main`` adds its own options, builds the emulator and says
what its banner prints; binding, seeding, signals, the URL file and the exit
codes (2 for bad input, with a message naming it) are the same and live here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from calsync_emulators.latency import ENV_VAR as LATENCY_ENV_VAR
from calsync_emulators.seed_files import SeedError


class Servable(Protocol):
    """What serving needs of an emulator."""

    @property
    def url(self) -> str: ...

    def load_seed(self, paths: Sequence[str]) -> list[str]: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...


E = TypeVar("E", bound=Servable)


def add_serving_arguments(parser: argparse.ArgumentParser, url_help: str) -> None:
    """``--host``, ``--port``, ``--seed``, ``--latency`` and ``--url-file``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="FILE",
        help="a .json or .ics seed file, or a directory of them (repeatable)",
    )
    parser.add_argument(
        "--latency",
        default=None,
        help=f"delay every request by this long, e.g. 80ms (default: ${LATENCY_ENV_VAR} or 0)",
    )
    parser.add_argument("--url-file", type=Path, help=url_help)


def serve_until_signalled(
    args: argparse.Namespace, build: Callable[[], E], banner: Callable[[E, list[str]], str]
) -> int:
    """Build, seed and start the emulator, print ``banner`` (given what the seed loaded),
    write the URL file, and serve until SIGTERM or SIGINT; the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        emulator = build()
    except ValueError as exc:  # a bad --latency or $CALSYNC_EMULATOR_LATENCY
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        loaded = emulator.load_seed(args.seed)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        emulator.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(banner(emulator, loaded), flush=True)
    if args.url_file:
        # Written aside and renamed: whoever waits for the file reads the whole URL.
        partial = args.url_file.with_name(args.url_file.name + ".partial")
        partial.write_text(emulator.url + "\n", encoding="utf-8")
        os.replace(partial, args.url_file)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0
