"""People and pairs from Google Workspace, end to end on the Google emulator.

A real service-account key (made here) signs the JWT-bearer grant that
google-auth sends to the emulator's token endpoint, once as the admin for the
Admin SDK's users.list and once as each person for their calendar's time zone:
domain-wide delegation as calsync uses it against Google.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from calsync_emulators.google import GoogleEmulator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from calsync.cli.common import Context
from tests.directory_support import NOW, dry_run_then_apply, pairs_by_name, people_sync
from tests.support import cli


@pytest.fixture
def emu(tmp_path: Path):
    seed = tmp_path / "workspace.json"
    seed.write_text(json.dumps({"users": [
        {"primaryEmail": "boss@acme.com", "name": "Bo Ss", "isAdmin": True,
         "timeZone": "America/Chicago"},
        {"primaryEmail": "ana@acme.com", "name": "Ana Ruiz", "manager": "boss@acme.com",
         "orgUnitPath": "/Eng", "timeZone": "Europe/Madrid"},
        {"primaryEmail": "dev@acme.com", "name": "Dev Shah", "manager": "ana@acme.com",
         "orgUnitPath": "/Eng/Platform", "timeZone": "Asia/Kolkata"},
        {"primaryEmail": "sam@acme.com", "name": "Sam Li", "manager": "ana@acme.com",
         "orgUnitPath": "/Sales", "timeZone": "Europe/London"},
        {"primaryEmail": "gone@acme.com", "manager": "ana@acme.com", "orgUnitPath": "/Eng",
         "suspended": True},
    ]}))
    with GoogleEmulator(port=0, seed=seed) as emulator:
        yield emulator


def _key_file(tmp_path: Path, emu: GoogleEmulator) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-calsync", "private_key_id": "k1",
        "private_key": pem, "client_email": "calsync@acme-calsync.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": emu.url + "token",
    }))
    return path


def _config(tmp_path: Path, emu: GoogleEmulator, *, admin: str = "boss@acme.com",
            auth: str = "service_account") -> Path:
    key = f'service_account_file = "{_key_file(tmp_path, emu)}"' if auth != "none" else ""
    config = tmp_path / "calsync.toml"
    config.write_text(f'''
database = "sqlite:///state/calsync.db"

[providers.gws]
kind = "google"
auth = "{auth}"
api_endpoint = "{emu.url}"
max_retries = 0
{key}

[[directory.sources]]
kind = "google"
provider = "gws"
admin = "{admin}"
working_hours = "Mon-Fri 10:00-18:00"

[[directory.sources.scopes]]
org_units = ["/Eng"]
cadence = "weekly"
''')
    return config


def test_users_managers_org_units_and_time_zones_from_workspace(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu)
    out = people_sync(config, "--dry-run")
    assert "+ pair boss@acme.com / ana@acme.com" in out
    assert "+ pair ana@acme.com / dev@acme.com" in out  # /Eng/Platform is under /Eng
    assert "sam@acme.com" in out and "/ sam@acme.com" not in out  # a person, /Sales: no pair
    assert "gone@acme.com" not in out  # suspended
    assert "does not publish working hours" in out

    people_sync(config)
    assert set(pairs_by_name(config)) == {("boss", "ana"), ("ana", "dev")}
    settings = Context(config).settings
    assert settings.person("dev@acme.com").timezone == "Asia/Kolkata"
    assert settings.person("boss@acme.com").timezone == "America/Chicago"
    assert settings.person("dev@acme.com").working_hours.text == "Mon-Fri 10:00-18:00"
    assert settings.person("dev@acme.com").name == "Dev Shah"

    # The admin listed users; each person's own grant read their time zone.
    paths = [r.path for r in emu.requests.calls]
    assert paths.count("/admin/directory/v1/users") == 2  # dry run, then applied
    assert paths.count("/calendar/v3/users/me/settings/timezone") == 2 * 4

    dry_run_then_apply(config, lambda: emu.add_user(
        "nia@acme.com", "Nia Ward", manager="ana@acme.com", org_unit="/Eng",
        timezone="Europe/Berlin"), "+ pair ana@acme.com / nia@acme.com")
    assert ("ana", "nia") in pairs_by_name(config)
    assert Context(config).settings.person("nia@acme.com").timezone == "Europe/Berlin"

    dry_run_then_apply(config, lambda: emu.set_manager("dev@acme.com", "sam@acme.com"),
                       "~ manager of dev@acme.com: ana@acme.com -> sam@acme.com")
    pairs = pairs_by_name(config)
    assert pairs[("ana", "dev")]["ended"] == "2026-11-20"
    assert "ended" not in pairs[("sam", "dev")]

    dry_run_then_apply(config, lambda: emu.remove_user("dev@acme.com"),
                       "- person dev@acme.com left")
    assert pairs_by_name(config)[("sam", "dev")]["ended"] == "2026-11-20"


def test_an_admin_who_is_not_one_is_refused_and_nothing_changes(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu, admin="ana@acme.com")
    code, _, err = cli(config, "people", "sync", "--now", NOW)
    assert code == 1
    assert "ana@acme.com must be an admin allowed to read users" in err
    assert pairs_by_name(config) == {}


def test_a_delegation_that_does_not_work_says_which_scopes_it_needs(tmp_path: Path, emu) -> None:
    config = _config(tmp_path, emu, admin="nobody@acme.com")  # the token endpoint refuses
    code, _, err = cli(config, "people", "sync", "--now", NOW)
    assert code == 1
    assert "could not act as nobody@acme.com" in err
    assert "admin.directory.user.readonly" in err


def test_without_a_service_account_people_are_read_but_not_their_zones(
    tmp_path: Path, emu
) -> None:
    config = _config(tmp_path, emu, auth="none")
    out = people_sync(config)
    assert "time zones not read" in out
    assert Context(config).settings.person("dev@acme.com").timezone == "UTC"


def test_the_emulator_pages_users_and_wants_a_customer(emu) -> None:
    with httpx.Client(base_url=emu.url, trust_env=False) as http:
        first = http.get("admin/directory/v1/users",
                         params={"customer": "my_customer", "maxResults": 2}).json()
        assert [u["primaryEmail"] for u in first["users"]] == ["ana@acme.com", "boss@acme.com"]
        assert first["users"][0]["relations"] == [{"value": "boss@acme.com", "type": "manager"}]
        rest = http.get("admin/directory/v1/users", params={
            "customer": "my_customer", "maxResults": 2, "pageToken": first["nextPageToken"]
        }).json()
        assert len(rest["users"]) == 2 and "nextPageToken" in rest
        assert http.get("admin/directory/v1/users").status_code == 400
        assert http.get("calendar/v3/users/me/settings/timezone").status_code == 401
