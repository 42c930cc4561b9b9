"""Crash test of the event path: clients stream POST /events while the server is killed with SIGKILL and restarted,
several times; afterwards every event that got a 2xx must be in the event log (and in the users' histories the
restarted service reports). Writes bench/results/serve_faults.md.

With --replicas 2 and a PostgreSQL log (--postgres starts a private server; --events-url names one) two services
share the log; each post goes to a random replica and, when that one is down, to the other (a load balancer's
retry); the kills alternate between them, and afterwards *each* replica must report every user's full history.

SIGKILL ends the process, not the machine: the page cache survives it, so this checks that an acknowledgement is
only sent after the commit (the log's synchronous=FULL fsync is what covers power loss, which a script cannot
cause). Events committed whose response was lost in the kill are counted apart: they are in the log although the
client never heard back (at-least-once for a retrying client).

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve_faults.py --rounds 5
    OMP_NUM_THREADS=1 .venv/bin/python bench/serve_faults.py --rounds 6 --replicas 2 --postgres \
        --out bench/results/serve_faults_postgres.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
TOKEN = "fault-token"


def toy_run(work: Path) -> Path:
    from lmrec.data import from_dataframes
    from lmrec.pipeline import build_config, fit_run

    rng = np.random.default_rng(0)
    rows = [(f"user{u}", f"item{i}", 1_600_000_000 + t) for u in range(200)
            for t, i in enumerate(rng.choice(100, size=10, replace=False))]
    dataset = from_dataframes(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), name="toy")
    out = work / "ease"
    fit_run(build_config(None, {"data": {"interactions": "toy.csv"}, "model": {"name": "ease"}}), out,
            dataset=dataset)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run: Path, port: int, events_url: str | None = None) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    shared = ["--events-url", events_url] if events_url else []
    server = subprocess.Popen([sys.executable, "-m", "lmrec.cli", "serve", str(run), "--port", str(port),
                               "--no-access-log", "--log-level", "warning", *shared],
                              env={**os.environ, "OMP_NUM_THREADS": "1", "LMREC_API_TOKEN": TOKEN}, cwd=REPO)
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server, time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.05)


class Streamer(threading.Thread):
    """Sends events (single or batches of 5) as fast as the servers answer, each post with an Idempotency-Key to a
    random replica; a post that got no answer (the server died) is retried with the same key, on the next replica,
    until one comes, as a careful client behind a load balancer does; remembers what was acknowledged and how many
    retries a server recognised as replays."""

    def __init__(self, number: int, ports: list[int], items: list[str], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.user, self.ports, self.items, self.stop = f"stream{number}", ports, items, stop
        self.acknowledged: set[int] = set()
        self.sent: set[int] = set()
        self.errors = 0
        self.replayed = 0
        self.rng = random.Random(number)
        self.next_marker = 0

    def run(self) -> None:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                                timeout=5) for port in self.ports]
        pending = None  # (markers, body, key) of a post that got no answer: retried as it was
        replica = self.rng.randrange(len(clients))
        while not self.stop.is_set():
            if pending is None:
                size = self.rng.choice((1, 5))
                markers = list(range(self.next_marker, self.next_marker + size))
                self.next_marker += size
                events = [{"user_id": self.user, "item_id": self.rng.choice(self.items), "timestamp": m}
                          for m in markers]
                self.sent.update(markers)
                pending = (markers, events if size > 1 else events[0], f"{self.user}-{markers[0]}")
            else:
                replica = (replica + 1) % len(clients)  # the retry goes to the next replica
            markers, body, key = pending
            try:
                response = clients[replica].post("/events", json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                self.errors += 1
                time.sleep(0.02)
                continue
            pending = None
            replica = self.rng.randrange(len(clients))
            if 200 <= response.status_code < 300:
                self.acknowledged.update(markers)
                self.replayed += bool(response.json().get("replayed"))
            else:
                self.errors += 1
        for client in clients:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--min-s", type=float, default=1.0, help="shortest run between kills")
    parser.add_argument("--max-s", type=float, default=3.0)
    parser.add_argument("--replicas", type=int, default=1, help="services sharing the log (2+: needs PostgreSQL)")
    parser.add_argument("--events-url", help="a PostgreSQL log (an empty database) instead of events.sqlite")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL server for the log")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve_faults.md")
    args = parser.parse_args()
    if args.replicas > 1 and not (args.events_url or args.postgres):
        parser.error("--replicas 2+ share a PostgreSQL log: give --events-url or --postgres")
    if args.postgres:
        from lmrec.testing.postgres import TemporaryPostgres

        with TemporaryPostgres() as url:
            args.events_url = url
            run_bench(args)
    else:
        run_bench(args)


def run_bench(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lmrec-serve-faults-"))
    run = toy_run(work)
    items = json.loads((run / "ids.json").read_text())["items"]
    ports = [free_port() for _ in range(args.replicas)]
    servers, starts = zip(*(start(run, port, args.events_url) for port in ports), strict=True)
    servers, first_start = list(servers), max(starts)
    stop = threading.Event()
    streamers = [Streamer(n, ports, items, stop) for n in range(args.clients)]
    for s in streamers:
        s.start()
    rng = random.Random(0)
    restarts = []
    started = time.perf_counter()
    for round_ in range(args.rounds):
        time.sleep(rng.uniform(args.min_s, args.max_s))
        victim = round_ % len(servers)
        os.kill(servers[victim].pid, signal.SIGKILL)
        servers[victim].wait()
        servers[victim], seconds = start(run, ports[victim], args.events_url)
        restarts.append(seconds)
        print(f"round {round_ + 1}: killed replica {victim} and restarted it in {seconds:.2f}s; acknowledged so "
              f"far {sum(len(s.acknowledged) for s in streamers)}", flush=True)
    time.sleep(1.0)
    stop.set()
    for s in streamers:
        s.join()
    streamed = time.perf_counter() - started

    # what each (restarted) replica reports, then what the log holds
    histories = [{s.user: httpx.get(f"http://127.0.0.1:{port}/users/{s.user}",
                                     headers={"Authorization": f"Bearer {TOKEN}"}).json().get("history", [])
                  for s in streamers} for port in ports]
    for server in servers:
        server.send_signal(signal.SIGINT)
        server.wait(10)
    from lmrec.online.event_logs import open_event_log

    with open_event_log(args.events_url or run / "events.sqlite") as log:
        stored = log.since(0)
    in_log: dict[str, list[int]] = {}
    for event in stored:
        in_log.setdefault(event.user_id, []).append(int(event.timestamp))
    rows, lost_total = [], 0
    for s in streamers:
        logged = in_log.get(s.user, [])
        lost = s.acknowledged - set(logged)
        lost_total += len(lost)
        rows.append({"client": s.user, "sent": len(s.sent), "acknowledged": len(s.acknowledged),
                     "in_log": len(logged), "lost": len(lost), "duplicates": len(logged) - len(set(logged)),
                     "unacknowledged_but_stored": len(set(logged) - s.acknowledged), "errors": s.errors,
                     "replayed": s.replayed,
                     "history_matches_log": all(len(h[s.user]) == len(logged) for h in histories)})
    write_report(args, rows, restarts, first_start, streamed, lost_total, load_before)
    shutil.rmtree(work, ignore_errors=True)
    print("LOST ACKNOWLEDGED EVENTS:", lost_total)
    sys.exit(1 if lost_total else 0)


def setup(args: argparse.Namespace) -> str:
    if args.replicas == 1:
        return "`lmrec serve` (uvicorn, 1 worker)"
    return (f"{args.replicas} `lmrec serve` replicas (uvicorn, 1 worker each) sharing one PostgreSQL event log "
            "(`--events-url`); each post goes to a random replica, a retry to the next one")


def log_name(args: argparse.Namespace) -> str:
    if not args.events_url:
        return "events.sqlite"
    from lmrec.online.event_logs import describe

    server = "a private PostgreSQL server started by --postgres" if args.postgres else describe(args.events_url)
    return f"the PostgreSQL log ({server})"


def write_report(args, rows, restarts, first_start, streamed, lost_total, load_before) -> None:
    total = {k: sum(r[k] for r in rows) for k in ("sent", "acknowledged", "in_log", "lost", "duplicates",
                                                   "unacknowledged_but_stored", "errors", "replayed")}
    lines = ["# Event durability under kill -9", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/serve_faults.py {' '.join(sys.argv[1:])}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, load average "
             f"before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}  ",
             f"Setup: {setup(args)}; the run: a 100-item EASE model; {args.clients} client threads "
             "stream POST /events (single events and batches of 5, each event marked by a unique timestamp, each post "
             "with an Idempotency-Key and retried with it until answered) while "
             f"{'a' if args.replicas > 1 else 'the'} server is killed with SIGKILL {args.rounds} times"
             f"{' (the replicas in turn)' if args.replicas > 1 else ''}, {args.min_s}-{args.max_s} s apart, and "
             f"restarted at once. Checked afterwards: every 2xx-acknowledged marker is in {log_name(args)}, and "
             f"{'every replica' if args.replicas > 1 else 'the restarted service'}'s GET /users/{{id}} history has "
             "one item per logged event.", "",
             f"**Result: {total['lost']} acknowledged events lost** out of {total['acknowledged']} acknowledged "
             f"({total['in_log']} in the log; {total['unacknowledged_but_stored']} committed whose response died "
             f"with the server; {total['duplicates']} duplicates; {total['replayed']} retried posts answered as "
             f"replays of an Idempotency-Key, stored once). Streaming time {streamed:.1f} s "
             f"(~{total['acknowledged'] / streamed:.0f} acknowledged events/s including restarts); first start "
             f"{first_start:.2f} s, restarts {min(restarts):.2f}-{max(restarts):.2f} s "
             f"(median {np.median(restarts):.2f} s).", "",
             "| client | sent | acknowledged | in log | lost | duplicates | committed, not acknowledged | "
             "client errors | retries replayed | /users history = log |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['client']} | {r['sent']} | {r['acknowledged']} | {r['in_log']} | {r['lost']} | "
                     f"{r['duplicates']} | {r['unacknowledged_but_stored']} | {r['errors']} | {r['replayed']} | "
                     f"{'yes' if r['history_matches_log'] else 'NO'} |")
    lines.append("")
    write_keeping_notes(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
