"""How time and memory grow with the interaction log: `lmrec synth` logs of 1M, 5M and 10M events (users = events /
50, a fixed 20,000-item catalogue, so one user's cost stays the same and the log grows by users and events), and on
each, as its own process so that each peak RSS is that step's: ingestion (read the Parquet log and the catalogue,
prepare, leave-one-out split), one training epoch of SASRec with sampled softmax (`lmrec fit`, 1 epoch; the
epoch's validation pass is timed apart) and full evaluation of the test holdout (every user ranked against every
item, history masked). Fits log(time) and log(peak RSS) against log(events): the growth exponents. Writes
bench/results/scale/results.md + results.json.

    OMP_NUM_THREADS=2 .venv/bin/python bench/scale.py --events 1000000 5000000 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report_file import write_keeping_notes  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
LMREC = [sys.executable, "-m", "lmrec.cli"]
ITEMS = 20_000
MODEL = {"name": "sasrec", "loss": "sampled", "negatives": 1024, "dropout": 0.1, "train": {"epochs": 1, "threads": 2}}


def measured(command: list[str]) -> tuple[float, dict]:
    """(wall seconds, the JSON line a child step prints last) of a child process."""
    started = time.perf_counter()
    child = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"})
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}):\n{child.stderr[-3000:]}")
    return time.perf_counter() - started, json.loads(child.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- child steps (each its own process) -------------------------------------------------------------------------
def child_idle() -> dict:
    """What every step pays before touching data: python, torch, lmrec's pipeline imported."""
    import torch  # noqa: F401

    import lmrec.pipeline  # noqa: F401

    return {}


def child_synth(events: int, out: Path) -> dict:
    from lmrec.data.synth import SynthConfig, write_synth

    started = time.perf_counter()
    write_synth(SynthConfig(events=events, items=ITEMS), out)
    return {"seconds": time.perf_counter() - started}


def child_ingest(data: Path) -> dict:
    from lmrec.data.config import load_data
    from lmrec.data.split import make_split

    config = data_config(data)
    started = time.perf_counter()
    dataset = load_data(config.data, config.prepare)
    loaded = time.perf_counter()
    split = make_split(dataset, config.split)
    return {"seconds": time.perf_counter() - started, "load_seconds": loaded - started,
            "split_seconds": time.perf_counter() - loaded, "interactions": len(dataset.interactions),
            "users": len(dataset.users), "items": len(dataset.items), "train": len(split.train)}


def child_fit(data: Path, run: Path) -> dict:
    """`lmrec fit` in this process (what the CLI runs): ingestion, one epoch and its validation, saving."""
    from lmrec.pipeline import fit_run

    config = data_config(data)
    started = time.perf_counter()
    meta = fit_run(config, run, device="cpu")
    epoch = meta["fit_log"]["epochs"][0]
    return {"seconds": time.perf_counter() - started, "epoch_s": epoch["seconds"] - epoch["valid_seconds"],
            "valid_s": epoch["valid_seconds"], "examples": epoch["examples"]}


def child_evaluate(run: Path) -> dict:
    from lmrec.pipeline import load_run
    from lmrec.pipeline.evaluate import evaluate_loaded

    started = time.perf_counter()
    loaded = load_run(run)
    load_seconds = time.perf_counter() - started
    evaluation = evaluate_loaded(loaded, test_only=True)
    test = evaluation.results["test"]
    return {"seconds": evaluation.seconds["test"], "load_seconds": load_seconds, "users": int(test.n_users),
            "ndcg@10": float(test.metrics["ndcg@10"])}


def data_config(data: Path):  # noqa: ANN201 - a RunConfig
    from lmrec.pipeline import build_config

    return build_config(None, {"data": {"interactions": str(data / "interactions.parquet"),
                                        "items": str(data / "items.csv")}, "model": MODEL})


