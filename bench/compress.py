"""Pruned, int8 and ONNX Runtime versions of a sequence model: weights size, nonzero parameters, scoring latency
and test NDCG@10 beside the float32 model they came from.

Fits sasrec on ml-100k (or takes `--run`), writes each `lmrec quantize` version next to it (lmrec.pipeline.
compress_run, as the CLI does), loads every run as `lmrec evaluate` does and measures `model.score` for one
history and for 256 (test-holdout inputs: the same histories for every version), in alternating rounds, median
of the rounds; NDCG@10 and its 95% CI are lmrec's own evaluation (evaluate_loaded: full ranking, seen items
masked), with a paired t-test against float32. Torch threads (and ONNX Runtime's) are fixed by --threads.

    LMREC_DATA_DIR=../shared/data OMP_NUM_THREADS=1 .venv/bin/python bench/compress.py --threads 1
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lmrec.config import parse_overrides  # noqa: E402
from lmrec.data.types import Histories  # noqa: E402
from lmrec.eval.stats import paired_test  # noqa: E402
from lmrec.models.sequence.compress import net_bytes, parameter_counts  # noqa: E402
from lmrec.pipeline import LoadedRun, RunDir, build_config, evaluate_loaded, fit_run, load_run  # noqa: E402
from lmrec.pipeline.compress import compress_run  # noqa: E402
from lmrec.provenance import environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("prune:0.5", "int8", "onnx", "prune:0.5,int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an existing sequence-model run (default: fit --model)")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--set", dest="set_", action="append", default=[], help="fit override, e.g. "
                        "model.train.epochs=3")
    parser.add_argument("--methods", default=" ".join(METHODS), help="space-separated `lmrec quantize` methods")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds (median reported)")
    parser.add_argument("--calls", type=int, default=20, help="single-history calls per round")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-compress",
                        help="new or empty folder for the fitted and compressed runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "compress.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before, started = os.getloadavg(), time.perf_counter()
    if args.work.exists() and any(args.work.iterdir()):
        sys.exit(f"error: {args.work} is not empty; give --work a new or empty folder")
    source = args.run or fit_source(args)
    dirs = {"float32": Path(source)}
    for method in args.methods.split():
        dirs[method] = args.work / method.replace(":", "-").replace(",", "+")
        compress_run(source, dirs[method], method)
        print(f"compressed {method} -> {dirs[method]}", flush=True)
    runs = {label: load_run(path, device="cpu") for label, path in dirs.items()}
    latency = time_scoring(runs, args.rounds, args.calls)
    quality = {label: evaluate_loaded(run, ks=(10,)).test for label, run in runs.items()}
    rows = [row(label, runs[label], latency[label], quality[label], quality["float32"]) for label in runs]
    report = render(args, runs["float32"], rows, load_before, os.getloadavg(), time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}")


def fit_source(args: argparse.Namespace) -> Path:
    """Fit the float32 model into WORK/float32 with the given threads (the CLI's `lmrec fit`)."""
    out = args.work / "float32"
    overrides = parse_overrides([f"model.train.threads={args.threads}", *args.set_])
    config = build_config({"data": {"dataset": args.dataset}, "model": {"name": args.model}}, overrides)
    started = time.perf_counter()
    fit_run(config, out, device="cpu")
    print(f"fitted {args.model} in {time.perf_counter() - started:.0f}s -> {out}", flush=True)
    return out


def time_scoring(runs: dict[str, LoadedRun], rounds: int, calls: int) -> dict[str, dict[str, float]]:
    """ms per `score` call: the first call (builds an int8 / ONNX form), then per round and version `calls`
    single histories and one batch of 256, versions alternating within each round; medians over rounds."""
    test = next(iter(runs.values())).split.test
    singles = [test.inputs.histories(np.array([u])) for u in range(calls)]
    batch = test.inputs.histories(np.arange(min(256, len(test))))
    out: dict[str, dict[str, Any]] = {label: {"one": [], "batch": []} for label in runs}
    for label, run in runs.items():
        start = time.perf_counter()
        with torch.inference_mode():
            run.model.score(singles[0])
        out[label]["first"] = (time.perf_counter() - start) * 1000
    for _ in range(rounds):
        for label, run in runs.items():
            out[label]["one"].append(_ms(run.model, singles))
            out[label]["batch"].append(_ms(run.model, [batch]))
    return {label: {"first": t["first"], "one": float(np.median(t["one"])), "batch": float(np.median(t["batch"]))}
            for label, t in out.items()}


def _ms(model: Any, histories: list[Histories]) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        for h in histories:
            model.score(h)
        return (time.perf_counter() - start) * 1000 / len(histories)


def row(label: str, run: LoadedRun, latency: dict[str, float], result: Any, base: Any) -> dict[str, Any]:
    info = run.meta.get("compression") or {}
    module, form = run.model.module_, run.model.config.inference
    counts = parameter_counts(module)
    weights = (RunDir(run.directory).model / "weights.safetensors").stat().st_size
    test = paired_test(result.per_user["ndcg@10"], base.per_user["ndcg@10"]) if label != "float32" else None
    return {"label": label, "form": form, "weights_bytes": weights, "net_bytes": net_bytes(module, form),
            **counts, **latency, "ndcg": result.metrics["ndcg@10"], "ci": result.ci["ndcg@10"], "paired": test,
            "overlap": (info.get("agreement") or {}).get("top_k_overlap"),
            "sparsity_net": (info.get("pruning") or {}).get("sparsity")}


def render(args: argparse.Namespace, base: LoadedRun, rows: list[dict], before: tuple, after: tuple,
           seconds: float) -> str:
    meta, fit_log = base.meta, base.meta.get("fit_log") or {}
    epochs = len(fit_log.get("epochs") or [])
    versions = environment()["versions"]
    lines = [
        "# Pruning, int8 and ONNX Runtime scoring of a sequence model", "",
        f"Command: `LMREC_DATA_DIR=../shared/data OMP_NUM_THREADS={args.threads} .venv/bin/python bench/compress.py "
        f"{shlex.join(sys.argv[1:])}`", "",
        f"Date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, load average "
        f"{before[0]:.2f} before, {after[0]:.2f} after ({seconds / 60:.1f} min); torch {versions['torch']}, "
        f"onnxruntime {version('onnxruntime')}, onnx {version('onnx')}, lmrec {versions['lmrec']}; "
        f"{args.threads} torch / ONNX Runtime thread(s).", "",
        f"Model: {base.config.model.name} on {meta['dataset']['name']} ({meta['dataset']['users']} users, "
        f"{meta['dataset']['items']} items), split {meta['split']['fingerprint']}, seed {meta['seed']}, "
        f"{epochs} epochs fitted ({fit_log.get('stop_reason', 'n/a')}); dim {base.model.config.dim}, "
        f"{base.model.config.layers} layers, max_len {base.model.config.max_len}.", "",
        "| version | scores as | weights file (bytes) | net as scored (bytes) | parameters (nonzero) | "
        "first call (ms) | ms / 1 history | ms / 256 histories | NDCG@10 [95% CI] | vs float32 (p) | "
        "top-10 kept |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        paired = "" if r["paired"] is None else f"{r['paired']['mean_diff']:+.4f} ({r['paired']['p_value']:.2g})"
        kept = "" if r["overlap"] is None else f"{r['overlap']:.1%}"
        lines.append(
            f"| {r['label']} | {r['form']} | {r['weights_bytes']:,} | {r['net_bytes']:,} | "
            f"{r['nonzero_parameters']:,} of {r['parameters']:,} | {r['first']:.1f} | {r['one']:.2f} | "
            f"{r['batch']:.1f} | {r['ndcg']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] | {paired} | {kept} |")
    lines += ["", "Notes: weights files always hold float32 safetensors (the int8 and ONNX forms are rebuilt from "
              "them at load time; pruned zeros are stored as zeros), so the file does not shrink; \"net as scored\" "
              "counts the sequence net's weights in its scoring form (int8: 1 byte per quantised weight matrix "
              "value, 4 for the rest). The item table (1 float32 vector per item) is never compressed. \"first "
              "call\" includes building the form (quantising, or exporting to ONNX and opening the session). "
              "\"top-10 kept\": the mean share of the float32 model's top 10 the version keeps, on 512 validation "
              "histories. Paired test: t-test on per-user test NDCG@10 against float32.", "",
              "```json", json.dumps({r["label"]: {k: v for k, v in r.items() if k not in ("label",)} for r in rows},
                                    default=float, indent=1), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
