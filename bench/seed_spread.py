"""Summarise the same benchmark run under several seeds: per model, NDCG@k and fit time across seeds.

    .venv/bin/python bench/seed_spread.py RUNS/seed*/results.json --out RUNS/README.md
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="results.json files written by `lmrec benchmark`")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args()
    by_model: dict[str, list[dict]] = defaultdict(list)
    commands = []
    for path in args.results:
        payload = json.loads(path.read_text())
        commands.append(payload["spec"]["command"])
        for row in payload["rows"]:
            fit_log = row["meta"].get("fit_log") or {}
            by_model[row["model"]].append(
                {
                    "seed": payload["spec"]["seed"],
                    "value": row["metrics"]["test"][args.metric],
                    "fit": row["fit_seconds"],
                    "best_epoch": fit_log.get("best_epoch"),
                    "epochs": len(fit_log.get("epochs") or []),
                }
            )
    lines = [f"# {args.metric.upper()} across seeds", "", "Commands:", ""]
    lines += [f"- `{c}`" for c in commands]
    lines += [
        "",
        f"| model | seeds | {args.metric} mean | min | max | per seed | fit s mean | fit s max | best epoch / run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, runs in by_model.items():
        values = [r["value"] for r in runs]
        per_seed = ", ".join(f"{r['seed']}: {r['value']:.4f}" for r in runs)
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs']}" for r in runs)
        lines.append(
            f"| {model} | {len(runs)} | {statistics.mean(values):.4f} | {min(values):.4f} | {max(values):.4f} | "
            f"{per_seed} | {statistics.mean(r['fit'] for r in runs):.1f} | {max(r['fit'] for r in runs):.1f} | "
            f"{epochs} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
