"""``people sync`` as the directory tests drive it: run it, read the pairs, dry run then apply.

The Google Workspace and Microsoft Graph tests tell the same story on their own
emulators (a new hire, a manager change, a departure); each step is the same
shape, kept here. A helper module, not a test module: its name does not start
with ``test_``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support import cli

NOW = "2026-11-20T12:00:00Z"


def people_sync(config: Path, *args: str) -> str:
    """``people sync`` at ``NOW``, which must succeed; its output."""
    code, out, err = cli(config, "people", "sync", "--now", NOW, *args)
    assert code == 0, out + err
    return out


def pairs_by_name(config: Path) -> dict[tuple[str, str], dict]:
    """``check --json``'s pairs, keyed by (manager, report) without the domain."""
    code, out, err = cli(config, "check", "--json", "--no-sync", "--now", NOW)
    assert code == 0, err
    return {(p["manager"].split("@")[0], p["report"].split("@")[0]): p
            for p in json.loads(out)["pairs"]}


def dry_run_then_apply(config: Path, change: Callable[[], object], shown: str) -> str:
    """``change`` the directory; ``--dry-run`` shows ``shown`` and leaves every pair as
    it was; then ``people sync`` applies it. The dry run's output."""
    before = pairs_by_name(config)
    change()
    out = people_sync(config, "--dry-run")
    assert shown in out
    assert pairs_by_name(config) == before  # a dry run writes nothing
    people_sync(config)
    return out
