"""People and pairs from an HR export: ``people sync`` shows, then applies; check sees it.

Each change (a new hire, a manager change, a departure) goes through
``people sync --dry-run`` (printed, nothing stored) and then ``people sync``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calsync.store import open_store
from tests.support import cli

NOW = "2026-11-20T12:00:00Z"
LATER = "2026-11-27T12:00:00Z"
HEADER = "email,name,manager_email,timezone,working_hours,cost_centre\n"
TEAM = (
    "ana@example.com,Ana Ruiz,,Europe/Madrid,Mon-Fri 08:00-16:00,R&D\n"
    "bob@example.com,Bob Ode,ana@example.com,America/New_York,,R&D\n"
    "dev@example.com,Dev Shah,ana@example.com,,,R&D\n"
)


def _config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "calendars").mkdir(exist_ok=True)
    config = tmp_path / "calsync.toml"
    config.write_text(f'''
database = "sqlite:///state/calsync.db"

[providers.cal]
kind = "ics"
path = "calendars"

[[directory.sources]]
name = "hr"
kind = "csv"
path = "people.csv"
provider = "cal"
timezone = "Europe/Berlin"

[[directory.sources.scopes]]
root = "ana@example.com"
cadence = "biweekly"
duration = "45m"
rebook = "off"
{extra}''')
    return config


def _write(tmp_path: Path, rows: str) -> None:
    (tmp_path / "people.csv").write_text(HEADER + rows)


def _roster(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path / 'state' / 'calsync.db'}") as store:
        return store.directory_roster()


def _check(config: Path, now: str = NOW) -> dict[tuple[str, str], dict]:
    code, out, err = cli(config, "check", "--json", "--no-sync", "--now", now)
    assert code == 0, err
    return {(p["manager"].split("@")[0], p["report"].split("@")[0]): p
            for p in json.loads(out)["pairs"]}


def _sync(config: Path, *args: str) -> str:
    code, out, err = cli(config, "people", "sync", "--now", NOW, *args)
    assert code == 0, out + err
    return out


def test_a_new_team_then_a_new_hire_a_manager_change_and_a_departure(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write(tmp_path, TEAM)

    out = _sync(config, "--dry-run")
    assert "+ person dev@example.com" in out
    assert "+ pair ana@example.com / bob@example.com" in out
    assert "+ pair ana@example.com / dev@example.com" in out
    assert "dry run: nothing stored" in out
    assert _roster(tmp_path).pairs == ()

    _sync(config)
    pairs = _check(config)
    assert set(pairs) == {("ana", "bob"), ("ana", "dev")}
    assert pairs[("ana", "dev")]["cadence"] == "biweekly"  # the scope's default
    assert pairs[("ana", "dev")]["report_name"] == "Dev Shah"
    assert "ended" not in pairs[("ana", "dev")]

    # A new hire under Bob.
    _write(tmp_path, TEAM + "eve@example.com,Eve Lind,bob@example.com,,,R&D\n")
    out = _sync(config, "--dry-run")
    assert "+ person eve@example.com" in out
    assert "+ pair bob@example.com / eve@example.com" in out
    assert "ana@example.com / dev" not in out  # only what changes
    assert {(p.manager, p.report) for p in _roster(tmp_path).pairs} == {
        ("ana@example.com", "bob@example.com"), ("ana@example.com", "dev@example.com")}
    _sync(config)
    assert ("bob", "eve") in _check(config)

    # Dev now reports to Bob: the old pair ends, a new one starts.
    moved = TEAM.replace("dev@example.com,Dev Shah,ana@example.com",
                         "dev@example.com,Dev Shah,bob@example.com")
    _write(tmp_path, moved + "eve@example.com,Eve Lind,bob@example.com,,,R&D\n")
    out = _sync(config, "--dry-run")
    assert ("~ manager of dev@example.com: ana@example.com -> bob@example.com") in out
    assert not any(p.ended_at for p in _roster(tmp_path).pairs)
    _sync(config)
    pairs = _check(config)
    assert "ended" not in pairs[("bob", "dev")]
    assert pairs[("ana", "dev")]["ended"] == "2026-11-20"
    assert pairs[("ana", "dev")]["flags"] == [] and pairs[("ana", "dev")]["next"] is None

    # Eve leaves.
    _write(tmp_path, moved)
    out = _sync(config, "--dry-run")
    assert "- person eve@example.com left" in out
    assert "- pair bob@example.com / eve@example.com ends: eve@example.com left" in out
    assert "ended" not in _check(config)[("bob", "eve")]
    code, out, err = cli(config, "people", "sync", "--now", LATER)
    assert code == 0, err
    pairs = _check(config, LATER)
    assert pairs[("bob", "eve")]["ended"] == "2026-11-27"
    assert "left the directory" in pairs[("bob", "eve")]["ended_reason"]
    assert pairs[("bob", "eve")]["report_name"] == "eve"  # gone from the people

    # The table shows the ended pairs as ended, after the active ones.
    code, out, err = cli(config, "check", "--no-sync", "--now", LATER)
    assert code == 0, err
    assert "ended 2026-11-27: eve@example.com left the directory" in out
    assert "ended 2026-11-20: dev@example.com now reports to bob@example.com" in out

    # Running again changes nothing.
    assert "no change" in _sync(config)


def test_the_toml_wins_for_the_keys_it_sets(tmp_path: Path) -> None:
    config = _config(tmp_path, '''
[[people]]
email = "dev@example.com"
provider = "cal"
timezone = "Asia/Kolkata"

[[pairs]]
manager = "ana@example.com"
report = "dev@example.com"
cadence = "monthly"
''')
    _write(tmp_path, TEAM)
    _sync(config)
    code, out, err = cli(config, "check", "--json", "--no-sync", "--now", NOW)
    assert code == 0, err
    pairs = {p["report"]: p for p in json.loads(out)["pairs"]}
    assert pairs["dev@example.com"]["cadence"] == "monthly"  # the TOML's
    assert pairs["bob@example.com"]["cadence"] == "biweekly"  # the scope's

    from calsync.cli.common import Context
    settings = Context(config).settings
    dev = settings.person("dev@example.com")
    assert dev.timezone == "Asia/Kolkata"  # the TOML's
    assert dev.name == "Dev Shah"  # the directory's: the TOML did not set it
    bob = settings.person("bob@example.com")
    assert bob.timezone == "America/New_York"
    assert settings.person("ana@example.com").working_hours.text == "Mon-Fri 08:00-16:00"
    assert settings.person("dev@example.com").working_hours.text == "Mon-Fri 09:00-17:00"
    [pair] = [p for p in settings.pairs if p.report == "dev@example.com"]
    assert pair.duration.total_seconds() == 45 * 60 and pair.rebook == "off"


@pytest.mark.parametrize(
    ("rows", "messages"),
    [
        (
            "ana@example.com,Ana,,Mars/Olympus,,\n"
            "not-an-address,Dev,ana@example.com,,,\n"
            "bob@example.com,Bob,ana@example.com,,Mon 9-5,\n"
            "eve@example.com,Eve,zed@example.com,,,\n",
            ["line 2: timezone 'Mars/Olympus' is not an IANA time zone",
             "line 3: email 'not-an-address' is not an email address",
             "line 4: working_hours: 'Mon 9-5' is not working hours",
             "line 5: manager zed@example.com is neither in the file nor under [[people]]"],
        ),
        (
            "ana@example.com,Ana,dev@example.com,,,\n"
            "dev@example.com,Dev,ana@example.com,,,\n",
            ["line 2: the manager chain is a cycle: ana@example.com -> dev@example.com -> "
             "ana@example.com"],
        ),
    ],
    ids=["bad-rows", "cycle"],
)
def test_a_csv_with_bad_rows_is_refused_whole(
    tmp_path: Path, rows: str, messages: list[str]
) -> None:
    config = _config(tmp_path)
    _write(tmp_path, TEAM)
    _sync(config)
    before = _roster(tmp_path)
    _write(tmp_path, rows)
    code, _, err = cli(config, "people", "sync", "--now", LATER)
    assert code == 2
    for message in messages:
        assert f"people.csv: {message}" in err
    assert "nothing applied" in err
    assert _roster(tmp_path) == before  # no pair ended, no person left


def test_a_manager_listed_only_in_the_toml_is_accepted(tmp_path: Path) -> None:
    config = _config(tmp_path, '''
[[people]]
email = "cto@example.com"
provider = "cal"
''')
    _write(tmp_path, "ana@example.com,Ana,cto@example.com,,,\n")
    out = _sync(config)
    assert "+ person ana@example.com" in out
    # Ana is the scope's root, not under it: no pair for her.
    assert "+ pair" not in out


def test_without_sources_people_sync_says_so(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text('[providers.cal]\nkind = "ics"\npath = "."\n')
    code, out, _ = cli(config, "people", "sync")
    assert code == 0 and "nothing to read" in out


def test_a_source_that_suddenly_loses_most_people_needs_force(tmp_path: Path) -> None:
    config = _config(tmp_path)
    team = TEAM + "".join(f"p{n}@example.com,P{n},bob@example.com,,,\n" for n in range(6))
    _write(tmp_path, team)
    _sync(config)
    before = _roster(tmp_path)
    _write(tmp_path, TEAM)  # six of the nine gone at once: a truncated export?
    code, _, err = cli(config, "people", "sync", "--now", LATER)
    assert code == 1
    assert "6 of the 9 people it listed before are missing: nothing applied" in err
    assert "- person p0@example.com left" in err
    assert _roster(tmp_path) == before
    code, _, err = cli(config, "people", "sync", "--now", LATER, "--force")
    assert code == 0, err
    assert "ended" in _check(config, LATER)[("bob", "p0")]
