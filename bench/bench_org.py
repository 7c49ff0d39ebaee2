"""Org scale: N workers sharing a generated team on PostgreSQL; prints figures and goals.

    .venv/bin/python bench/bench_org.py --pairs 10000 --workers 1,2,4 [--latency 0.08]

The team (bench/generate_team.py) is split between the Google emulator (even
people) and the Graph emulator (odd people), each in its own process with
``--latency`` seconds per HTTP request, like the real services seen from a data
centre. PostgreSQL is started on loopback in a temporary directory. For each
worker count, on a fresh database and freshly seeded emulators, N ``Daemon``
processes (one ``calsync run`` each, with its own worker id) heartbeat together,
then run a cold cycle (full sync, evaluation, make-ups, agenda blocks) and
idle cycles, all at once. Printed: cold and idle cycle time (the slowest
worker), HTTP requests per emulator, make-ups booked (checked exactly once: each
key booked by one worker once, one audit row, one event on the emulator),
peak RSS per worker, the speed-up, and whether each goal is reached:

- idle cycle at the batch floor (ceil(C/50) Google + ceil(C/20) Graph requests;
  with N workers each batches its own share, so the floor is the sum over workers)
  in under 30 s;
- cold cycle of 10,000 pairs in under 10 minutes on 4 workers;
- speed-up of the cold cycle at least 3 from 1 to 4 workers.

Asserts nothing; a worker runs as ``bench_org.py --worker ...`` and takes its
orders (heartbeat, cycle, quit) on stdin, answering one JSON line each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import emulator_process  # bench/ is on sys.path when run as a script
from generate_team import write_big_team
from postgres_process import Postgres

from calsync.config import (
    AgendaSettings,
    GoogleProvider,
    OutlookProvider,
    Settings,
    load_settings,
)
from calsync.demo.sample import DEMO_NOW
from calsync.engine.workers import Worker
from calsync.providers.factory import build_readers, close_readers
from calsync.service.daemon import Daemon
from calsync.store import open_store

IDLE_GOAL_SECONDS = 30
COLD_GOAL_SECONDS = 600
SPEEDUP_GOAL = 3.0
MAX_IDLE_CYCLES = 3  # the cycle after the cold one may still read back what it wrote


def org_settings(folder: Path, google: str, graph: str, database: str,
                 concurrency: int = 32) -> Settings:
    """The generated team on both emulators: even people on Google, odd ones on Graph.

    ``concurrency``: each provider's ``max_concurrency`` (requests in flight per
    worker; Graph still keeps its four per mailbox).
    """
    base = load_settings(folder / "calsync.toml")
    people = [
        p.model_copy(update={"provider": "google" if i % 2 == 0 else "m365", "calendar": None})
        for i, p in enumerate(base.people)
    ]
    return base.model_copy(update={
        "database": database,
        "providers": {
            "google": GoogleProvider(kind="google", auth="none", api_endpoint=google,
                                     max_concurrency=concurrency),
            "m365": OutlookProvider(kind="outlook", auth="none", graph_endpoint=graph,
                                    max_concurrency=concurrency),
        },
        "people": people,
        "pairs": [p.model_copy(update={"rebook": "auto"}) for p in base.pairs],
        "agenda": AgendaSettings(url_template="https://docs.example.com/{pair}"),
    })


# -- one worker process ------------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    settings = org_settings(Path(args.folder), args.google, args.graph, args.database,
                            args.concurrency)
    store = open_store(settings.database_url())
    readers = build_readers(settings)
    worker = Worker(settings, store, worker_id=args.worker)
    daemon = Daemon(settings, store, readers, clock=lambda: DEMO_NOW, worker=worker)
    answer({"ready": True})
    for line in sys.stdin:
        command = line.strip()
        if command == "heartbeat":
            store.heartbeat(worker.id, DEMO_NOW, worker.ttl)
            answer({"ok": True})
        elif command == "cycle":
            started, cpu = time.perf_counter(), time.process_time()
            result = daemon.cycle()
            answer({
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "calendars": len(result.calendars),
                "changed": sum(1 for c in result.calendars if c.ok and not c.unchanged),
                "failed": sum(1 for c in result.calendars if not c.ok),
                "booked": [w.key for w in result.writes if w.booked_make_up],
                "writes": sum(1 for w in result.writes if w.outcome == "done"),
                "groups": len(daemon.share.managers) if daemon.share else 0,
            })
        elif command == "quit":
            worker.release()
            close_readers(readers)
            store.close()
            answer({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
            return


def answer(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


# -- the conductor -----------------------------------------------------------------------


class WorkerProcess:
    def __init__(self, name: str, folder: Path, google: str, graph: str, database: str,
                 concurrency: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", name, "--folder", str(folder),
             "--google", google, "--graph", graph, "--database", database,
             "--concurrency", str(concurrency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.read()  # ready

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"a worker exited (code {self.process.wait()})")
        return json.loads(line)


def together(workers: list[WorkerProcess], command: str) -> tuple[float, list[dict[str, Any]]]:
    """Send ``command`` to every worker at once; (wall seconds until all answered, answers)."""
    started = time.perf_counter()
    for worker in workers:
        worker.send(command)
    answers = [worker.read() for worker in workers]
    return time.perf_counter() - started, answers


def requests_served(google: str, graph: str) -> tuple[int, int]:
    return emulator_process.requests_served(google), emulator_process.requests_served(graph)


def makeup_events(google: str, settings: Settings, keys: list[str], store_url: str) -> list[int]:
    """How many events carry each booked make-up's key on its calendar (Google make-ups)."""
    from sqlalchemy import select

    from calsync.store.models import OutboxRow

    with open_store(store_url) as store, store.transaction() as session:
        rows = session.execute(
            select(OutboxRow.key, OutboxRow.payload).where(OutboxRow.key.in_(keys))
        ).all()
    providers = {p.calendar_id: p.provider for p in settings.people}
    counts = []
    for key, payload in rows:
        calendar = str(payload.get("calendar"))
        if providers.get(calendar) != "google":
            continue
        query = urllib.parse.urlencode({"privateExtendedProperty": f"calsyncKey={key}"})
        url = (f"{google}calendar/v3/calendars/{urllib.parse.quote(calendar)}/events?{query}")
        with urllib.request.urlopen(url, timeout=60) as response:
            items = json.load(response).get("items") or []
        counts.append(sum(1 for e in items if e.get("status") != "cancelled"))
    return counts


