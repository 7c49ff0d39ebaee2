"""An emulator in its own process, for benchmarks: calsync's peak memory is then its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 300  # seeding a thousand calendars takes a while


def start(module: str, seed: Path, folder: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Run ``python -m <module> --seed SEED``; (process, the URL it printed once listening)."""
    url_file = folder / f"{module.rsplit('.', 1)[-1]}.url"
    process = subprocess.Popen(
        [sys.executable, "-m", module, *extra, "--seed", str(seed), "--url-file", str(url_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if url_file.exists() and url_file.read_text().strip():
            return process, url_file.read_text().strip()
        if process.poll() is not None:
            raise SystemExit(f"{module} exited while starting")
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{module} did not start within {STARTUP_SECONDS}s")


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
