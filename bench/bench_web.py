"""Benchmark the 1:1 pages: render time and requests per second on one worker. Asserts nothing.

    .venv/bin/python bench/bench_web.py [--pairs 1000] [--requests 200] [--seconds 10]
                                        [--concurrency 8]

A team of ``--pairs`` pairs (ten reports per manager) is written straight into
a SQLite store: a year of weekly 1:1s per pair in the record (every sixth one
cancelled), three topics per 1:1 (two discussed, one carried over now and
then), shared and private notes of a few hundred characters on every 1:1, and
an action item every other week. Then a real ``calsync serve`` (one uvicorn
worker, its own process) serves it on loopback, and a manager signs in through
a real one-time link. Figures:

- the pair page's response time (median, p95) over ``--requests`` sequential
  GETs of one pair page;
- requests per second over the manager's ten pair pages, ``--concurrency``
  clients for ``--seconds`` seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from calsync.config import load_settings
from calsync.service.web import auth
from calsync.store import StoredOccurrence, open_store
from calsync.store.models import ActionItemRow, NoteRow, PairRow, TopicRow

REPORTS_PER_MANAGER = 10
WORDS = ("roadmap", "hiring", "budget", "feedback", "promotion", "onboarding", "on-call",
         "incident", "review", "goals", "career", "workload", "offsite", "training",
         "mentoring", "release", "planning")


def write_config(folder: Path, pairs: int, port: int) -> Path:
    managers = max(1, pairs // REPORTS_PER_MANAGER)
    lines = [f'database = "sqlite:///{folder / "calsync.db"}"',
             '[providers.feeds]\nkind = "ics"\npath = "feeds"']
    people, pair_lines = [], []
    for m in range(managers):
        people.append(f"m{m}@example.com")
        for r in range(REPORTS_PER_MANAGER):
            if len(pair_lines) == pairs:
                break
            people.append(f"r{m}-{r}@example.com")
            pair_lines.append(f'[[pairs]]\nmanager = "m{m}@example.com"\n'
                              f'report = "r{m}-{r}@example.com"\ncadence = "weekly"')
    for email in people:
        lines.append(f'[[people]]\nemail = "{email}"\ntimezone = "Europe/Berlin"\n'
                     'provider = "feeds"')
    lines += pair_lines
    lines.append(f'[web]\nlisten = "127.0.0.1:{port}"')
    config = folder / "calsync.toml"
    config.write_text("\n\n".join(lines) + "\n")
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def fill(config: Path, now: datetime, seed: int) -> tuple[int, int, int, int]:
    """A year of record, topics, notes and action items for every pair; the row counts."""
    rng = random.Random(seed)
    settings = load_settings(config)
    first = (now - timedelta(days=365)).replace(hour=14, minute=0, second=0, microsecond=0)
    weeks = [first + timedelta(weeks=i) for i in range(56)]  # a year past, four ahead
    counts = [0, 0, 0, 0]
    with open_store(settings.database_url()) as store:
        store.sync_config(settings)
        for pair in settings.pairs:
            record = [StoredOccurrence(w, w, w + timedelta(minutes=30),
                                       "upcoming" if w > now else
                                       "cancelled" if i % 6 == 5 else "held",
                                       by=pair.manager if i % 6 == 5 and w < now else None)
                      for i, w in enumerate(weeks)]
            store.save_evaluation(pair.manager, pair.report, record, [], now)
            counts[0] += len(record)
        with store.transaction() as session:
            ids = {(row.manager, row.report): row.id for row in session.execute(
                select(PairRow.id, PairRow.manager, PairRow.report))}
        for pair in settings.pairs:
            pid = ids[(pair.manager, pair.report)]
            people = (pair.manager, pair.report)
            topics, notes, actions = [], [], []
            position = 0
            for i, week in enumerate(w for w in weeks if w < now):
                stamp = week - timedelta(days=2)
                for k in range(3):
                    position += 1
                    discussed = k < 2 or i % 5 != 0
                    topics.append({
                        "pair_id": pid, "occurrence": week, "title": text(rng, 5),
                        "position": position, "author": people[k % 2], "created_at": stamp,
                        "updated_at": stamp, "discussed_in": week if discussed else None,
                        "discussed_by": people[0] if discussed else None,
                        "discussed_at": week if discussed else None})
                for owner in ("", pair.manager):
                    notes.append({
                        "pair_id": pid, "occurrence": week, "owner": owner,
                        "body": text(rng, 60), "created_by": people[0],
                        "updated_by": people[0], "created_at": week, "updated_at": week})
                if i % 2 == 0:
                    done = i < 48
                    actions.append({
                        "pair_id": pid, "occurrence": week, "title": text(rng, 4),
                        "owner": people[i % 4 // 2], "due": (week + timedelta(days=7)).date()
                        .isoformat(), "author": people[0], "created_at": week,
                        "updated_at": week, "done_at": week + timedelta(days=5) if done else None,
                        "done_by": people[1] if done else None})
            with store.transaction() as session:
                session.execute(insert(TopicRow), topics)
                session.execute(insert(NoteRow), notes)
                session.execute(insert(ActionItemRow), actions)
            counts[1] += len(topics)
            counts[2] += len(notes)
            counts[3] += len(actions)
    return counts[0], counts[1], counts[2], counts[3]


def pages_and_link(config: Path, manager: str, now: datetime) -> tuple[list[str], str]:
    """The manager's pair pages, and a one-time sign-in link path made the way the app does."""
    settings = load_settings(config)
    with open_store(settings.database_url()) as store:
        pages = [store.page_id(p.manager, p.report, now) for p in settings.pairs
                 if p.manager == manager]
        token, digest = auth.new_link_token()
        store.add_signin_token(manager, digest, now, auth.LINK_LIFETIME)
    return pages, f"/signin/link/{token}"


