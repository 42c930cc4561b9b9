"""Load test of `lmrec serve`: POST /recommend at a fixed concurrency against a real uvicorn process (1 worker).

Two catalogues:
  * ml-100k, SASRec (RUN_DIR given with --run-dir, else trained here with `lmrec fit --dataset ml-100k`);
  * a synthetic 100k-item catalogue (SASRec ID, dim 32, 1 epoch, sampled softmax: trained here in about a minute;
    its quality is irrelevant, its scoring cost is that of any 100k-item dot-product model). At >= 50k items the
    service uses the FAISS inner-product index; `--compare-exact` also serves it with exact scoring.

The client is a minimal asyncio HTTP/1.1 keep-alive client (one connection per concurrent slot, pre-encoded
bodies), so as little CPU as possible is taken from the server: both share the machine's cores. Each run
writes bench/results/serve_load.md with the command, figures, versions, load average and a per-stage profile of
one request path measured in-process.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve_load.py --run-dir runs/sasrec-ml100k
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
LMREC = [sys.executable, "-m", "lmrec.cli"]
TOKEN = "bench-token"  # the served run needs a read-scoped token for /recommend


# -- runs --------------------------------------------------------------------------------------------------------
def train_ml100k(work: Path, data_dir: str | None, epochs: int) -> Path:
    out = work / "sasrec-ml100k"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if data_dir:
        env["LMREC_DATA_DIR"] = data_dir
    subprocess.run([*LMREC, "fit", "--dataset", "ml-100k", "--model", "sasrec", "--out", str(out),
                    "--set", f"model.train.epochs={epochs}", "--set", "model.train.threads=1"],
                   check=True, env=env, cwd=REPO)
    return out


def synthetic_run(work: Path, n_items: int, n_users: int, per_user: int) -> Path:
    """Every item appears at least once (so the catalogue really has n_items), the rest Zipf-popular."""
    import pandas as pd

    rng = np.random.default_rng(0)
    total = n_users * per_user
    popular = rng.zipf(1.2, size=total) % n_items
    popular[:n_items] = rng.permutation(n_items)
    order = rng.permutation(total)
    items = popular[order]
    users = np.repeat(np.arange(n_users), per_user)
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items],
                          "timestamp": np.tile(np.arange(per_user), n_users) + 1_600_000_000})
    csv = work / "synthetic.csv"
    frame.to_csv(csv, index=False)
    out = work / f"sasrec-synthetic-{n_items // 1000}k"
    subprocess.run([*LMREC, "fit", "--interactions", str(csv), "--model", "sasrec", "--out", str(out),
                    "--set", "model.dim=32", "--set", "model.max_len=20", "--set", "model.loss=sampled",
                    "--set", "model.train.epochs=1", "--set", "model.train.threads=1"],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO)
    return out


def request_bodies(run: Path, n: int, k: int, seed: int = 0) -> list[bytes]:
    users = json.loads((run / "ids.json").read_text())["users"]
    rng = random.Random(seed)
    return [json.dumps({"user_id": rng.choice(users), "k": k}).encode() for _ in range(n)]


# -- server ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, port: int, extra: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LMREC_API_TOKEN": TOKEN}
    server = subprocess.Popen([*LMREC, "serve", str(run), "--port", str(port), "--no-access-log",
                               "--log-level", "warning", *extra], env=env, cwd=REPO)
    deadline = time.time() + 300
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("server did not become healthy")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


# -- client ------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    requests: int
    concurrency: int
    seconds: float
    latencies: np.ndarray
    errors: int
    statuses: dict[int, int]

    def row(self) -> dict[str, float]:
        ms = self.latencies * 1000
        return {"requests": self.requests, "concurrency": self.concurrency, "req_s": self.requests / self.seconds,
                "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
                "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "errors": self.errors}


async def _worker(port: int, path: bytes, bodies: list[bytes], counter, n: int, latencies: list, statuses: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    while (i := next(counter)) < n:
        body = bodies[i % len(bodies)]
        head = (b"POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + TOKEN.encode() +
                b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n")
        started = time.perf_counter()
        try:
            writer.write(head % (path, len(body)) + body)
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
        errors += status != 200
    writer.close()
    return errors


async def _load(port: int, bodies: list[bytes], n: int, concurrency: int) -> Result:
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    errors = await asyncio.gather(*[_worker(port, b"/recommend", bodies, counter, n, latencies, statuses)
                                    for _ in range(concurrency)])
    return Result(n, concurrency, time.perf_counter() - started, np.asarray(latencies), sum(errors), statuses)


def load(port: int, bodies: list[bytes], n: int, concurrency: int) -> Result:
    try:
        import uvloop

        return uvloop.run(_load(port, bodies, n, concurrency))
    except ImportError:
        return asyncio.run(_load(port, bodies, n, concurrency))


# -- in-process profile of one request path ----------------------------------------------------------------------
def profile(run: Path, bodies: list[bytes], reps: int, faiss_min_items: int | None = None,
            faiss_index: str = "flat") -> dict[str, float]:
    """Median microseconds per stage: parse+validate, history, retrieval (model), response JSON, the whole ASGI
    app (framework included) called in-process without a socket."""
    import torch

    from lmrec.data.types import Histories
    from lmrec.serve import ServeConfig, create_app
    from lmrec.serve.app import json_response
    from lmrec.serve.schemas import RecommendRequest

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    served = Path(shutil.copytree(run, work / run.name))
    config = ServeConfig(token=TOKEN, faiss_index=faiss_index, user_cache=0, **({} if faiss_min_items is None else
                                                                   {"faiss_min_items": faiss_min_items}))
    app = create_app(served, config)
    state = app.state.serving
    snapshot = state.snapshot
    timings: dict[str, list[float]] = {k: [] for k in ("validate", "history", "model", "respond", "asgi_total")}
    pipeline = snapshot.pipeline()

    async def call(body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/recommend", "raw_path": b"/recommend", "query_string": b"",
                 "root_path": "", "headers": [(b"content-type", b"application/json"),
                                              (b"authorization", b"Bearer " + TOKEN.encode()),
                                              (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(message)

        await app(scope, receive, send)

    loop = asyncio.new_event_loop()
    for i in range(reps + 50):
        body = bodies[i % len(bodies)]
        t0 = time.perf_counter()
        request = RecommendRequest.model_validate_json(body)
        t1 = time.perf_counter()
        seq = state.user_history(snapshot, request.user_id)
        histories = Histories.from_lists([seq])
        t2 = time.perf_counter()
        top = pipeline.rank(histories, request.k)
        t3 = time.perf_counter()
        raw = snapshot.items.raw
        json_response({"items": [{"item_id": raw[j], "score": float(s)}
                                 for j, s in zip(top.items[0].tolist(), top.scores[0].tolist(), strict=True)],
                       "model_version": snapshot.version, "unknown_items": []})
        t4 = time.perf_counter()
        loop.run_until_complete(call(body))
        t5 = time.perf_counter()
        if i >= 50:
            for key, (a, b) in zip(timings, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True):
                timings[key].append(b - a)
    loop.close()
    state.close()
    shutil.rmtree(work, ignore_errors=True)
    return {key: float(np.median(values) * 1e6) for key, values in timings.items()}


# -- report ------------------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("fastapi", "starlette", "uvicorn", "pydantic", "torch", "numpy", "faiss", "uvloop", "httptools"):
        try:
            out[name] = str(__import__(name).__version__)
        except (ImportError, AttributeError):
            out[name] = "-"
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def score_counters(port: int) -> tuple[float, float, float, float]:
    """(model calls, requests answered by them, user-state cache hits, misses) from /metrics: requests per call
    is the coalescing factor."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                  if line.startswith(("lmrec_score_", "lmrec_user_cache_")))
    return tuple(float(values.get(f"lmrec_{name}_total", 0))  # type: ignore[return-value]
                 for name in ("score_calls", "score_requests", "user_cache_hits", "user_cache_misses"))


