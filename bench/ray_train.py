"""Data-parallel SASRec on Ray Train against the single-process fit, on ml-100k (default SASRec config, the same
split): test NDCG@10 with its bootstrap CI, wall time, and each worker's training throughput; then the same
2-worker fit on a Ray cluster of two local nodes (`ray start --head` + `ray start --address`, one CPU each, so the
two workers land on different nodes), as a 2-machine cluster would run it. Writes bench/results/ray_train.md.

    LMREC_DATA_DIR=../shared/data .venv/bin/python bench/ray_train.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def lmrec(*args: str, env: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "lmrec"), *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"lmrec {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started, done.stdout


def evaluate(run: Path) -> dict:
    from lmrec.pipeline import load_run
    from lmrec.pipeline.evaluate import evaluate_loaded

    test = evaluate_loaded(load_run(run), test_only=True).results["test"]
    return {"ndcg@10": test.metrics["ndcg@10"], "ci": list(test.ci["ndcg@10"]),
            "recall@10": test.metrics["recall@10"], "per_user": test.per_user["ndcg@10"]}


def fit(label: str, run: Path, data_args: list[str], extra: list[str], env: dict | None = None) -> dict:
    wall, output = lmrec("fit", *data_args, "-m", "sasrec", "-o", str(run), *extra, env=env)
    meta = json.loads((run / "meta.json").read_text())
    epochs = meta["fit_log"]["epochs"]
    row = {"label": label, "wall_s": wall, "fit_s": meta["fit_seconds"], "epochs": len(epochs),
           "best_epoch": meta["fit_log"]["best_epoch"],
           "train_s": sum(e["seconds"] - e.get("valid_seconds", 0.0) for e in epochs),
           "workers": meta.get("distributed", {}).get("per_worker", []), **evaluate(run)}
    print(f"{label}: NDCG@10 {row['ndcg@10']:.4f} {row['ci']} in {wall:.0f}s ({row['epochs']} epochs)", flush=True)
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_node_cluster(work: Path) -> tuple[str, dict]:
    """A head node and a second node on this machine, one CPU each; returns (address, env for clients)."""
    port = free_port()
    # nodes join with the cluster's token (~/.ray/auth_token, made here if missing), as on real machines
    env = {**os.environ, "RAY_DEDUP_LOGS": "1", "RAY_AUTH_MODE": "token"}
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], check=True, capture_output=True, env=env)
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    subprocess.run([str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=1",
                    "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
                   check=True, capture_output=True, env=env)
    address = f"127.0.0.1:{port}"
    subprocess.run([str(BIN / "ray"), "start", f"--address={address}", "--num-cpus=1", "--disable-usage-stats"],
                   check=True, capture_output=True, env=env)
    return address, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ray_train.md")
    parser.add_argument("--skip-two-nodes", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lmrec-ray-train-"))
    data = ["-d", args.dataset]
    rows = [fit("single process, 2 threads", work / "single", data, ["--set", "model.train.threads=2"]),
            fit("Ray Train, 2 workers x 1 thread (local instance)", work / "ray2", data, ["--workers", "2"])]
    nodes = None
    if not args.skip_two_nodes:
        address, env = two_node_cluster(work)
        try:
            for _ in range(30):  # the second node registers a few seconds after `ray start` returns
                status = subprocess.run([str(BIN / "ray"), "status", f"--address={address}"], capture_output=True,
                                        text=True, env=env).stdout
                nodes = status.split("Pending:")[0].count("node_")
                if nodes >= 2:
                    break
                time.sleep(1)
            rows.append(fit("Ray Train, 2 workers on 2 Ray nodes (ray start x2)", work / "nodes2", data,
                            ["--workers", "2", "--ray-address", address], env=env))
        finally:
            subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, env=env)
    write_report(args, rows, nodes, load_before)
    shutil.rmtree(work, ignore_errors=True)


def write_report(args, rows: list[dict], nodes: int | None, load_before) -> None:  # noqa: ANN001
    from scipy import stats

    base = rows[0]
    load_after = os.getloadavg()
    lines = ["# Data-parallel training on Ray Train", "",
             "Command: `LMREC_DATA_DIR=../shared/data .venv/bin/python bench/ray_train.py "
             f"{' '.join(sys.argv[1:])}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; load average "
             f"before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
             f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}  ",
             f"Data: {args.dataset}, lmrec's default split and SASRec config (early stopping on validation "
             "NDCG@10); test NDCG@10 over every user, full ranking, history masked, 95% bootstrap CI; the paired "
             "t-test is against the single-process run over the same users. Each Ray worker trains on its half of "
             "every batch with averaged gradients (the same batches and steps as one process); worker 0 "
             "validates for all." + (f" `ray status` listed {nodes} active nodes before the two-node fit." if nodes else
                                     ""), "",
             "| run | test NDCG@10 | 95% CI | paired p vs single | recall@10 | epochs (best) | training s | wall s "
             "(incl. start-up) | examples/s per worker |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        p = "-" if row is base else f"{stats.ttest_rel(row['per_user'], base['per_user']).pvalue:.2f}"
        inside = "" if row is base else (" (inside)" if base["ci"][0] <= row["ndcg@10"] <= base["ci"][1]
                                          else " (OUTSIDE)")
        speeds = ", ".join(f"{w['examples_per_second']:.0f}" for w in row["workers"]) or "-"
        lines.append(f"| {row['label']} | {row['ndcg@10']:.4f}{inside} | [{row['ci'][0]:.4f}, {row['ci'][1]:.4f}] "
                     f"| {p} | {row['recall@10']:.4f} | {row['epochs']} ({row['best_epoch']}) | {row['train_s']:.0f} "
                     f"| {row['wall_s']:.0f} | {speeds} |")
    lines.append("")
    write_keeping_notes(args.out, "\n".join(lines))
    json_rows = [{k: v for k, v in r.items() if k != "per_user"} for r in rows]
    args.out.with_suffix(".json").write_text(json.dumps({"rows": json_rows, "command": sys.argv,
                                                         "mean_per_user": [float(np.mean(r["per_user"]))
                                                                           for r in rows]}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
