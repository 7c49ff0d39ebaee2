"""An emulator in its own process, for benchmarks: calsync's peak memory is then its own."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

STARTUP_SECONDS = 300  # seeding a thousand calendars takes a while
T = TypeVar("T")


def start(module: str, seed: Path, folder: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Run ``python -m <module> --seed SEED``; (process, its URL) once it accepts connections.

    The emulator writes its URL, one line, after it starts listening; a line
    without its newline is still being written, so it is read again.
    """
    url_file = folder / f"{module.rsplit('.', 1)[-1]}.url"
    url_file.unlink(missing_ok=True)  # a previous run's URL names a port nobody serves now
    process = subprocess.Popen(
        [sys.executable, "-m", module, *extra, "--seed", str(seed), "--url-file", str(url_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        text = url_file.read_text() if url_file.exists() else ""
        if text.endswith("\n") and accepts(text.strip()):
            return process, text.strip()
        if process.poll() is not None:
            raise SystemExit(f"{module} exited while starting")
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{module} did not start within {STARTUP_SECONDS}s")


@contextmanager
def running(module: str, seed: Path, folder: Path, *extra: str) -> Iterator[str]:
    """``start`` for a ``with``: the emulator's URL, and the process ended on leaving."""
    process, url = start(module, seed, folder, *extra)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_peak_memory() -> None:
    """This process's peak RSS: calsync's own, the emulators running in their own."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    print(f"peak memory of calsync (emulator excluded): {peak:.0f} MiB (max RSS)")


def accepts(url: str) -> bool:
    """Whether the server at ``url`` accepts a TCP connection now."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise SystemExit(f"an emulator wrote {url!r}, which names no host and port")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            return True
    except OSError:
        return False


def requests_served(url: str) -> int:
    """HTTP requests the emulator at ``url`` (Google root or Graph ``.../v1.0``) has served."""
    root = url.split("/v1.0", 1)[0].rstrip("/")
    with urllib.request.urlopen(root + "/_emulator/requests", timeout=60) as response:
        return int(json.load(response)["http"])


def cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid``, its reaped children and its live children (Linux).

    What a server process tree (an emulator, PostgreSQL's postmaster and its
    backends) has spent, to set next to the client's own CPU; 0 where /proc is
    missing.
    """
    ticks = os.sysconf("SC_CLK_TCK")

    def fields(path: Path) -> list[str]:
        text = path.read_text()
        return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "

    try:
        own = fields(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0
    total = sum(int(own[index]) for index in (11, 12, 13, 14))  # utime stime cutime cstime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = fields(stat)
        except OSError:
            continue  # gone meanwhile
        if int(child[1]) == pid:  # ppid
            total += int(child[11]) + int(child[12])
    return total / ticks


def measured(url: str, work: Callable[[], T]) -> tuple[T, float, int]:
    """``work()``'s result, its wall seconds, and the HTTP requests the emulator at
    ``url`` served meanwhile."""
    before = requests_served(url)
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    return result, seconds, requests_served(url) - before
