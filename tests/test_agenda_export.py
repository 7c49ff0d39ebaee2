"""``calsync agenda export``: markdown and JSON, shared notes only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync.config import load_settings
from calsync.store import open_store
from tests.support import cli

MARIA, DEV = "maria@example.com", "dev@example.com"
NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def test_export_prints_the_agenda_in_markdown_and_json(team: Path) -> None:
    code, _, err = cli(team, "check", "--now", NOW.isoformat())
    assert code in (0, 1), err
    settings = load_settings(team)
    with open_store(settings.database_url()) as store:
        key = NOW + timedelta(days=3)
        store.add_topic(MARIA, DEV, key, "Career growth", DEV, NOW)
        store.add_action(MARIA, DEV, key, "Draft the plan", DEV, None, MARIA, NOW)
        store.save_note(MARIA, DEV, key, MARIA, "private to Maria", MARIA, NOW)
    code, out, err = cli(team, "agenda", "export", "--pair", MARIA, DEV, "--now", NOW.isoformat())
    assert code == 0, err
    assert out.startswith("# 1:1 Maria Chen / Dev Patel")
    assert "- [ ] Career growth (Dev Patel)" in out
    assert "- [ ] Draft the plan (Dev Patel)" in out
    assert "private to Maria" not in out
    code, out, err = cli(team, "agenda", "export", "--pair", MARIA, DEV, "--format", "json",
                         "--now", NOW.isoformat())
    assert code == 0, err
    data = json.loads(out)
    assert data["pair"]["report"]["email"] == DEV
    assert [t["title"] for t in data["next"]["topics"]] == ["Career growth"]
    assert data["action_items"]["open"][0]["owner"]["name"] == "Dev Patel"


def test_export_of_an_unknown_pair_names_it(team: Path) -> None:
    code, _, err = cli(team, "agenda", "export", "--pair", DEV, MARIA)
    assert code == 2
    assert "no pair dev@example.com / maria@example.com" in err
