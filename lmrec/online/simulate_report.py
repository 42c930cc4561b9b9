"""What `lmrec simulate` writes: results.json (one record per policy and round, the configs, provenance),
results.md (the curves as a table, and each policy against the plain one at the last round) and one PNG per
measure with a line per policy."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from lmrec.io import atomic_write, atomic_write_json, atomic_write_text
from lmrec.online.simulate import SimulationConfig

MEASURES = ("true_ndcg", "true_utility", "choice_rate", "coverage", "coverage_so_far", "gini", "ild", "popularity",
            "consumption_entropy")


def write_simulation(out: Path, records: list[dict[str, Any]], configs: list[SimulationConfig],
                     provenance: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", {"configs": [asdict(c) for c in configs], **provenance,
                                             "records": records})
    atomic_write_text(out / "results.md", markdown(records, configs, provenance))
    written = [out / "results.json", out / "results.md"]
    for measure in MEASURES:
        if any(measure in r for r in records):
            written.append(plot(out / f"{measure}.png", records, measure))
    return written


def markdown(records: list[dict[str, Any]], configs: list[SimulationConfig], provenance: dict[str, Any]) -> str:
    policies = list(dict.fromkeys(r["policy"] for r in records))
    measures = [m for m in MEASURES if any(m in r for r in records)]
    first = configs[0]
    lines = [f"# Feedback-loop simulation: {provenance.get('run', '')}", "",
             f"{first.rounds} rounds, k = {first.k}, users {first.users or 'all'}, truth model {first.truth}, "
             f"temperature {first.temperature}, no-choice utility {first.no_choice}, update every "
             f"{first.update_every} round(s) ({first.update_epochs} epoch), seed {first.seed}; load average "
             f"{provenance.get('load_before', '?')} before, {provenance.get('load_after', '?')} after.", ""]
    last = {r["policy"]: r for r in records if r["round"] == first.rounds}
    if "plain" in last:
        lines += [f"## Round {first.rounds} against the plain policy", "",
                  "| policy | coverage | x plain | true NDCG | x plain | Gini | popularity |",
                  "|---|---|---|---|---|---|---|"]
        base = last["plain"]
        for policy in policies:
            r = last[policy]
            lines.append(f"| {policy} | {r['coverage']:.4f} | {r['coverage'] / base['coverage']:.2f} | "
                         f"{r['true_ndcg']:.4f} | {r['true_ndcg'] / base['true_ndcg']:.2f} | {r['gini']:.4f} | "
                         f"{r['popularity']:.3f} |")
        lines.append("")
    for policy in policies:
        lines += [f"## {policy}", "", "| round | " + " | ".join(measures) + " |",
                  "|---|" + "---|" * len(measures)]
        for r in (r for r in records if r["policy"] == policy):
            lines.append(f"| {r['round']} | " + " | ".join(f"{r[m]:.4f}" if m in r else "" for m in measures) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, records: list[dict[str, Any]], measure: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4))
    for policy in dict.fromkeys(r["policy"] for r in records):
        rows = [r for r in records if r["policy"] == policy and measure in r]
        axis.plot([r["round"] for r in rows], [r[measure] for r in rows], marker=".", label=policy)
    axis.set_xlabel("round")
    axis.set_ylabel(measure)
    axis.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path