def run_one(args: argparse.Namespace, folder: Path, postgres: Postgres, count: int,
            calendars: tuple[int, int]) -> dict[str, Any]:
    # Every request waits --latency from the first one on: set as the emulators start.
    latency = ("--latency", f"{args.latency}s")
    google_process, google = emulator_process.start(
        "calsync_emulators.google", folder / "seed-google", folder, *latency)
    graph_process, graph = emulator_process.start(
        "calsync_emulators.graph", folder / "seed-graph", folder, "--no-auth", *latency)
    workers: list[WorkerProcess] = []
    try:
        database = postgres.create_database(f"org_{count}")
        open_store(database).close()  # migrate once, before the workers race
        workers = [WorkerProcess(f"worker{i}", folder, google, graph, database, args.concurrency)
                   for i in range(count)]
        together(workers, "heartbeat")  # every worker is alive before anyone claims
        before = requests_served(google, graph)
        servers = {"Google emulator": google_process.pid, "Graph emulator": graph_process.pid,
                   "PostgreSQL": postgres.pid}
        spent = {name: emulator_process.cpu_seconds(pid) for name, pid in servers.items()}
        cold, cold_answers = together(workers, "cycle")
        spent = {name: emulator_process.cpu_seconds(pid) - spent[name]
                 for name, pid in servers.items()}
        after = requests_served(google, graph)
        cold_requests = (after[0] - before[0], after[1] - before[1])
        idle = idle_requests = idle_answers = idle_spent = None
        for _ in range(MAX_IDLE_CYCLES):
            before = requests_served(google, graph)
            idle_spent = {name: emulator_process.cpu_seconds(pid) for name, pid in servers.items()}
            idle, idle_answers = together(workers, "cycle")
            idle_spent = {name: emulator_process.cpu_seconds(pid) - idle_spent[name]
                          for name, pid in servers.items()}
            after = requests_served(google, graph)
            idle_requests = (after[0] - before[0], after[1] - before[1])
            if not any(a["changed"] or a["writes"] for a in idle_answers):
                break
        booked = [k for a in cold_answers + (idle_answers or []) for k in a["booked"]]
        settings = org_settings(folder, google, graph, database, args.concurrency)
        on_calendars = makeup_events(google, settings, sorted(set(booked)), database)
        _, quits = together(workers, "quit")
        workers = []
        return {
            "workers": count, "cold": cold, "cold_requests": cold_requests,
            "cold_cpu": [a["cpu"] for a in cold_answers],
            "servers_cpu": spent,
            "idle_cpu": [a["cpu"] for a in idle_answers or []],
            "idle_servers_cpu": idle_spent,
            "idle": idle, "idle_requests": idle_requests,
            "idle_clean": not any(a["changed"] or a["writes"] for a in idle_answers or []),
            "failed": sum(a["failed"] for a in cold_answers),
            "booked": len(booked), "booked_keys": len(set(booked)),
            "on_calendars": on_calendars,
            "groups": [a["groups"] for a in cold_answers],
            "shares": [a["calendars"] for a in cold_answers],
            "rss": [q["peak_rss_mib"] for q in quits],
        }
    finally:
        for worker in workers:
            worker.process.kill()
        for process in (google_process, graph_process):
            process.terminate()
            process.wait(timeout=60)


def idle_floor(calendars: tuple[int, int], workers: int) -> tuple[int, int]:
    """(one worker's floor, the most N workers may need): one batch per 50 Google
    calendars and per 20 Graph mailboxes; each worker batches its own share, so
    splitting adds at most one partial batch per provider per extra worker."""
    one = math.ceil(calendars[0] / 50) + math.ceil(calendars[1] / 20)
    return one, one + 2 * (workers - 1)