def table(rows: list[dict]) -> list[str]:
    lines = ["| catalogue | retrieval | concurrency | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
             "requests per model call | user states from cache |", "|---|---|" + "---:|" * 10]
    for r in rows:
        lines.append(f"| {r['name']} | {r['retrieval']} | {r['concurrency']} | {r['requests']} | {r['req_s']:.0f} | "
                     f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
                     f"{r['errors']} | {'-' if r['per_call'] is None else format(r['per_call'], '.2f')} | "
                     f"{'-' if r.get('cached') is None else format(r['cached'], '.0%')} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, help="an ml-100k SASRec run (trained here when absent)")
    parser.add_argument("--data-dir", default=os.environ.get("LMREC_DATA_DIR", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--train-epochs", type=int, default=30)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-requests", type=int, default=2000, help="requests of each --also run")
    parser.add_argument("--also", type=lambda v: [int(c) for c in v.split(",") if c], default=[1, 8],
                        help="extra (lower) concurrencies to run first, comma-separated")
    parser.add_argument("--no-coalesce-run", action="store_true",
                        help="also serve the ml-100k run with --coalesce 1 (one model call per request)")
    parser.add_argument("--no-user-cache-run", action="store_true",
                        help="also serve every run with --user-cache 0 (each request runs the net)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--synthetic-items", type=int, default=100_000, help="0 skips the synthetic catalogue")
    parser.add_argument("--synthetic-users", type=int, default=25_000)
    parser.add_argument("--compare-exact", action="store_true", help="also serve the synthetic run without FAISS")
    parser.add_argument("--synthetic-index", default="flat", choices=("flat", "hnsw", "ivf"),
                        help="the FAISS index of the synthetic run (lmrec serve --faiss-index)")
    parser.add_argument("--profile-reps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve_load.md")
    args = parser.parse_args()

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lmrec-serve-load-"))
    scenarios: list[tuple[str, Path, list[str]]] = []
    run = args.run_dir or train_ml100k(work, args.data_dir, args.train_epochs)
    scenarios.append(("ml-100k sasrec", run, []))
    if args.no_coalesce_run:
        scenarios.append(("ml-100k sasrec", run, ["--coalesce", "1"]))
    if args.synthetic_items:
        synthetic = synthetic_run(work, args.synthetic_items, args.synthetic_users, 20)
        name = f"synthetic {args.synthetic_items // 1000}k items, sasrec dim 32"
        scenarios.append((name, synthetic, ["--faiss-index", args.synthetic_index]))
        if args.compare_exact:
            scenarios.append((name, synthetic, ["--faiss-min-items", str(10**9)]))  # exact scoring
    if args.no_user_cache_run:
        scenarios += [(name, source, [*extra, "--user-cache", "0"]) for name, source, extra in list(scenarios)]

    rows, profiles = [], []
    for name, source, extra in scenarios:
        served = Path(shutil.copytree(source, work / f"served-{len(rows)}"))  # the server writes events.sqlite
        bodies = request_bodies(served, 5000, args.k)
        port = free_port()
        server = start_server(served, port, extra)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
                health = json.loads(response.read())
            load(port, bodies, 1000, args.concurrency)  # warm-up (every batch shape once)
            plan = [(c, args.latency_requests) for c in args.also if args.latency_requests]
            for concurrency, n in [*plan, (args.concurrency, args.requests)]:
                before = score_counters(port)
                result = load(port, bodies, n, concurrency)
                after = score_counters(port)
                per_call = (after[1] - before[1]) / (after[0] - before[0]) if after[0] > before[0] else None
                looked = (after[2] - before[2]) + (after[3] - before[3])
                label = name + "".join(f" ({flag} {extra[extra.index(flag) + 1]})"
                                       for flag in ("--coalesce", "--user-cache") if flag in extra)
                rows.append({"name": label, "retrieval": health.get("retrieval", "?"), "per_call": per_call,
                             "cached": (after[2] - before[2]) / looked if looked else None, **result.row()})
                print(table(rows[-1:])[-1], flush=True)
        finally:
            stop_server(server)
        if "--coalesce" not in extra and "--user-cache" not in extra:  # the profile scores one request at a time
            faiss_min = 10**9 if "--faiss-min-items" in extra else None
            index = extra[extra.index("--faiss-index") + 1] if "--faiss-index" in extra else "flat"
            profiles.append((name, health.get("retrieval", "?"),
                             profile(served, bodies, args.profile_reps, faiss_min, index)))
    load_after = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    write_report(args, rows, profiles, load_before, load_after)


def write_report(args, rows, profiles, load_before, load_after) -> None:
    command = "OMP_NUM_THREADS=1 .venv/bin/python bench/serve_load.py " + " ".join(sys.argv[1:])
    lines = ["# `lmrec serve` under load", "",
             f"Command: `{command}`  ", f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
             f"Machine: {os.cpu_count()} cores ({cpu_name()}); load average before "
             f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
             f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}  ",
             "Server: `lmrec serve RUN --no-access-log` (uvicorn, 1 worker, torch 1 thread); client: asyncio "
             "HTTP/1.1 keep-alive, one connection per concurrent slot, on the same machine.  ",
             f"Requests: POST /recommend {{user_id, k={args.k}}} for random known users (stored history); the "
             "server keeps user states between requests (`--user-cache`, on by default; the last column is the "
             "share of requests it answered from it; rows marked `--user-cache 0` run the net for every request).  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), "", *table(rows), "",
             "## Where the time goes (one request, in-process, median µs)", "",
             "With the user-state cache off (`user_cache=0`), so the model column is the net's own cost.", "",
             "| catalogue | retrieval | parse+validate | history | model (score+top-k) | response JSON | "
             "whole ASGI app | framework = app − stages |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, retrieval, p in profiles:
        stages = p["validate"] + p["history"] + p["model"] + p["respond"]
        lines.append(f"| {name} | {retrieval} | {p['validate']:.0f} | {p['history']:.0f} | {p['model']:.0f} | "
                     f"{p['respond']:.0f} | {p['asgi_total']:.0f} | {p['asgi_total'] - stages:.0f} |")
    lines.append("")
    write_keeping_notes(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
