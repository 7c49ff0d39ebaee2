"""The demo team with calendars on CalDAV: the same findings as from its ICS files.

Each person's calendar goes onto a real Radicale the way a calendar app puts
it there (one object per UID, a series with its overrides), and ``check
--json`` must find exactly what it finds in the ICS files: occurrences, flags,
adherence, the next 1:1 and the series. Once with the whole team on CalDAV,
once with the team spread over all four kinds of provider.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import caldav
import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from tests.caldav_support import RadicaleServer, put, split_objects
from tests.test_outlook_provider import _check, _demo_config, _same_findings

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "calsync" / "demo" / "calendars"
_USERS = itertools.count()


def _on_radicale(radicale: RadicaleServer, user: str, stem: str, name: str) -> str:
    """``stem``'s demo calendar as a calendar of ``user`` named ``name``; its URL."""
    url = radicale.calendar(user, stem, name)
    for uid, data in split_objects((DEMO / f"{stem}.ics").read_text()).items():
        put(url + quote(uid, safe="@") + ".ics", data)
    return url


def _point_at(config: Path, calendars: dict[str, str]) -> None:
    """Set the ``calendar`` of each person (by email) in ``config``."""
    text = config.read_text()
    for email, calendar in calendars.items():
        text, found = re.subn(
            rf'(?ms)(^email = "{re.escape(email)}".*?^provider = "[^"]*"\n)',
            rf'\1calendar = "{calendar}"\n',
            text,
            count=1,
        )
        assert found == 1, email
    config.write_text(text)


def _dav_provider(name: str, radicale: RadicaleServer, user: str) -> str:
    return (f'[providers.{name}]\nkind = "caldav"\nurl = "{radicale.url}/"\n'
            f'username = "{user}"\npassword_env = "CALSYNC_TEST_DAV"\n')  # fmt: skip


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV", "app-specific-password")


def test_the_demo_team_on_caldav_gives_the_same_findings_as_from_ics(
    radicale: RadicaleServer, tmp_path: Path
) -> None:
    shutil.copytree(DEMO, tmp_path / "calendars")
    from_ics = _check(_demo_config(tmp_path, "ics", "", {}))
    user = f"team-{os.getpid()}-{next(_USERS)}"
    stems = sorted(p.stem for p in DEMO.glob("*.ics"))
    urls = {f"{s}@example.com": _on_radicale(radicale, user, s, s.title()) for s in stems}
    config = _demo_config(tmp_path, "dav", _dav_provider("dav", radicale, user),
                          dict.fromkeys(urls, "dav"))  # fmt: skip
    _point_at(config, urls)
    from_dav = _check(config)
    assert {c["provider"] for c in from_dav["calendars"]} == {"dav"}
    _same_findings(from_ics, from_dav)


def test_a_team_on_google_graph_caldav_and_ics_gives_the_same_findings_as_ics(
    radicale: RadicaleServer, tmp_path: Path
) -> None:
    """Maria and Dev on Google, Sam and Tom on Microsoft 365, Lena and Priya on CalDAV
    (Lena's calendar by URL, Priya's by display name), Ana and Kenji on ICS: pairs that
    cross providers give the findings of the same history read from ICS."""
    on_google, on_graph = ("maria", "dev"), ("sam", "tom")
    shutil.copytree(DEMO, tmp_path / "calendars")
    user = f"mixed-{os.getpid()}-{next(_USERS)}"
    lena = _on_radicale(radicale, user, "lena", "Lena's calendar")
    _on_radicale(radicale, user, "priya", "Priya (team)")
    with GoogleEmulator(port=0) as google, GraphEmulator(port=0, auth=False) as graph:
        for stem in on_google:
            seeded = tmp_path / f"{stem}@example.com.ics"  # the emulator names it after the file
            shutil.copyfile(DEMO / f"{stem}.ics", seeded)
            google.load_seed(seeded)
        graph.load_seed([DEMO / f"{stem}.ics" for stem in on_graph])
        providers = (
            f'[providers.gcal]\nkind = "google"\nauth = "none"\napi_endpoint = "{google.url}"\n'
            f'[providers.m365]\nkind = "outlook"\nauth = "none"\ngraph_endpoint = "{graph.url}"\n'
            + _dav_provider("dav", radicale, user)
        )
        people = {f"{s}@example.com": "gcal" for s in on_google}
        people |= {f"{s}@example.com": "m365" for s in on_graph}
        people |= {"lena@example.com": "dav", "priya@example.com": "dav"}
        config = _demo_config(tmp_path, "mixed", providers, people)
        _point_at(config, {"lena@example.com": lena, "priya@example.com": "Priya (team)"})
        mixed = _check(config)
    from_ics = _check(_demo_config(tmp_path, "ics", "", {}))
    by_provider = {c["owner"]: c["provider"] for c in mixed["calendars"]}
    assert by_provider == {
        "maria@example.com": "gcal", "dev@example.com": "gcal",
        "sam@example.com": "m365", "tom@example.com": "m365",
        "lena@example.com": "dav", "priya@example.com": "dav",
        "ana@example.com": "feeds", "kenji@example.com": "feeds",
    }  # fmt: skip
    # The pairs that cross providers have a history to compare, not an empty one.
    lena_pair = next(p for p in from_ics["pairs"] if p["report"] == "lena@example.com")
    assert lena_pair["occurrences"]
    _same_findings(from_ics, mixed)


def test_the_demo_puts_priya_on_radicale_and_says_so_when_radicale_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from calsync.config import load_settings
    from calsync.demo import run

    settings = load_settings(ROOT / "config" / "demo.toml")
    with run.on_emulators(settings) as (on, lines, _):
        priya = on.person("priya@example.com")
        assert priya.provider == run.CALDAV and priya.calendar
        url = on.providers[run.CALDAV].url  # type: ignore[union-attr]
        assert priya.calendar.startswith(url) and any(
            line.startswith(f"priya@example.com: CalDAV, calendar {priya.calendar}")
            for line in lines
        )
        with caldav.DAVClient(url, username="x", password="x") as client:
            objects = caldav.Calendar(client=client, url=priya.calendar).events()
        expected = split_objects((DEMO / "priya.ics").read_text())
        assert len(objects) == len(expected)  # one object per UID, as an app stores them
    monkeypatch.setattr(run, "radicale_installed", lambda: False)
    with run.on_emulators(settings) as (on, lines, _):
        assert on.person("priya@example.com").provider == "feeds"
        assert run.CALDAV not in on.providers
        assert any("Radicale is not installed (pip install radicale" in line for line in lines)