def start_server(config: Path, port: int, folder: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALSYNC_SECRET_KEY": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "-c", str(config), "serve"],
        stdout=subprocess.DEVNULL, stderr=(folder / "serve.log").open("wb"), env=env, cwd=folder,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "serve.log").read_text()) from None
            time.sleep(0.2)


def sign_in(base: str, link: str) -> httpx.Cookies:
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get(link)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[:300]
        done = client.post(link, data={"csrf": csrf.group(1), "next": "/"})
        if done.status_code != 303:
            raise RuntimeError(f"sign-in failed: {done.status_code}")
        return client.cookies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="calsync-bench-web-") as tmp:
        folder = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = write_config(folder, args.pairs, port)
        now = datetime.now(UTC)
        started = time.monotonic()
        occurrences, topics, notes, actions = fill(config, now, args.seed)
        print(f"store: {args.pairs:,} pairs, {occurrences:,} 1:1s in the record, "
              f"{topics:,} topics, {notes:,} notes, {actions:,} action items "
              f"({time.monotonic() - started:.1f} s to generate, "
              f"{(folder / 'calsync.db').stat().st_size / 2**20:.0f} MiB SQLite)")
        pages, link = pages_and_link(config, "m0@example.com", now)
        server = start_server(config, port, folder)
        try:
            cookies = sign_in(base, link)
            with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
                one = f"/1on1/{pages[0]}"
                first = client.get(one)
                assert first.status_code == 200 and "History" in first.text, first.status_code
                size = len(first.content)
                for _ in range(10):  # warm up
                    client.get(one)
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    answer = client.get(one)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"one pair page ({size / 1024:.0f} KiB of HTML, a year of history), "
                  f"{args.requests} sequential requests: median {statistics.median(times):.1f} ms,"
                  f" p95 {p95:.1f} ms")

            done = [0] * args.concurrency
            failed = [0] * args.concurrency
            stop = time.monotonic() + args.seconds

            def worker(index: int) -> None:
                with httpx.Client(base_url=base, cookies=cookies, timeout=30) as c:
                    i = index
                    while time.monotonic() < stop:
                        answer = c.get(f"/1on1/{pages[i % len(pages)]}")
                        if answer.status_code == 200:
                            done[index] += 1
                        else:
                            failed[index] += 1
                        i += 1

            threads = [threading.Thread(target=worker, args=(i,))
                       for i in range(args.concurrency)]
            t0 = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - t0
            print(f"{len(pages)} pair pages, {args.concurrency} clients for {elapsed:.0f} s: "
                  f"{sum(done) / elapsed:.1f} requests/s on one uvicorn worker "
                  f"({sum(done):,} pages, {sum(failed)} failed)")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
