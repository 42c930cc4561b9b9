"""`lmrec benchmark`: fit and evaluate several models on one split, each in its own fresh process (so peak memory
is its own), `jobs` of them at a time, and write results.md + results.json + PNG plots, with peer figures beside
ours where they exist."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lmrec.io import atomic_write_json, atomic_write_text
from lmrec.train.progress import Reporter


def model_of(row: str) -> tuple[str, str]:
    """(label, registered model) of a --models entry: `sasrec` or `LABEL=MODEL` (a variant with its own row,
    run folder and `--set LABEL.key=value` overrides, e.g. `gate=sasrec-fused --set gate.fusion=gate`)."""
    label, _, model = row.partition("=")
    return (label.strip(), model.strip()) if model else (row.strip(), row.strip())


@dataclass(frozen=True)
class BenchmarkSpec:
    models: tuple[str, ...]  # registered names or LABEL=MODEL variants
    dataset: str | None = None
    interactions: str | None = None
    items: str | None = None
    data_dir: str | None = None
    overrides: tuple[str, ...] = ()
    seed: int = 0
    ks: tuple[int, ...] = (10, 20)
    threads: int | None = None  # torch threads per model process (default: the cores shared out among the jobs)
    command: str = ""
    baseline: str | None = None  # paired test of every other model against this one (per-user NDCG@k)
    jobs: int = 1  # model processes at a time
    device: str = "auto"
    peers: tuple[str, ...] = ()  # peer libraries trained on the same split in the same run (lmrec.pipeline.peers)
    peer_max_epochs: int = 100
    reuse: bool = False  # keep a model's evaluated run folder when its saved config is the one this spec builds
    tensorboard: str | None = None  # training curves of each model under <tensorboard>/<label>

    @property
    def runs(self) -> tuple[str, ...]:
        """Every row of the table: lmrec's models, then the peers."""
        return self.labels + self.peers

    @property
    def labels(self) -> tuple[str, ...]:
        """lmrec's rows by label (a variant's LABEL, otherwise the model name)."""
        return tuple(model_of(m)[0] for m in self.models)

    def threads_per_job(self) -> int | None:
        if self.threads or self.jobs <= 1:
            return self.threads
        return max(1, (os.cpu_count() or 1) // self.jobs)


def run_benchmark(spec: BenchmarkSpec, out: str | Path, *, log: Callable[[str], None] = print,
                  progress: Reporter | None = None) -> str:
    """Run every model of the spec; returns the markdown report (also written to out/results.md). `progress`
    (picklable: it is sent to each model's process) gets every model's training epochs."""
    from lmrec.config import parse_overrides
    from lmrec.models.registry import get_model
    from lmrec.pipeline.config import build_config

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from lmrec.errors import ConfigError

    if spec.baseline and spec.baseline not in spec.runs:
        raise ConfigError(f"--baseline {spec.baseline!r} is not one of --models {','.join(spec.models)}")
    if len(set(spec.runs)) != len(spec.runs):
        raise ConfigError(f"--models/--peers name a row twice: {','.join(spec.runs)}")
    for entry in spec.models:  # fail fast on a bad model name or config before spending minutes training
        label, name = model_of(entry)
        get_model(name)
        build_config(None, _overrides(spec, entry, parse_overrides(list(spec.overrides))))
    if spec.peers:
        from lmrec.pipeline.peers import get_peer, peers_python

        for name in spec.peers:
            get_peer(name)
        peers_python()
    context = multiprocessing.get_context("spawn")
    machine = {"cores": os.cpu_count(), "load_before": _load_average()}
    done: dict[str, dict[str, Any]] = {}
    for entry in spec.models if spec.reuse else ():
        label = model_of(entry)[0]
        row = _reusable_row(spec, entry, out / "runs" / label)
        if row is not None:
            log(f"[{time.strftime('%H:%M:%S')}] {label}: reused (same config, evaluated)")
            done[label] = row
    with ProcessPoolExecutor(max_workers=max(1, spec.jobs), mp_context=context, max_tasks_per_child=1) as pool:
        futures = {}
        for entry in list(spec.peers) + _longest_first(spec.models):  # quick models fill the other lanes meanwhile
            label = model_of(entry)[0]
            if label in done:
                continue
            log(f"[{time.strftime('%H:%M:%S')}] {label}: fit + evaluate")
            futures[pool.submit(_fit_and_evaluate, spec, entry, str(out / "runs" / label), progress)] = label
        for future in as_completed(futures):
            row = future.result()
            test = row["metrics"]["test"]
            log(f"[{time.strftime('%H:%M:%S')}] {row['model']}: ndcg@10={test.get('ndcg@10', float('nan')):.4f} "
                f"hr@10={test.get('hr@10', float('nan')):.4f} fit {row['fit_seconds']:.1f}s, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB")
            done[row["model"]] = row
    rows = [done[name] for name in spec.runs]
    machine["load_after"] = _load_average()
    if spec.baseline:
        add_paired_tests(rows, spec.baseline, f"ndcg@{min(spec.ks)}")
    peers = recbole_peers(rows[0]["meta"]) if rows else {}
    from lmrec.eval.report import benchmark_markdown

    report = benchmark_markdown(spec, rows, peers, machine)
    atomic_write_text(out / "results.md", report)
    atomic_write_json(out / "results.json", {"spec": asdict(spec), "machine": machine, "rows": rows, "peers": peers})
    from lmrec.eval.report import plot_benchmark

    plot_benchmark(rows, peers, out, k=min(spec.ks))
    return report


def _load_average() -> str:
    """'1.23 / 1.10 / 0.90' (1, 5, 15 minutes): timings on shared cores mean little without it."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _longest_first(names: tuple[str, ...]) -> list[str]:
    """Sequence models (minutes) first, then the other trained models, then the closed-form ones (seconds); the
    given order within each."""
    from lmrec.models.registry import get_model
    from lmrec.models.torch_base import TorchRecommender

    def cost(entry: str) -> int:
        cls = get_model(model_of(entry)[1]).cls
        return 0 if cls.sequential else 1 if issubclass(cls, TorchRecommender) else 2

    return sorted(names, key=cost)


def add_paired_tests(rows: list[dict[str, Any]], baseline: str, metric: str) -> None:
    """Attach `paired` (paired t-test on per-user `metric` against the baseline run) to every other row."""
    from lmrec.pipeline.compare import compare_runs

    reference = next((row for row in rows if row["model"] == baseline), None)
    if reference is None:
        return
    for row in rows:
        if row is not reference:
            row["paired"] = compare_runs(reference["run_dir"], row["run_dir"], metric=metric)


def _overrides(spec: BenchmarkSpec, entry: str, extra: dict[str, Any]) -> dict[str, Any]:
    from lmrec.config import merge
    from lmrec.pipeline.config import model_overrides

    label, name = model_of(entry)
    data = {k: v for k, v in (("dataset", spec.dataset), ("interactions", spec.interactions),
                              ("items", spec.items), ("data_dir", spec.data_dir)) if v}
    base = {"data": data, "seed": spec.seed, "eval": {"ks": list(spec.ks)}}
    return merge(base, model_overrides(name, extra, spec.labels + tuple(model_of(m)[1] for m in spec.models),
                                       label=label))


def _fit_and_evaluate(spec: BenchmarkSpec, entry: str, run_dir: str, progress: Reporter | None) -> dict[str, Any]:
    """Runs in a fresh process: its peak RSS is this model's own."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = spec.threads_per_job()
    if threads:
        import torch

        torch.set_num_threads(threads)
    from lmrec.config import parse_overrides
    from lmrec.pipeline.config import build_config
    from lmrec.pipeline.evaluate import evaluate_run
    from lmrec.pipeline.fit import fit_run
    from lmrec.pipeline.load import load_run
    from lmrec.provenance import peak_rss_mib

    if entry in spec.peers:
        from lmrec.pipeline.peers import run_peer

        base = spec.models[0] if spec.models else "pop"  # the split and data config every model gets
        config = build_config(None, _overrides(spec, base, parse_overrides(list(spec.overrides))))
        return run_peer(entry, config, run_dir, threads=threads, jobs=spec.jobs, ks=spec.ks,
                        max_epochs=spec.peer_max_epochs)
    config = build_config(None, _overrides(spec, entry, parse_overrides(list(spec.overrides))))
    curves = str(Path(spec.tensorboard) / model_of(entry)[0]) if spec.tensorboard else None
    meta = fit_run(config, run_dir, progress=progress, device=spec.device, tensorboard=curves)
    fit_rss = peak_rss_mib()
    metrics = evaluate_run(load_run(run_dir, device=spec.device), ks=spec.ks)
    return {"model": model_of(entry)[0], "run_dir": run_dir, "fit_seconds": meta["fit_seconds"],
            "peak_rss_mib": fit_rss, "threads": threads, "jobs": spec.jobs,
            "peak_rss_mib_with_eval": peak_rss_mib(), "meta": meta, "metrics": metrics,
            "eval_seconds": metrics["test"].get("seconds")}


def _reusable_row(spec: BenchmarkSpec, entry: str, run_dir: Path) -> dict[str, Any] | None:
    """The table row of an evaluated run folder whose config.yaml is exactly what `entry` gets now, else None
    (timings and memory as that run recorded them; RSS with evaluation was not kept)."""
    import yaml

    from lmrec.config import parse_overrides, read_yaml
    from lmrec.errors import LmrecError
    from lmrec.pipeline.config import build_config, config_to_dict

    try:
        saved = read_yaml(run_dir / "config.yaml")
        meta = json.loads((run_dir / "meta.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError, LmrecError):
        return None
    wanted = build_config(None, _overrides(spec, entry, parse_overrides(list(spec.overrides))))
    if yaml.safe_load(yaml.safe_dump(config_to_dict(wanted))) != saved or not (run_dir / "per_user.csv").is_file():
        return None
    return {"model": model_of(entry)[0], "run_dir": str(run_dir), "fit_seconds": meta["fit_seconds"],
            "peak_rss_mib": meta.get("peak_rss_mib"), "threads": None, "jobs": None, "peak_rss_mib_with_eval": None,
            "meta": meta, "metrics": metrics, "eval_seconds": metrics["test"].get("seconds"), "reused": True}


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

