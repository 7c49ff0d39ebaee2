"""The lease table on its own: fair shares, SKIP LOCKED claims, expiry, release."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from calsync.store import Store, open_store

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)
KEYS = [f"manager{i:02d}@example.com" for i in range(30)]


def test_one_worker_takes_everything_then_shares_when_another_joins(store: Store):
    store.heartbeat("a", NOW, TTL)
    assert store.claim_leases("a", "group", KEYS, NOW, TTL) == set(KEYS)
    store.heartbeat("b", NOW, TTL)
    assert store.claim_leases("b", "group", KEYS, NOW, TTL) == set()  # all held by a
    later = NOW + timedelta(minutes=1)
    store.heartbeat("a", later, TTL)
    kept = store.claim_leases("a", "group", KEYS, later, TTL)
    assert len(kept) == 15  # gave the extras back
    store.heartbeat("b", later, TTL)
    taken = store.claim_leases("b", "group", KEYS, later, TTL)
    assert taken == set(KEYS) - kept


def test_a_lease_not_renewed_is_free_after_its_ttl_and_not_before(store: Store):
    store.heartbeat("a", NOW, TTL)
    store.heartbeat("b", NOW, TTL)
    mine = store.claim_leases("a", "group", KEYS[:2], NOW, TTL)
    assert len(mine) == 1
    theirs = store.claim_leases("b", "group", KEYS[:2], NOW, TTL)
    assert len(theirs) == 1
    # a never renews again.
    almost = NOW + TTL - timedelta(seconds=1)
    store.heartbeat("b", almost, TTL)
    assert store.claim_leases("b", "group", KEYS[:2], almost, TTL) == theirs
    expired = NOW + TTL
    store.heartbeat("b", expired, TTL)
    assert store.claim_leases("b", "group", KEYS[:2], expired, TTL) == set(KEYS[:2])
    [a] = [s for s in store.worker_shares(expired) if s.worker == "a"]
    assert not a.alive and a.groups == frozenset()


def test_release_frees_the_share_and_forgets_the_worker(store: Store):
    store.heartbeat("a", NOW, TTL)
    store.claim_leases("a", "calendar", KEYS, NOW, TTL)
    store.release_leases("a")
    assert store.worker_shares(NOW) == []
    store.heartbeat("b", NOW, TTL)
    assert store.claim_leases("b", "calendar", KEYS, NOW, TTL) == set(KEYS)


def test_keys_that_left_the_config_are_dropped(store: Store):
    store.heartbeat("a", NOW, TTL)
    store.claim_leases("a", "group", KEYS, NOW, TTL)
    assert store.claim_leases("a", "group", KEYS[:3], NOW, TTL) == set(KEYS[:3])
    [a] = store.worker_shares(NOW)
    assert a.groups == frozenset(KEYS[:3])


def test_an_unknown_kind_is_refused(store: Store):
    with pytest.raises(ValueError, match="unknown lease kind"):
        store.claim_leases("a", "pairs", KEYS, NOW, TTL)


@pytest.mark.postgres
def test_workers_claiming_at_the_same_moment_never_get_the_same_key(postgres):
    url = postgres.create_database()
    stores = [open_store(url) for _ in range(4)]
    try:
        for index, store in enumerate(stores):
            store.heartbeat(f"w{index}", NOW, TTL)
        start = threading.Barrier(len(stores))
        claimed: dict[int, set[str]] = {}

        def claim(index: int) -> None:
            start.wait()
            claimed[index] = stores[index].claim_leases(f"w{index}", "group", KEYS, NOW, TTL)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(claimed) == len(stores)
        every = [key for keys in claimed.values() for key in keys]
        assert len(every) == len(set(every))  # nobody holds a key another holds
        assert all(len(keys) <= 8 for keys in claimed.values())  # ceil(30 / 4)
    finally:
        for store in stores:
            store.close()