# -- the driver ------------------------------------------------------------------------------------------------
def step(name: str, *args: object) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS MiB, result) of one child step."""
    wall, result = measured([sys.executable, __file__, "--child", name, *map(str, args)])
    return wall, result.pop("peak_rss_mib"), result


def exponent(events: list[int], values: list[float]) -> float:
    """The slope of log(value) on log(events), least squares."""
    return float(np.polyfit(np.log(events), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help="keep the logs and runs here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale")
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        steps = {"idle": child_idle, "synth": lambda: child_synth(int(rest[0]), Path(rest[1])),
                 "ingest": lambda: child_ingest(Path(rest[0])), "fit": lambda: child_fit(Path(rest[0]), Path(rest[1])),
                 "evaluate": lambda: child_evaluate(Path(rest[0]))}
        result = steps[name]()
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return

    load_before = os.getloadavg()
    work = args.work or Path(tempfile.mkdtemp(prefix="lmrec-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    _, idle_rss, _ = step("idle")
    rows = []
    for events in args.events:
        data, run = work / f"synth-{events}", work / f"run-{events}"
        shutil.rmtree(run, ignore_errors=True)
        _, synth_rss, synth = step("synth", events, data)
        _, ingest_rss, ingest = step("ingest", data)
        _, fit_rss, fit = step("fit", data, run)
        _, eval_rss, evaluated = step("evaluate", run)
        row = {"events": events, "users": ingest["users"], "items": ingest["items"],
               "interactions": ingest["interactions"], "synth_s": synth["seconds"], "synth_rss": synth_rss,
               "ingest_s": ingest["seconds"], "ingest_rss": ingest_rss,
               "epoch_s": fit["epoch_s"], "epoch_examples": fit["examples"],
               "valid_s": fit["valid_s"], "fit_s": fit["seconds"], "fit_rss": fit_rss,
               "eval_s": evaluated["seconds"], "eval_users": evaluated["users"], "eval_rss": eval_rss,
               "ndcg@10": evaluated["ndcg@10"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.work:
            shutil.rmtree(run, ignore_errors=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    write_report(args, rows, idle_rss, load_before)


STEPS = [("ingestion", "ingest_s", "ingest_rss"), ("one training epoch", "epoch_s", "fit_rss"),
         ("full evaluation (test)", "eval_s", "eval_rss")]


def write_report(args: argparse.Namespace, rows: list[dict], idle_rss: float, load_before: tuple) -> None:
    from lmrec.provenance import environment

    events = [r["events"] for r in rows]
    exponents = {}
    for label, time_key, rss_key in STEPS:
        exponents[label] = {"time": exponent(events, [r[time_key] for r in rows]),
                            "rss": exponent(events, [r[rss_key] for r in rows]),
                            "rss_above_idle": exponent(events, [max(r[rss_key] - idle_rss, 1.0) for r in rows])}
    load_after = os.getloadavg()
    lines = ["# Scale: time and peak memory against the size of the log", "",
             f"Command: `OMP_NUM_THREADS=2 .venv/bin/python bench/scale.py {' '.join(sys.argv[1:])}`  ",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; load average "
             f"before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
             f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}  ",
             f"Data: `lmrec synth --events N --items {ITEMS}` (users = N / 50; Zipf popularity per topic, sessions, "
             "drift); `prepare` keeps a user's first event per item, so interactions < events. Each step is its own "
             "process; peak RSS is that process's own (getrusage, reported by the step); an idle process with "
             f"python + torch + lmrec imported peaks at {idle_rss:.0f} MiB.  ",
             "Model: SASRec (dim 64, 2 layers, max_len 50), sampled softmax with 1024 shared negatives, batch 128, "
             "2 threads; what `lmrec fit` runs (fit_run: ingestion, 1 epoch, its validation pass timed apart, saving). "
             "Evaluation: load the run, rank every test user over every item.", "",
             "| events | users | interactions | ingestion s | ingestion peak MiB | epoch s (train) | validation s | "
             "fit peak MiB | evaluation s | evaluated users | evaluation peak MiB | test NDCG@10 |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['events']:,} | {r['users']:,} | {r['interactions']:,} | {r['ingest_s']:.1f} | "
                     f"{r['ingest_rss']:.0f} | {r['epoch_s']:.1f} | {r['valid_s']:.1f} | {r['fit_rss']:.0f} | "
                     f"{r['eval_s']:.1f} | {r['eval_users']:,} | {r['eval_rss']:.0f} | {r['ndcg@10']:.4f} |")
    lines += ["", "Growth exponents (slope of log value on log events, least squares over the sizes above):", "",
              "| step | time | peak RSS | peak RSS above the idle process |", "|---|---:|---:|---:|"]
    for label, found in exponents.items():
        lines.append(f"| {label} | {found['time']:.2f} | {found['rss']:.2f} | {found['rss_above_idle']:.2f} |")
    lines.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    write_keeping_notes(args.out / "results.md", "\n".join(lines))
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "idle_rss_mib": idle_rss,
                                                       "exponents": exponents, "command": sys.argv,
                                                       "model": MODEL, "items": ITEMS,
                                                       "environment": environment()}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
