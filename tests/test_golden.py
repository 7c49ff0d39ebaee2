"""The restructure changes shape, not behaviour: ``check --json`` and ``report --json``
of the demo team are compared with documents captured before the move.

Regenerate deliberately (and review the diff) with ``CALSYNC_UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` when a behaviour change is intended.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from calsync.cli.main import main

GOLDEN = Path(__file__).resolve().parent / "golden"
FRIDAY = "2026-11-20T21:00:00Z"
MONDAY = "2026-11-23T13:00:00Z"
# Three weeks on, with no new data: gaps grow and upcoming 1:1s become missed.
LATER = "2026-12-15T12:00:00Z"


def _document(config: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["-c", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _compare(name: str, document: dict) -> None:
    path = GOLDEN / name
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("CALSYNC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert document == expected, f"{name} differs from the captured document"


@pytest.mark.parametrize("now", [FRIDAY, LATER])
def test_check_json_of_the_team_is_unchanged(team: Path, now: str) -> None:
    document = _document(team, "check", "--json", "--now", now)
    _compare(f"check-{now[:10]}.json", document)


def test_report_json_of_the_team_is_unchanged(team: Path) -> None:
    document = _document(team, "report", "--json", "--now", MONDAY, "--week", "2026-W47")
    _compare("report-2026-W47.json", document)
