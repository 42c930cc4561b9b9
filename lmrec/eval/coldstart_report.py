"""Cold-start results as files: results.json (every metric and CI), results.md (model × {all, new, known}) and
config.yaml (seed, split, data digest, versions), each written atomically."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.config import write_yaml
from lmrec.eval.coldstart import SUBSETS, ColdStartReport
from lmrec.io import atomic_write_json, atomic_write_text

TABLE_METRICS = {"hr": "HR", "ndcg": "NDCG", "recall": "Recall"}


def write_cold_start(report: ColdStartReport, out: str | Path) -> Path:
    """Write results.json, results.md and config.yaml into `out`; returns `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", report.to_json())
    atomic_write_text(out / "results.md", cold_start_markdown(report))
    write_yaml(out / "config.yaml", _plain(report.config))
    return out


def cold_start_markdown(report: ColdStartReport) -> str:
    """How it was made, the counts, a headline table (model × subset at the first k), then every metric with CIs."""
    config, counts = report.config, report.counts
    ks = sorted(config.get("eval", {}).get("ks", [10, 20]))
    k0 = ks[0]
    stats, info = config.get("dataset", {}), config.get("split_info", {})
    versions = config.get("versions", {})
    lines = [
        f"# Cold-start items: {stats.get('name', '?')}",
        "",
        f"Command: `{config.get('command') or '(python API)'}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}, seed {config.get('seed', 0)}, lmrec {versions.get('lmrec')}, "
        f"torch {versions.get('torch')}, python {versions.get('python')}  ",
        f"Dataset: {stats.get('users')} users, {stats.get('items')} items, {stats.get('interactions')} "
        f"interactions; digest `{str(stats.get('digest', ''))[:16]}`  ",
        f"Split: global time, test quantile {config.get('split', {}).get('test_quantile')} (cut {info.get('cut')}), "
        f"valid quantile {config.get('split', {}).get('valid_quantile')} (cut {info.get('valid_cut')}); "
        f"fingerprint `{config.get('split_fingerprint')}`  ",
        f"Items: {counts['items']} = {counts['known_items']} known (trained on) + {counts['new_items']} new "
        f"({counts['new_items_among_test_targets']} of them among test targets)  ",
        f"Test: {counts['test_users']} users, {counts['test_targets']} targets = {counts['test_targets_new']} "
        f"new-item + {counts['test_targets_known']} known-item  ",
        "Protocol: each model is fitted on the training events over the known items only (catalogue restricted to "
        "them); new items are then added from their text with the model's own encoder (`add_items`, as "
        "`POST /items` does); models that cannot place an unseen item score it -inf. Full ranking over all items, "
        "history masked; 'new' / 'known' keep only the test targets that are new / known items (and the users who "
        "have one); ± is the half-width of the 95 % bootstrap CI over users.",
        "",
        f"| model | scores new items | HR@{k0} all | NDCG@{k0} all | HR@{k0} new | NDCG@{k0} new | HR@{k0} known | "
        f"NDCG@{k0} known | fit (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report.models:
        cells = [_cell(row.results[s].to_json(), f"{m}@{k0}") for s in SUBSETS for m in ("hr", "ndcg")]
        lines.append(f"| {row.model} | {'yes' if row.scores_new_items else 'no (-inf)'} | " + " | ".join(cells)
                     + f" | {row.fit_seconds:.1f} |")
    header = [f"{label}@{k}" for k in ks for label in TABLE_METRICS.values()]
    lines += ["", "Every metric (users / targets evaluated per subset):", "",
              "| model | subset | users | targets | " + " | ".join(header) + " |",
              "|---|---|---|---|" + "---|" * len(header)]
    for row in report.models:
        for subset in SUBSETS:
            result = row.results[subset]
            metrics = result.to_json()
            cells = [_cell(metrics, f"{m}@{k}") for k in ks for m in TABLE_METRICS]
            lines.append(f"| {row.model} | {subset} | {result.n_users} | {int(result.ranking.n_targets.sum())} | "
                         + " | ".join(cells) + " |")
    lines += ["", "Full metrics (every cut-off, CIs, AUC, coverage) in `results.json`; the full config in "
              "`config.yaml`.", ""]
    return "\n".join(lines)


def _cell(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    if value is None:
        return "–"
    ci = metrics.get("ci", {}).get(key)
    return f"{value:.4f} ± {(ci[1] - ci[0]) / 2:.4f}" if ci and None not in ci else f"{value:.4f}"


def _plain(value: Any) -> Any:
    """YAML-safe copy: tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str):
        return str(value)  # str subclasses (torch.__version__) are not safe YAML
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
