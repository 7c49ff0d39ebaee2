"""People and pairs from Microsoft Graph, end to end on the Graph emulator.

``/users`` with ``$expand=manager`` paged, each mailbox's ``mailboxSettings``
($batch) for the zone (a Windows name mapped to IANA) and working hours, and
groups as a scope; a new hire, a manager change and a departure go through
``people sync --dry-run`` and then ``people sync``; a failed read ends nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from calsync_emulators.graph import GraphEmulator

from calsync.cli.common import Context
from calsync.store import open_store
from tests.directory_support import NOW, dry_run_then_apply, pairs_by_name, people_sync
from tests.support import Clock, cli

HOURS = {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday"],
         "startTime": "08:00:00.0000000", "endTime": "16:30:00.0000000"}


@pytest.fixture
def emu(tmp_path: Path):
    seed = tmp_path / "tenant.json"
    seed.write_text(json.dumps({
        "users": [
            {"userPrincipalName": "ceo@contoso.com", "displayName": "Cleo Osei",
             "timeZone": "Pacific Standard Time"},
            {"userPrincipalName": "ana@contoso.com", "displayName": "Ana Ruiz",
             "manager": "ceo@contoso.com", "timeZone": "Romance Standard Time"},
            {"userPrincipalName": "dev@contoso.com", "displayName": "Dev Shah",
             "manager": "ana@contoso.com", "timeZone": "W. Europe Standard Time",
             "workingHours": HOURS},
            {"userPrincipalName": "bob@contoso.com", "displayName": "Bob Ode",
             "manager": "ana@contoso.com", "timeZone": "America/New_York"},
            {"userPrincipalName": "old@contoso.com", "manager": "ana@contoso.com",
             "accountEnabled": False},
        ],
        "groups": [{"displayName": "Platform", "members": ["dev@contoso.com"]}],
    }))
    with GraphEmulator(port=0, auth=False, clock=Clock(), seed=seed) as emulator:
        yield emulator


def _config(tmp_path: Path, emu: GraphEmulator, scope: str = "") -> Path:
    config = tmp_path / "calsync.toml"
    config.write_text(f'''
database = "sqlite:///state/calsync.db"

[providers.m365]
kind = "outlook"
auth = "none"
graph_endpoint = "{emu.url}"
page_size = 2
max_retries = 0

[[directory.sources]]
name = "entra"
kind = "graph"
provider = "m365"
{scope}''')
    return config


def test_users_managers_and_mailbox_settings_from_graph(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu)
    out = people_sync(config, "--dry-run")
    for pair in ("ceo@contoso.com / ana@contoso.com", "ana@contoso.com / dev@contoso.com",
                 "ana@contoso.com / bob@contoso.com"):
        assert f"+ pair {pair}" in out
    assert "old@contoso.com" not in out  # a disabled account is not a person
    with open_store(f"sqlite:///{tmp_path / 'state' / 'calsync.db'}") as store:
        assert store.directory_roster().pairs == ()

    people_sync(config)
    assert set(pairs_by_name(config)) == {("ceo", "ana"), ("ana", "dev"), ("ana", "bob")}
    settings = Context(config).settings
    dev = settings.person("dev@contoso.com")
    assert dev.timezone == "Europe/Berlin"  # Windows "W. Europe Standard Time"
    assert dev.working_hours.text == "Mon-Thu 08:00-16:30"
    assert dev.provider == "m365" and dev.name == "Dev Shah"
    assert settings.person("ceo@contoso.com").timezone == "America/Los_Angeles"
    assert settings.person("bob@contoso.com").timezone == "America/New_York"
    # /users was read in pages of two, following @odata.nextLink.
    pages = [r for r in emu.requests.calls if r.path == "/v1.0/users"]
    assert len(pages) >= 3

    # A new hire, a manager change and a departure, each shown then applied.
    dry_run_then_apply(config, lambda: emu.add_user("new@contoso.com", "Nia Ward",
                                                    manager="bob@contoso.com"),
                       "+ pair bob@contoso.com / new@contoso.com")
    assert ("bob", "new") in pairs_by_name(config)

    dry_run_then_apply(config, lambda: emu.set_manager("dev@contoso.com", "bob@contoso.com"),
                       "~ manager of dev@contoso.com: ana@contoso.com -> bob@contoso.com")
    pairs = pairs_by_name(config)
    assert pairs[("ana", "dev")]["ended"] == "2026-11-20"
    assert "ended" not in pairs[("bob", "dev")]

    dry_run_then_apply(config, lambda: emu.remove_user("new@contoso.com"),
                       "- person new@contoso.com left")
    assert pairs_by_name(config)[("bob", "new")]["ended"] == "2026-11-20"


def test_a_failed_read_ends_nothing_and_exits_1(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu)
    people_sync(config)
    emu.remove_user("bob@contoso.com")
    emu.fail_5xx(1)
    code, _, err = cli(config, "people", "sync", "--now", NOW)
    assert code == 1
    assert "entra" in err and "nothing changed" in err
    assert "ended" not in pairs_by_name(config)[("ana", "bob")]
    # The next complete read does end it.
    assert "- person bob@contoso.com left" in people_sync(config)
    assert "ended" in pairs_by_name(config)[("ana", "bob")]


def test_a_group_scope_and_unreadable_mailbox_settings(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu, '''
[[directory.sources.scopes]]
groups = ["Platform"]
cadence = "monthly"
''')
    emu.deny_mailbox_settings("dev@contoso.com")
    out = people_sync(config)
    assert "+ pair ana@contoso.com / dev@contoso.com" in out
    assert "+ pair" not in out.replace("+ pair ana@contoso.com / dev@contoso.com", "")
    assert "1 mailbox(es) without readable settings" in out
    pairs = pairs_by_name(config)
    assert set(pairs) == {("ana", "dev")}
    assert pairs[("ana", "dev")]["cadence"] == "monthly"
    assert Context(config).settings.person("dev@contoso.com").timezone == "UTC"  # the default


def test_the_emulator_serves_manager_and_direct_reports(emu) -> None:
    import httpx

    with httpx.Client(base_url=emu.url, trust_env=False) as http:
        manager = http.get("/users/dev@contoso.com/manager").json()
        assert manager["mail"] == "ana@contoso.com"
        reports = http.get("/users/ana@contoso.com/directReports").json()["value"]
        assert {r["mail"] for r in reports} == {"dev@contoso.com", "bob@contoso.com",
                                                "old@contoso.com"}
        missing = http.get("/users/ceo@contoso.com/manager")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "Request_ResourceNotFound"
        listed = http.get("/users", params={"$select": "mail",
                                            "$expand": "manager($select=mail)"}).json()
        by_mail = {u["mail"]: u for u in listed["value"]}
        assert by_mail["dev@contoso.com"]["manager"]["mail"] == "ana@contoso.com"
        assert "manager" not in by_mail["ceo@contoso.com"]
        assert "displayName" not in by_mail["dev@contoso.com"]  # $select
