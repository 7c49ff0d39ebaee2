"""The roster's rules without a directory server: scopes, the merge, the store, the daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from calsync.config import ConfigError, Settings, settings_from_dict
from calsync.engine.roster import effective_settings, plan_update, scope_of
from calsync.providers.directory.entries import DirectoryEntry, DirectoryListing
from calsync.store import Store
from calsync.store.directory import Roster, RosterPair, RosterPerson, RosterUpdate
from calsync.store.health import FindingRecord
from calsync.store.models import FindingRow

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _settings(source: dict, **extra) -> Settings:
    table = {"kind": "csv", "path": "x.csv", "provider": "cal", **source}
    if table["kind"] != "csv":
        del table["path"]
    data = {"providers": {"cal": {"kind": "ics", "path": "."}},
            "directory": {"sources": [table]}, **extra}
    return settings_from_dict(data, Path("calsync.toml"))


def _entries(*rows: tuple[str, str | None]) -> dict[str, DirectoryEntry]:
    return {f"{e}@x.com": DirectoryEntry(f"{e}@x.com", manager=f"{m}@x.com" if m else None)
            for e, m in rows}


CHAIN = _entries(("ceo", None), ("vp", "ceo"), ("lead", "vp"), ("dev", "lead"), ("ops", "ceo"))


@pytest.mark.parametrize(
    ("depth", "covered"),
    [(1, {"lead"}), (2, {"lead", "dev"}), (None, {"lead", "dev"})],
)
def test_a_root_scope_covers_reports_down_to_its_depth(depth, covered) -> None:
    scope = {"root": "vp@x.com", **({"depth": depth} if depth else {})}
    [source] = _settings({"scopes": [scope]}).directory.sources
    found = {e.email.split("@")[0] for e in CHAIN.values()
             if scope_of(source, e, CHAIN) is not None}
    assert found == covered


def test_the_first_scope_that_covers_a_report_gives_its_defaults() -> None:
    settings = _settings({"scopes": [{"root": "vp@x.com", "cadence": "weekly"},
                                     {"cadence": "monthly"}]})
    [source] = settings.directory.sources
    listing = DirectoryListing("csv", tuple(CHAIN.values()))
    update, difference = plan_update(source, listing, Roster())
    scopes = {report.split("@")[0]: scope for _, report, scope in update.started}
    assert scopes == {"vp": 1, "lead": 0, "dev": 0, "ops": 1}
    roster = Roster(update.people, tuple(RosterPair("csv", m, r, s, T0)
                                         for m, r, s in update.started))
    merged = effective_settings(settings, roster)
    cadence = {p.report.split("@")[0]: p.cadence.label for p in merged.pairs}
    assert cadence == {"vp": "monthly", "lead": "weekly", "dev": "weekly", "ops": "monthly"}
    assert difference.new_people == tuple(sorted(CHAIN))


def test_a_scope_sets_up_its_new_pairs_unless_a_pair_in_the_toml_says_otherwise() -> None:
    settings = _settings(
        {"scopes": [{"root": "vp@x.com", "setup": "auto"}, {}]},
        pairs=[{"manager": "lead@x.com", "report": "dev@x.com", "setup": "off"}],
    )
    [source] = settings.directory.sources
    listing = DirectoryListing("csv", tuple(CHAIN.values()))
    update, _ = plan_update(source, listing, Roster())
    roster = Roster(update.people, tuple(RosterPair("csv", m, r, s, T0)
                                         for m, r, s in update.started))
    setup = {p.report.split("@")[0]: p.setup for p in effective_settings(settings, roster).pairs}
    assert setup == {"vp": "suggest", "lead": "auto", "dev": "off", "ops": "suggest"}


def test_an_ended_pair_leaves_the_pairs_unless_the_toml_lists_it() -> None:
    people = tuple(RosterPerson("csv", e, "", None, None, None)
                   for e in ("a@x.com", "b@x.com", "c@x.com"))
    roster = Roster(people, (
        RosterPair("csv", "a@x.com", "b@x.com", 0, T0, T0 + timedelta(days=3), "b moved"),
        RosterPair("csv", "c@x.com", "b@x.com", 0, T0 + timedelta(days=3)),
    ))
    merged = effective_settings(_settings({}), roster)
    assert [(p.manager, p.report) for p in merged.pairs] == [("c@x.com", "b@x.com")]
    [ended] = merged.ended_pairs
    assert (ended.manager, ended.report, ended.ended.isoformat(), ended.reason) == (
        "a@x.com", "b@x.com", "2026-11-05", "b moved")

    kept = effective_settings(
        _settings({}, pairs=[{"manager": "a@x.com", "report": "b@x.com"}]), roster)
    assert {(p.manager, p.report) for p in kept.pairs} == {("a@x.com", "b@x.com"),
                                                            ("c@x.com", "b@x.com")}
    assert kept.ended_pairs == ()


def test_a_source_removed_from_the_config_is_ignored() -> None:
    roster = Roster((RosterPerson("old", "a@x.com", "", None, None, None),
                     RosterPerson("old", "b@x.com", "", "a@x.com", None, None)),
                    (RosterPair("old", "a@x.com", "b@x.com", 0, T0),))
    merged = effective_settings(_settings({}), roster)
    assert merged.pairs == [] and merged.people == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"scopes": [{"root": "a@x.com", "groups": ["g"]}]},
         "directory.sources[0].scopes[0]: choose one of root, org_units and groups"),
        ({"scopes": [{"org_units": ["/Eng"]}]},
         "directory.sources[0].scopes[0].org_units: org units are Google Workspace's"),
        ({"scopes": [{"org_units": ["Eng"]}], "kind": "google"},
         "is not an org unit path"),
        ({"scopes": []}, "directory.sources[0].scopes: at least one scope"),
        ({"timezone": "Mars/Base"}, "directory.sources[0].timezone: 'Mars/Base' is not an IANA"),
        ({"scopes": [{"duration": "15m", "min_duration": "20m"}]}, "min_duration 20m is longer"),
        ({"kind": "ldap"}, "directory.sources[0].kind: unknown directory source kind 'ldap'"),
        ({"kind": "google"}, "directory.sources[0].provider: kind 'google' reads the directory"),
        ({"nickname": "x"}, "directory.sources[0].nickname: unknown key"),
    ],
)
def test_directory_config_errors_name_the_key(source: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(source)
    assert message in str(caught.value)


def test_two_sources_with_one_name_are_refused() -> None:
    data = {"providers": {"cal": {"kind": "ics", "path": "."}},
            "directory": {"sources": [{"kind": "csv", "path": "a.csv", "provider": "cal"},
                                      {"kind": "csv", "path": "b.csv", "provider": "cal"}]}}
    with pytest.raises(ConfigError, match=r"sources\[1\]\.name: two sources are named 'csv'"):
        settings_from_dict(data, Path("calsync.toml"))


def test_a_graph_source_needs_the_apps_own_permissions() -> None:
    data = {"providers": {"m": {"kind": "outlook", "auth": "device_code", "tenant_id": "t",
                                "client_id": "c"}},
            "directory": {"sources": [{"kind": "graph", "provider": "m"}]}}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.provider: the directory is read "
                       r"with the app's own permissions"):
        settings_from_dict(data, Path("calsync.toml"))


def test_ended_pairs_is_not_a_config_key() -> None:
    with pytest.raises(ConfigError, match="ended_pairs: unknown key"):
        settings_from_dict({"ended_pairs": []}, Path("calsync.toml"))


def test_ending_a_pair_keeps_its_rows_and_closes_its_findings(store: Store) -> None:
    settings = settings_from_dict({
        "providers": {"cal": {"kind": "ics", "path": "."}},
        "people": [{"email": e, "provider": "cal"} for e in ("a@x.com", "b@x.com", "c@x.com")],
        "pairs": [{"manager": "a@x.com", "report": "b@x.com"}],
    }, Path("calsync.toml"))
    store.sync_config(settings)
    store.save_evaluation("a@x.com", "b@x.com", [], [FindingRecord("no_series", "none")], T0)
    store.enqueue("make-up-1", "create_make_up", {}, store.pair_id("a@x.com", "b@x.com"), now=T0)
    people = tuple(RosterPerson("hr", e, e[0].upper(), m, None, None)
                   for e, m in (("a@x.com", None), ("b@x.com", "a@x.com")))
    store.apply_directory(RosterUpdate("hr", people, started=(("a@x.com", "b@x.com", 0),)), T0)
    later = T0 + timedelta(days=7)
    store.apply_directory(RosterUpdate(
        "hr", (*people[:1], RosterPerson("hr", "b@x.com", "B", "c@x.com", None, None)),
        ended=(("a@x.com", "b@x.com", "b now reports to c"),),
        started=(("c@x.com", "b@x.com", 0),)), later)
    roster = store.directory_roster()
    assert [(p.manager, p.ended_at, p.end_reason) for p in roster.pairs] == [
        ("a@x.com", later, "b now reports to c"), ("c@x.com", None, None)]
    with store.transaction() as session:
        [finding] = session.scalars(select(FindingRow))
        assert finding.resolved_at == later
    assert store.pending() == []
    write = store.outbox_item("make-up-1")
    assert write is not None and (write.state, write.last_error) == (
        "failed", "not written: the pair ended (b now reports to c)")

    # The report comes back to A: a new stretch, the old one kept.
    store.apply_directory(RosterUpdate("hr", people, ended=(("c@x.com", "b@x.com", "back"),),
                                       started=(("a@x.com", "b@x.com", 0),)), later)
    stretches = [(p.manager, p.ended_at is None) for p in store.directory_roster().pairs]
    assert stretches == [("a@x.com", False), ("c@x.com", False), ("a@x.com", True)]


def test_the_daemon_reads_the_directory_once_per_refresh(tmp_path: Path) -> None:
    from calsync.cli.common import Context
    from calsync.providers.factory import open_readers
    from calsync.service.daemon import Daemon
    from calsync.store import open_store

    (tmp_path / "cals").mkdir()
    config = tmp_path / "calsync.toml"
    config.write_text('''
database = "sqlite:///calsync.db"
[providers.cal]
kind = "ics"
path = "cals"
[[directory.sources]]
kind = "csv"
path = "hr.csv"
provider = "cal"
''')
    csv = tmp_path / "hr.csv"
    csv.write_text("email,name,manager_email\na@x.com,A,\nb@x.com,B,a@x.com\n")
    context = Context(config)
    now = T0
    with open_store(context.settings.database_url()) as store, \
            open_readers(context.settings) as readers:
        daemon = Daemon(context.settings, store, readers, toml=context.toml_settings,
                        clock=lambda: now)
        assert daemon.settings.pairs == []
        daemon.cycle()
        assert [p.key for p in daemon.settings.pairs] == ["a@x.com|b@x.com"]
        csv.write_text("email,name,manager_email\na@x.com,A,\nb@x.com,B,a@x.com\n"
                       "c@x.com,C,a@x.com\n")
        now = T0 + timedelta(hours=23)
        daemon.cycle()
        assert len(daemon.settings.pairs) == 1  # read again only after [directory] refresh
        now = T0 + timedelta(days=1)
        daemon.cycle()
        assert [p.key for p in daemon.settings.pairs] == ["a@x.com|b@x.com", "a@x.com|c@x.com"]


def test_a_scope_or_its_source_gives_people_their_holiday_region() -> None:
    settings = _settings(
        {"holidays": "DE-BE", "scopes": [{"root": "vp@x.com", "holidays": "US-CA"}, {}]},
        people=[{"email": "dev@x.com", "provider": "cal", "holidays": "FR"}],
    )
    [source] = settings.directory.sources
    listing = DirectoryListing("csv", tuple(CHAIN.values()))
    update, _ = plan_update(source, listing, Roster())
    roster = Roster(update.people, tuple(RosterPair("csv", m, r, s, T0)
                                         for m, r, s in update.started))
    regions = {p.email.split("@")[0]: p.holidays
               for p in effective_settings(settings, roster).people}
    # lead is covered by the vp scope; vp and ops (and the ceo, a manager only) by the
    # catch-all scope, so the source's region; the TOML's dev keeps its own.
    assert regions == {"ceo": "DE-BE", "vp": "DE-BE", "lead": "US-CA", "dev": "FR",
                       "ops": "DE-BE"}


def test_a_bad_holiday_region_on_a_scope_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"scopes.*holidays|holidays.*XX"):
        _settings({"scopes": [{"holidays": "XX-YY"}]})
