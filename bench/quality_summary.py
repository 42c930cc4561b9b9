"""Issue #11's scoreboard: each candidate against the best of EASE, ItemKNN and RecTools SASRec on every benchmark,
from evaluated benchmark folders on one split each (paired t-test over the same test users, `lmrec compare`).

    python bench/quality_summary.py ml-100k=bench/results/ml-100k amazon-office=bench/results/amazon-office \
        office-sparse=bench/results/office-sparse --candidates auto,sasrec-fused --out bench/results/quality.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lmrec.pipeline.compare import compare_runs

REFERENCES = ("ease", "itemknn", "rectools-sasrec")


def summarise(name: str, folder: Path, candidates: list[str], extra: dict[str, Path]) -> list[str]:
    """`extra`: runs evaluated on the same split outside the benchmark folder (a peer run on its own)."""
    rows = {row["model"]: row for row in json.loads((folder / "results.json").read_text())["rows"]}
    ndcg = {model: row["metrics"]["test"]["ndcg@10"] for model, row in rows.items()}
    dirs = {model: folder / "runs" / model for model in rows}
    for model, run in extra.items():
        ndcg[model], dirs[model] = json.loads((run / "metrics.json").read_text())["test"]["ndcg@10"], run
    present = [r for r in REFERENCES if r in ndcg]
    best = max(present, key=ndcg.__getitem__)
    lines = []
    for candidate in (c for c in candidates if c in ndcg):
        test = compare_runs(dirs[best], dirs[candidate])
        ratio = ndcg[candidate] / ndcg[best]
        verdict = "met" if ratio >= 1.10 and test["p_value"] < 0.05 else "not met"
        lines.append(f"| {name} | {candidate} | {ndcg[candidate]:.4f} | {best} {ndcg[best]:.4f} | "
                     f"{', '.join(f'{r} {ndcg[r]:.4f}' for r in present)} | {ratio:.2f}x | {test['p_value']:.2g} | "
                     f"{verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="+", help="NAME=FOLDER (a `lmrec benchmark --out` folder)")
    parser.add_argument("--candidates", default="auto,sasrec-fused")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--extra", action="append", default=[],
                        help="NAME/MODEL=RUN_DIR: a run on benchmark NAME's split evaluated outside its folder")
    args = parser.parse_args()
    lines = ["# Issue #11 target 2: the LM-based model against the best of EASE, ItemKNN and RecTools SASRec", "",
             f"Command: `python bench/quality_summary.py {' '.join(sys.argv[1:])}`. NDCG@10, full ranking, history "
             "masked; p: paired t-test over the same test users against the best reference (same split, same run "
             "folder). Target: >= 1.10x, p < 0.05.", "",
             "| benchmark | model | NDCG@10 | best reference | references | ratio | p | target |",
             "|---|---|---|---|---|---|---|---|"]
    extra: dict[str, dict[str, Path]] = {}
    for spec in args.extra:
        key, _, run = spec.partition("=")
        bench, _, model = key.partition("/")
        extra.setdefault(bench, {})[model] = Path(run)
    for spec in args.benchmarks:
        name, _, folder = spec.partition("=")
        lines += summarise(name, Path(folder), args.candidates.split(","), extra.get(name, {}))
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
