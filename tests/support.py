"""Plain helpers shared by the test modules (fixtures live in ``conftest.py``).

A helper module, not a test module: its name does not start with ``test_``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from click.testing import CliRunner

from calsync.cli.main import main
from calsync.demo.sample import DEMO_NOW

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
R = TypeVar("R")


def missing(reason: str, *, what: str) -> NoReturn:
    """A tool a test needs is not on the machine: fail under ``CI``, skip elsewhere.

    The tests never install anything; ``.ci/run`` installs what CI needs, so
    there a missing tool is a broken setup, not a reason to pass quietly.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run {what}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Clock:
    """An injected clock a test moves by hand: ``clock.now = later``."""

    def __init__(self, now: datetime = DEMO_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """``calsync -c config ARGS`` in-process: (exit code, stdout, stderr).

    A wide console, so table cells are not wrapped mid-sentence; an exception
    other than the command's own exit is raised, not hidden in the result.
    """
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["-c", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def at_once(work: Callable[[T], R], items: Sequence[T], timeout: float = 120) -> list[R]:
    """``work(item)`` for every item, each on its own thread, all released at one instant.

    What separate workers or browser tabs racing for the same row look like.
    The results come in the order of ``items``; an exception in any thread is
    raised here, not lost with its thread.
    """
    start = threading.Barrier(len(items), timeout=timeout)

    def run(item: T) -> R:
        start.wait()
        return work(item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(run, items, timeout=timeout))