def report(row: dict[str, Any], calendars: tuple[int, int]) -> None:
    n = row["workers"]
    cold_g, cold_o = row["cold_requests"]
    idle_g, idle_o = row["idle_requests"]
    print(f"\n{n} worker(s): groups held {row['groups']}, calendars synced {row['shares']}")
    print(f"  cold cycle: {row['cold']:.1f} s, {cold_g} Google + {cold_o} Graph HTTP requests, "
          f"{row['failed']} calendars failed")
    workers_cpu = sum(row["cold_cpu"])
    servers_cpu = sum(row["servers_cpu"].values())
    print("  cold cycle CPU: workers " + " + ".join(f"{c:.1f}" for c in row["cold_cpu"])
          + " s; " + ", ".join(f"{name} {c:.1f} s" for name, c in row["servers_cpu"].items())
          + f"; in all {workers_cpu + servers_cpu:.0f} s on {os.cpu_count()} cores = at least "
          f"{(workers_cpu + servers_cpu) / (os.cpu_count() or 1):.0f} s of wall time")
    one, most = idle_floor(calendars, n)
    print(f"  idle cycle: {row['idle']:.1f} s, {idle_g} Google + {idle_o} Graph HTTP requests "
          f"(floor ceil({calendars[0]}/50) + ceil({calendars[1]}/20) = {one}; at most {most} "
          f"split over {n}){'' if row['idle_clean'] else ' (still writing: NOT idle)'}")
    print("  idle cycle CPU: workers " + " + ".join(f"{c:.1f}" for c in row["idle_cpu"])
          + " s; " + ", ".join(f"{name} {c:.1f} s"
                               for name, c in row["idle_servers_cpu"].items()))
    once = (row["booked"] == row["booked_keys"]
            and all(c == 1 for c in row["on_calendars"]))
    print(f"  make-ups booked: {row['booked']} ({row['booked_keys']} keys; "
          f"{len(row['on_calendars'])} Google ones found once each on their calendar: "
          f"{'yes' if all(c == 1 for c in row['on_calendars']) else 'NO'}) -> "
          f"{'each exactly once' if once else 'NOT exactly once'}")
    print("  peak RSS per worker: " + ", ".join(f"{r:.0f} MiB" for r in row["rss"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency", type=float, default=0.08,
                        help="seconds every emulator request waits (0 to 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="each provider's max_concurrency in every worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--google", help=argparse.SUPPRESS)
    parser.add_argument("--graph", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 <= args.latency <= 60:  # the emulators' own bound; they would exit unheard
        parser.error(f"--latency: {args.latency:g} is outside 0 to 60 seconds")
    if args.worker:
        worker_main(args)
        return
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = load_settings(write_big_team(folder, args.pairs, DEMO_NOW, args.seed))
        for side in ("seed-google", "seed-graph"):
            (folder / side).mkdir()
        for index, person in enumerate(base.people):  # an emulator names it after its file
            side = "seed-google" if index % 2 == 0 else "seed-graph"
            shutil.copyfile(folder / "calendars" / str(person.calendar),
                            folder / side / f"{person.email}.ics")
        calendars = ((len(base.people) + 1) // 2, len(base.people) // 2)
        print(f"team: {args.pairs} pairs, {len(base.people)} calendars ({calendars[0]} Google, "
              f"{calendars[1]} Graph), {args.latency * 1000:.0f} ms per request, PostgreSQL")
        postgres = Postgres().start()
        rows = []
        try:
            for count in counts:
                rows.append(run_one(args, folder, postgres, count, calendars))
                report(rows[-1], calendars)
        finally:
            postgres.stop()
    print("\ngoals:")
    for row in rows:
        idle_total = sum(row["idle_requests"])
        one, most = idle_floor(calendars, row["workers"])
        reached = idle_total <= most and row["idle"] < IDLE_GOAL_SECONDS
        print(f"  {row['workers']} worker(s): idle cycle {idle_total} requests (floor {one}, "
              f"{most} split over {row['workers']}) in {row['idle']:.1f} s (goal < "
              f"{IDLE_GOAL_SECONDS} s): {'reached' if reached else 'NOT reached'}")
    by_count = {row["workers"]: row for row in rows}
    if 4 in by_count:
        cold = by_count[4]["cold"]
        if args.pairs == 10000:
            verdict = "reached" if cold < COLD_GOAL_SECONDS else "NOT reached"
        else:
            verdict = "not measured (the goal is for --pairs 10000)"
        print(f"  cold cycle of {args.pairs} pairs on 4 workers: {cold:.1f} s "
              f"(goal < {COLD_GOAL_SECONDS} s for 10,000): {verdict}")
    if 1 in by_count and 4 in by_count:
        speedup = by_count[1]["cold"] / by_count[4]["cold"]
        verdict = "reached" if speedup >= SPEEDUP_GOAL else "NOT reached"
        print(f"  speed-up of the cold cycle, 1 -> 4 workers: {speedup:.2f}x "
              f"(goal {SPEEDUP_GOAL:.0f}x): {verdict}")


if __name__ == "__main__":
    main()
