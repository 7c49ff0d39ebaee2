"""The pair page is linked from every occurrence and make-up, and from the weekly email."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from calsync_emulators.google import GoogleEmulator

from calsync.config import load_settings
from calsync.store import open_store
from tests.google_team_support import NOW, TODAY, cancel, makeups, one_cycle, seed, team_config

PUBLIC = "https://calsync.example.com"


def web_config(tmp_path: Path, google: GoogleEmulator, *, template: bool) -> Path:
    text = team_config(f"sqlite:///{tmp_path / 'calsync.db'}", google.url,
                       agenda_template=template)
    text += f'\n[web]\npublic_url = "{PUBLIC}/"\n'
    path = tmp_path / "calsync.toml"
    path.write_text(text)
    return path


def page_of(config: Path) -> str:
    settings = load_settings(config)
    with open_store(settings.database_url()) as store:
        return f"{PUBLIC}/1on1/" + store.page_id("maria@example.com", "dev@example.com", NOW)


def test_without_a_template_every_occurrence_and_make_up_links_to_the_pair_page(
    google: GoogleEmulator, tmp_path: Path
) -> None:
    master_id = seed(google)
    config = web_config(tmp_path, google, template=False)
    cancel(google, master_id, TODAY)
    one_cycle(config)
    link = page_of(config)
    assert "maria" not in link.rsplit("/", 1)[1]  # opaque, never the emails
    series = google.get_event("maria@example.com", master_id)
    assert link in series["description"]
    (makeup,) = makeups(google, "maria@example.com")
    assert link in makeup["description"]
    # The link never changes for the pair: a later cycle writes nothing new.
    one_cycle(config, NOW + timedelta(days=1))
    assert google.get_event("maria@example.com", master_id)["description"].count(PUBLIC) == 1
    assert page_of(config) == link


def test_a_url_template_still_wins(google: GoogleEmulator, tmp_path: Path) -> None:
    master_id = seed(google)
    config = web_config(tmp_path, google, template=True)
    one_cycle(config)
    description = google.get_event("maria@example.com", master_id)["description"]
    assert "https://docs.example.com/1on1/maria-dev" in description
    assert PUBLIC not in description


def test_the_weekly_email_links_each_row_and_counts_what_waits(store) -> None:  # type: ignore[no-untyped-def]
    from calsync.config import settings_from_dict
    from calsync.engine.evaluate import evaluate_all
    from calsync.report.render import render_html, render_text
    from calsync.report.service import build_reports
    from tests.report_support import SEND_NOW, seed_team, team_config

    ann, cid, dee = "ann@example.com", "cid@example.com", "dee@example.com"
    data = team_config()
    data["web"] = {"public_url": PUBLIC}
    settings = settings_from_dict(data, source=Path("/tmp/calsync.toml"))
    seed_team(store, settings)
    evaluate_all(settings, store, SEND_NOW)
    key = SEND_NOW + timedelta(days=1)
    store.add_topic(ann, cid, key, "Career goals", cid, SEND_NOW)
    store.add_topic(ann, cid, key, "Team offsite", ann, SEND_NOW)
    store.add_action(ann, cid, key, "Book the course", cid, None, ann,
                     SEND_NOW - timedelta(days=9))
    store.add_action(ann, cid, key, "Share the doc", ann, None, ann, SEND_NOW)
    (report,) = build_reports(settings, store, SEND_NOW, managers=[ann])
    rows = {row.report: row for row in report.rows}
    link = f"{PUBLIC}/1on1/{store.page_id(ann, cid, SEND_NOW)}"
    assert rows[cid].page_url == link
    assert (rows[cid].topics_waiting, rows[cid].actions_open, rows[cid].oldest_action_days) == (
        2, 2, 9)
    assert (rows[dee].topics_waiting, rows[dee].actions_open) == (0, 0)
    text = render_text(report)
    assert f"1:1 page: {link} · 2 topics waiting · 2 open action items (oldest 9 days)" in text
    assert f'href="{link}"' in render_html(report)
