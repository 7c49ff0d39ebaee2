"""The 1:1 pages' rows on SQLite and PostgreSQL: page ids, topics, notes, actions, links."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from calsync.config import settings_from_dict
from calsync.store import Store

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
NEXT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
M, R, OTHER = "maria@example.com", "dev@example.com", "lena@example.com"


@pytest.fixture
def team(store: Store) -> Store:
    settings = settings_from_dict(
        {"providers": {"f": {"kind": "ics", "path": "x"}},
         "people": [{"email": e, "provider": "f"} for e in (M, R, OTHER)],
         "pairs": [{"manager": M, "report": R}, {"manager": M, "report": OTHER}]},
        source=Path("/tmp/c.toml"),
    )
    store.sync_config(settings)
    return store


def test_page_ids_are_opaque_stable_and_per_pair(team: Store) -> None:
    first = team.page_id(M, R, NOW)
    assert team.page_id(M, R, NOW + timedelta(days=30)) == first  # never changes
    assert "maria" not in first and "dev" not in first and len(first) >= 16
    other = team.page_id(M, OTHER, NOW)
    assert other != first
    ref = team.pair_of_page(first)
    assert ref is not None and (ref.manager, ref.report) == (M, R)
    assert team.pair_of_page("nope") is None


def test_topics_keep_their_author_order_and_discussion(team: Store) -> None:
    a = team.add_topic(M, R, NEXT, "Promotion path", M, NOW)
    b = team.add_topic(M, R, NEXT, "On-call load", R, NOW)
    c = team.add_topic(M, R, NEXT, "Conference budget", R, NOW)
    assert [t.id for t in team.topics_of(M, R)] == [a, b, c]
    team.move_topic(M, R, c, [a, b, c], -1)
    assert [t.id for t in team.topics_of(M, R)] == [a, c, b]
    team.move_topic(M, R, a, [a, c, b], -5)  # clamped: already first
    assert [t.id for t in team.topics_of(M, R)] == [a, c, b]
    team.edit_topic(M, R, b, "On-call load (again)", NOW + timedelta(minutes=1))
    team.set_discussed(M, R, a, NEXT, R, NOW + timedelta(days=3))
    topics = {t.id: t for t in team.topics_of(M, R)}
    assert topics[b].title == "On-call load (again)" and topics[b].author == R
    assert (topics[a].discussed_in, topics[a].discussed_by) == (NEXT, R)
    team.set_discussed(M, R, a, None, M, NOW)
    assert team.topics_of(M, R)[0].discussed_in is None
    team.remove_topic(M, R, c)
    assert [t.id for t in team.topics_of(M, R)] == [a, b]
    assert team.topics_of(M, OTHER) == []
    with pytest.raises(LookupError):  # another pair's topic is not reachable through this one
        team.remove_topic(M, OTHER, a)


def test_private_notes_are_only_ever_read_back_by_their_author(team: Store) -> None:
    team.save_note(M, R, NEXT, "", "Shared: agreed on the Q1 goals", M, NOW)
    team.save_note(M, R, NEXT, M, "Maria's private: ask about workload", M, NOW)
    team.save_note(M, R, NEXT, R, "Dev's private", R, NOW)
    team.save_note(M, R, NEXT, "", "Shared: agreed on the Q1 goals, and the offsite", R, NOW)
    maria = {n.owner: n for n in team.notes_of(M, R, M)}
    assert set(maria) == {"", M}
    assert maria[""].body.endswith("the offsite")
    assert (maria[""].created_by, maria[""].updated_by) == (M, R)
    assert {n.owner for n in team.notes_of(M, R, R)} == {"", R}
    assert {n.owner for n in team.notes_of(M, R, OTHER)} == {""}
    team.save_note(M, R, NEXT, M, "   ", M, NOW)  # emptied: gone
    assert {n.owner for n in team.notes_of(M, R, M)} == {""}


def test_action_items_are_done_and_undone_by_someone(team: Store) -> None:
    ident = team.add_action(M, R, NEXT, "Send the budget", R, date(2026, 11, 30), M, NOW)
    (item,) = team.actions_of(M, R)
    assert (item.owner, item.due, item.author, item.done_at) == (R, date(2026, 11, 30), M, None)
    team.set_action_done(M, R, ident, True, R, NOW + timedelta(days=1))
    assert team.actions_of(M, R)[0].done_by == R
    team.set_action_done(M, R, ident, False, M, NOW + timedelta(days=2))
    assert team.actions_of(M, R)[0].done_at is None


def test_a_signin_link_works_once_and_not_after_it_expires(team: Store) -> None:
    digest = hashlib.sha256(b"token").hexdigest()
    team.add_signin_token(M, digest, NOW, timedelta(minutes=15))
    assert team.signin_requests_since(M, NOW - timedelta(hours=1)) == 1
    assert team.use_signin_token("0" * 64, NOW) is None
    assert team.use_signin_token(digest, NOW + timedelta(minutes=5)) == M
    assert team.use_signin_token(digest, NOW + timedelta(minutes=6)) is None  # used
    late = hashlib.sha256(b"late").hexdigest()
    team.add_signin_token(M, late, NOW, timedelta(minutes=15))
    assert team.use_signin_token(late, NOW + timedelta(minutes=15)) is None  # expired
