"""Benchmark reports: a markdown table with CIs, timings and memory, peers beside lmrec, and PNG plots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

PEER_NAMES = {"pop": "Pop", "itemknn": "ItemKNN", "ease": "EASE", "bpr": "BPR", "gru4rec": "GRU4Rec",
              "sasrec": "SASRec"}


def _cell(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    if value is None:
        return "–"
    ci = metrics.get("ci", {}).get(key)
    return f"{value:.4f} ± {(ci[1] - ci[0]) / 2:.4f}" if ci else f"{value:.4f}"


def benchmark_markdown(spec: Any, rows: list[dict[str, Any]], peers: dict[str, Any],
                       machine: dict[str, Any] | None = None) -> str:
    """The results.md of a benchmark: how it was made, dataset, split, machine and load, then one row per model."""
    machine = machine or {}
    if not rows:
        return "no models were run\n"
    meta = rows[0]["meta"]
    stats, split = meta["dataset"], meta["split"]
    ks = sorted(spec.ks)
    k0 = ks[0]
    peer_models = peers.get("models", {}) if peers else {}
    lines = [
        f"# Benchmark: {stats['name']}",
        "",
        f"Command: `{spec.command or '(python API)'}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}, seed {spec.seed}, lmrec {meta['versions'].get('lmrec')}, "
        f"torch {meta['versions'].get('torch')}, python {meta['versions'].get('python')}  ",
        f"Dataset: {stats['users']} users, {stats['items']} items, {stats['interactions']} interactions "
        f"(density {stats['density']:.4f}); digest `{stats['digest'][:16]}`  ",
        f"Split: {split['method']}, {split.get('evaluated_users')} evaluated users, "
        f"fingerprint `{split['fingerprint']}`  ",
        f"Machine: {machine.get('cores', '?')} cores, {spec.jobs} model process(es) at a time, "
        f"{rows[0].get('threads') or 'default'} torch threads each, device {meta.get('device', 'cpu')}; "
        f"load average {machine.get('load_before', '?')} before, {machine.get('load_after', '?')} after  ",
        "Protocol: full ranking over all items, each user's history masked, one table row per model trained in its "
        "own process; ± is the half-width of the 95 % bootstrap CI over users; p: two-sided paired t-test over "
        "the same test users.",
        "",
    ]
    if spec.tensorboard:
        lines[-1:-1] = [f"Training curves (loss, validation NDCG@10, learning rate, examples/s per epoch): "
                        f"`tensorboard --logdir {spec.tensorboard}`, one folder per model."]
    header = ["model"]
    for k in ks:
        header += [f"NDCG@{k}", f"HR@{k}", f"MRR@{k}"]
    header += [f"coverage@{k0}", f"ARP@{k0}", "fit (s)", "peak RSS (MiB)"]
    paired = any("paired" in row for row in rows)
    if paired:
        header += [f"Δ NDCG@{k0} vs {spec.baseline} (p)"]
    if peer_models:
        header += [f"RecBole NDCG@{k0}", "RecBole fit (s)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        test = row["metrics"]["test"]
        cells = [row["model"]]
        for k in ks:
            cells += [_cell(test, f"ndcg@{k}"), _cell(test, f"hr@{k}"), _cell(test, f"mrr@{k}")]
        cells += [_cell(test, f"coverage@{k0}"), _cell(test, f"arp@{k0}"), f"{row['fit_seconds']:.1f}",
                  f"{row['peak_rss_mib']:.0f}"]
        if paired:
            test_ = row.get("paired")
            cells.append(f"{test_['mean_diff']:+.4f} (p={test_['p_value']:.2g})" if test_ else "reference")
        if peer_models:
            peer = peer_models.get(PEER_NAMES.get(row["model"], ""), {})
            value = peer.get(f"ndcg@{k0}")
            cells += [f"{value:.4f}" if value is not None else "–",
                      f"{peer['fit_seconds']:.1f}" if peer.get("fit_seconds") is not None else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    if peer_models:
        source = peers["source"]
        lines += ["", f"Peers (RecBole 1.2.1 on this machine, same protocol, history masked; from `{source}`):",
                  "", "| RecBole model | NDCG@10 | HR@10 | NDCG@20 | HR@20 | fit (s) | peak RSS (MiB) | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, peer in peer_models.items():
            note = "wall-clock capped, not converged" if peer.get("budget_hit") else ""
            fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else "–"  # noqa: E731
            lines.append(f"| {name} | {fmt(peer.get('ndcg@10'))} | {fmt(peer.get('hr@10'))} | "
                         f"{fmt(peer.get('ndcg@20'))} | {fmt(peer.get('hr@20'))} | "
                         f"{peer.get('fit_seconds') or 0:.1f} | {peer.get('peak_rss_mib') or 0:.0f} | {note} |")
    trained_peers = [row for row in rows if row.get("peer")]
    if trained_peers:
        lines += ["", "Peer libraries trained in this run on the same split, their lists scored by lmrec's evaluator "
                  "(so AUC is not available for them):", ""]
        for row in trained_peers:
            peer = row["meta"]["peer"]
            chosen = ", ".join(f"{k}={v}" for k, v in peer["chosen"].items())
            cap = peer.get("selection", {}).get("max_epochs", "?")
            lines.append(f"- {row['model']}: {peer['note']} Chosen: {chosen}; best epoch {peer['best_epoch']} of "
                         f"{peer['epochs_run']} run (at most {cap}), validation NDCG@10 {peer['valid_ndcg@10']:.4f} "
                         f"(its own computation); RecTools {peer['versions']['rectools']}, {peer['threads']} threads.")
    reused = [row["model"] for row in rows if row.get("reused")]
    if reused:
        lines += ["", f"Reused (`--reuse`) from an earlier run into this folder with the same config: "
                  f"{', '.join(reused)}; their fit time and memory are what that run measured."]
    lines += ["", "Each model's full config, split file and metrics: `runs/<model>/` (config.yaml, split.npz, "
              "metrics.json, recommendations.csv, targets.csv).", ""]
    return "\n".join(lines)


def plot_benchmark(rows: list[dict[str, Any]], peers: dict[str, Any], out: Path, *, k: int = 10) -> list[Path]:
    """ndcg.png (NDCG@k with CI bars, RecBole beside) and time_vs_ndcg.png; returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return []
    key = f"ndcg@{k}"
    names = [row["model"] for row in rows]
    values = [row["metrics"]["test"].get(key, 0.0) for row in rows]
    cis = [row["metrics"]["test"].get("ci", {}).get(key, (v, v)) for row, v in zip(rows, values, strict=False)]
    errors = [[v - ci[0] for v, ci in zip(values, cis, strict=True)],
              [ci[1] - v for v, ci in zip(values, cis, strict=True)]]
    peer_models = peers.get("models", {}) if peers else {}
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names) + 2), 3.6))
    xs = list(range(len(names)))
    width = 0.4 if peer_models else 0.6
    ax.bar([x - (width / 2 if peer_models else 0) for x in xs], values, width, yerr=errors, capsize=3,
           label="lmrec (95% CI)")
    if peer_models:
        peer_values = [peer_models.get(PEER_NAMES.get(n, ""), {}).get(key) or 0.0 for n in names]
        ax.bar([x + width / 2 for x in xs], peer_values, width, label="RecBole 1.2.1", color="#bbbbbb")
    ax.set_xticks(xs, names, rotation=20)
    ax.set_ylabel(key.upper())
    ax.set_title(f"{rows[0]['meta']['dataset']['name']}: {key.upper()} (full ranking)")
    ax.legend(frameon=False)
    fig.tight_layout()
    paths = [out / "ndcg.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for row, value in zip(rows, values, strict=False):
        ax.scatter(max(row["fit_seconds"], 1e-3), value)
        ax.annotate(row["model"], (max(row["fit_seconds"], 1e-3), value), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log)")
    ax.set_ylabel(key.upper())
    fig.tight_layout()
    paths.append(out / "time_vs_ndcg.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths
