"""Steps more than one verb runs (the deprecated `evaluate --zero-shot` / `--prequential` forms run the new verbs'
steps), and the metrics table `evaluate` and `zero-shot` print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from lmrec.cli.common import ConsoleReporter, out, run_overrides


def print_weights(meta: dict[str, Any]) -> None:
    """The weights a validation search chose, where the fit made one: an ensemble's parts, or a sequence model's
    net and priors (zero-shot)."""
    weights = (meta.get("fit_log") or {}).get("weights")
    if weights:
        valid = (meta["fit_log"].get("search") or {}).get("valid_ndcg@10")
        chosen = ", ".join(f"{name} {weight:.2f}" for name, weight in weights.items())
        out.print(f"weights: {chosen}" + (f" (validation NDCG@10 {valid:.4f})" if valid is not None else ""),
                  soft_wrap=True)


def print_attributes(meta: dict[str, Any]) -> None:
    """Which item and user attributes the model read, and whether the fields were inferred (a person should check
    an inference before trusting the numbers)."""
    fit_log = meta.get("fit_log") or {}
    found = fit_log.get("attributes") or {}
    for side in ("items", "users"):
        entry = found.get(side)
        if isinstance(entry, dict):
            how = "inferred" if entry.get("inferred") else "declared"
            skipped = f"; skipped {', '.join(entry['skipped'])}" if entry.get("skipped") else ""
            out.print(f"{side[:-1]} attributes ({how}{skipped}): {entry['fields']}", soft_wrap=True)
        elif isinstance(entry, str):
            out.print(f"{side[:-1]} attributes: {entry}", soft_wrap=True)
    vectors = found.get("item_vectors")
    if vectors:
        out.print(f"item vectors: {vectors['file']} ({vectors['dim']} wide, {vectors['items_with_vectors']} items)",
                  soft_wrap=True)


def zero_shot_run(pretrained: Path, out_dir: Path, *, set_: list[str] | None, device: str, **data: Any) -> Path:
    """Write a zero-shot RUN_DIR for the target data: the checkpoint with the target's items placed by text."""
    from lmrec.config import merge
    from lmrec.pipeline import build_config, fit_run
    from lmrec.pipeline.transfer import transfer_overrides

    base = merge(transfer_overrides(pretrained, finetune="none"), run_overrides(set_=set_, **data))
    with ConsoleReporter() as progress:
        meta = fit_run(build_config(base, {}), out_dir, progress=progress, device=device)
    print_weights(meta)
    return out_dir


def run_prequential(run_dir: Path, *, k: int, exclude_seen: bool, chunk_days: float, device: str,
                    impressions: bool = False, update: Any = None) -> None:
    from lmrec.io import atomic_write_json
    from lmrec.online.prequential import PrequentialConfig, prequential_run
    from lmrec.pipeline import load_run

    run = load_run(run_dir, device=device)
    config = PrequentialConfig(chunk_days=chunk_days, k=k, exclude_seen=exclude_seen, impressions=impressions)
    results = prequential_run(run, config=config, update=update)
    atomic_write_json(run.run_dir.prequential, results)
    table = Table(title=f"prequential {run.config.model.name}: static vs online, {len(results['static']['chunks'])} "
                        f"chunks of {chunk_days:g} days")
    for column in ("part", "events", "metric", "static", "online", "diff [95% CI]", "p"):
        table.add_column(column)
    for part, entry in results["compare"].items():
        for metric in (f"hr@{k}", f"ndcg@{k}"):
            m = entry[metric]
            lo, hi = m["paired"]["ci"]
            table.add_row(part, str(entry["events"]), metric, f"{m['static']:.4f}", f"{m['online']:.4f}",
                          f"{m['paired']['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]", f"{m['paired']['p_value']:.3g}")
    out.print(table)
    probe = results["online"]["probe"]
    if probe:
        out.print(f"forgetting probe ndcg@{k}: {probe[0][f'ndcg@{k}']:.4f} before updates, "
                  f"{probe[-1][f'ndcg@{k}']:.4f} after")
    out.print(f"wrote {run.run_dir.prequential}", soft_wrap=True)


def metrics_table(run: Any, results: dict[str, Any]) -> Table:
    rerank = f", re-ranked by {', '.join(results['rerank'])}" if results.get("rerank") else ""
    title = (f"{run.config.model.name} on {run.meta['dataset']['name']} (test, {results['test']['n_users']} "
             f"users{rerank})")
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for key, value in results["test"].items():
        if isinstance(value, float):
            ci = results["test"].get("ci", {}).get(key)
            table.add_row(key, f"{value:.4f}", f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci and None not in ci else "")
    return table
