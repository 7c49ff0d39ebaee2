"""Evaluation at scale changes cost, not results: ``check --json`` of a generated
200-pair team is compared with the document ``main`` printed before the change.

The team comes from ``bench/generate_team.py`` (fixed seed and ``now``: the same
bytes every time). The golden document is kept gzipped (it is about 1 MiB of
JSON). Regenerate deliberately (and review the diff) with
``CALSYNC_UPDATE_GOLDEN=1 pytest tests/test_golden_scale.py``.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from click.testing import CliRunner

from bench.generate_team import write_big_team
from calsync.cli.main import main
from calsync.demo.sample import DEMO_NOW

GOLDEN = Path(__file__).resolve().parent / "golden" / "check-200-pairs.json.gz"
NOW = "2026-11-20T21:00:00Z"


def _check(config: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["-c", str(config), "check", "--json", "--now", NOW, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # Written in pieces, byte for byte what json.dumps prints.
    assert result.stdout == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return document


def test_check_json_of_200_pairs_is_unchanged(tmp_path: Path) -> None:
    config = write_big_team(tmp_path, 200, DEMO_NOW, seed=1)
    document = _check(config)
    if os.environ.get("CALSYNC_UPDATE_GOLDEN"):
        text = json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        GOLDEN.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    expected = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    assert len(document["pairs"]) == 200
    # Pair by pair first, so a difference names the pair instead of a 1 MiB diff.
    for got, want in zip(document["pairs"], expected["pairs"], strict=True):
        assert got == want, f"{want['manager']} / {want['report']} differs"
    assert document == expected
    # A second check reads the store without syncing: the same health, no calendars.
    again = _check(config, "--no-sync")
    assert again["pairs"] == expected["pairs"]
