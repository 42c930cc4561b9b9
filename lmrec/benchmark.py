"""`lmrec benchmark`: fit and evaluate several models on one split, each in its own process (so peak memory is
its own), and write results.md + results.json + PNG plots, with peer figures beside ours where they exist."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lmrec.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class BenchmarkSpec:
    models: tuple[str, ...]
    dataset: str | None = None
    interactions: str | None = None
    items: str | None = None
    data_dir: str | None = None
    overrides: tuple[str, ...] = ()
    seed: int = 0
    ks: tuple[int, ...] = (10, 20)
    threads: int | None = None
    command: str = ""
    baseline: str | None = None  # paired test of every other model against this one (per-user NDCG@k)


def run_benchmark(spec: BenchmarkSpec, out: str | Path, *, log: Callable[[str], None] = print) -> str:
    """Run every model of the spec; returns the markdown report (also written to out/results.md)."""
    from lmrec.config import parse_overrides
    from lmrec.models.registry import get_model_class
    from lmrec.run import build_config

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if spec.baseline and spec.baseline not in spec.models:
        from lmrec.errors import ConfigError

        raise ConfigError(f"--baseline {spec.baseline!r} is not one of --models {','.join(spec.models)}")
    for name in spec.models:  # fail fast on a bad model name or config before spending minutes training
        get_model_class(name)
        build_config(None, _overrides(spec, name, parse_overrides(list(spec.overrides))))
    rows: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    for name in spec.models:
        log(f"[{time.strftime('%H:%M:%S')}] {name}: fit + evaluate")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            row = pool.submit(_fit_and_evaluate, spec, name, str(out / "runs" / name)).result()
        test = row["metrics"]["test"]
        log(f"    ndcg@10={test.get('ndcg@10', float('nan')):.4f} hr@10={test.get('hr@10', float('nan')):.4f} "
            f"fit {row['fit_seconds']:.1f}s, peak RSS {row['peak_rss_mib']:.0f} MiB")
        rows.append(row)
    if spec.baseline:
        add_paired_tests(rows, spec.baseline, f"ndcg@{min(spec.ks)}")
    peers = recbole_peers(rows[0]["meta"]) if rows else {}
    from lmrec.eval.report import benchmark_markdown

    report = benchmark_markdown(spec, rows, peers)
    atomic_write_text(out / "results.md", report)
    atomic_write_json(out / "results.json", {"spec": asdict(spec), "rows": rows, "peers": peers})
    from lmrec.eval.report import plot_benchmark

    plot_benchmark(rows, peers, out, k=min(spec.ks))
    return report


def add_paired_tests(rows: list[dict[str, Any]], baseline: str, metric: str) -> None:
    """Attach `paired` (paired t-test on per-user `metric` against the baseline run) to every other row."""
    from lmrec.run import compare_runs

    reference = next((row for row in rows if row["model"] == baseline), None)
    if reference is None:
        return
    for row in rows:
        if row is not reference:
            row["paired"] = compare_runs(reference["run_dir"], row["run_dir"], metric=metric)


def _overrides(spec: BenchmarkSpec, name: str, extra: dict[str, Any]) -> dict[str, Any]:
    from lmrec.config import merge

    data = {k: v for k, v in (("dataset", spec.dataset), ("interactions", spec.interactions),
                              ("items", spec.items), ("data_dir", spec.data_dir)) if v}
    base = {"data": data, "model": {"name": name}, "seed": spec.seed, "eval": {"ks": list(spec.ks)}}
    model_extra = {k: v for k, v in extra.items() if k != "model"}
    merged = merge(base, model_extra)
    # `--set model.x=...` applies only to models whose config has that key; `--set <name>.x=...` to one model
    from dataclasses import fields

    from lmrec.models.registry import get_model_class

    valid = {f.name for f in fields(get_model_class(name).Config)}
    shared = {k: v for k, v in (extra.get("model") or {}).items() if k in valid}
    specific = extra.get(name) or {}
    merged["model"] = {**merged["model"], **shared, **specific}
    merged.pop(name, None)
    for other in spec.models:
        merged.pop(other, None)
    return merged


def _fit_and_evaluate(spec: BenchmarkSpec, name: str, run_dir: str) -> dict[str, Any]:
    """Runs in a fresh process: its peak RSS is this model's own."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    from lmrec.config import parse_overrides
    from lmrec.run import build_config, evaluate_run, fit_run, load_run, peak_rss_mib

    config = build_config(None, _overrides(spec, name, parse_overrides(list(spec.overrides))))
    meta = fit_run(config, run_dir)
    fit_rss = peak_rss_mib()
    metrics = evaluate_run(load_run(run_dir), ks=spec.ks)
    return {"model": name, "run_dir": run_dir, "fit_seconds": meta["fit_seconds"], "peak_rss_mib": fit_rss,
            "peak_rss_mib_with_eval": peak_rss_mib(), "meta": meta, "metrics": metrics,
            "eval_seconds": metrics["test"].get("seconds")}


def recbole_peers(meta: dict[str, Any]) -> dict[str, Any]:
    """RecBole figures measured on this machine under the same protocol, when the run's data is theirs."""
    anchors = Path(os.environ.get("LMREC_ANCHORS", Path.cwd().parent / "shared" / "anchors")) / "recbole"
    stats = meta.get("dataset", {})
    same_data = (stats.get("users"), stats.get("items"), stats.get("interactions")) == (943, 1682, 100000)
    if not (anchors / "results").is_dir() or not same_data or meta.get("split", {}).get("method") != "leave_last_out":
        return {}
    peers = {}
    for path in sorted((anchors / "results").glob("*.json")):
        if path.stem.startswith("timing_"):
            continue
        record = json.loads(path.read_text())
        masked = record.get("test_own_history_masked") or {}
        peers[path.stem] = {
            "ndcg@10": masked.get("ndcg@10"), "hr@10": masked.get("hit@10"), "mrr@10": masked.get("mrr@10"),
            "ndcg@20": masked.get("ndcg@20"), "hr@20": masked.get("hit@20"),
            "fit_seconds": record.get("time_fit_total_s"), "peak_rss_mib": record.get("peak_rss_mb_getrusage"),
            "epochs_run": record.get("epochs_run"), "budget_hit": record.get("budget_hit"),
        }
    return {"source": os.path.relpath(anchors / "RESULTS.md"), "models": peers}

