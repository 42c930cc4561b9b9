"""Zero-shot transfer against text similarity and popularity on three source -> target pairs, through the CLI.

For each pair a text sequence model (sasrec-text, MoE adapter) is pre-trained on the source (`lmrec pretrain`) and
applied to the target with no training on it (`lmrec zero-shot`). Rows, all on the target's one split, full
ranking, history masked, paired t-tests over the same test users:

- zero-shot          what `lmrec zero-shot` does by default: the pre-trained net blended with the text and
                     popularity priors (z-scores), the three weights chosen on the target's validation holdout
- zero-shot, net     the pre-trained net alone (`--set model.priors=`): the figure earlier tables reported
- text + pop         the ablation without the pre-trained net: lm-content and pop blended by the same search
                     (`lmrec fit --model ensemble --set model.parts=lm-content,pop`)
- lm-content, pop    the two bars of the issue's target

    LMREC_DATA_DIR=../shared/data python bench/zero_shot.py [--pairs office-transfer,...] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cli_steps import lmrec  # bench/ is on sys.path when run as a script

from lmrec.pipeline.compare import compare_runs

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ("office-transfer", "office-ml-100k", "ml-latest-small-ml-100k")
TITLES = {"office-transfer": "Office categories A -> Office categories B (disjoint users and items)",
          "office-ml-100k": "Amazon Office -> MovieLens-100K", "ml-latest-small-ml-100k": "ml-latest-small -> "
                                                                                           "MovieLens-100K"}


def pair_data(pair: str, data: Path, runs: Path) -> tuple[list[str], list[str]]:
    """(source args, target args) of `lmrec pretrain` / `lmrec zero-shot`."""
    office = ["--interactions", str(data / "amazon-office-2014/interactions.csv"),
              "--items", str(data / "amazon-office-2014/items.csv"), "--order-col", "seq"]
    ml100k = ["--dataset", "ml-100k", "--data-dir", str(data)]
    if pair == "office-ml-100k":
        return office, ml100k
    if pair == "ml-latest-small-ml-100k":
        return ["--dataset", "ml-latest-small", "--data-dir", str(data)], ml100k
    from transfer_office import partition  # Office users A x categories A -> users B x categories B

    split = runs / "data"
    partition(data / "amazon-office-2014", split, 0)
    files = {side: ["--interactions", str(split / f"{side}.csv"), "--items", str(split / f"{side}_items.csv"),
                    "--order-col", "seq"] for side in ("source", "target")}
    return files["source"], files["target"]


def run_pair(pair: str, data: Path, runs: Path, threads: int) -> dict[str, Path]:
    """Pre-train (unless its checkpoint exists), then every row's run, evaluated; returns {row: run dir}."""
    source, target = pair_data(pair, data, runs)
    checkpoint = runs / "pretrained"
    if not (checkpoint / "meta.json").is_file():
        lmrec("pretrain", *source, "--out", str(checkpoint), threads=threads)
    rows = {"zero-shot": runs / "zero-shot", "zero-shot, net": runs / "zero-shot-net",
            "text + pop": runs / "text-pop", "lm-content": runs / "lm-content", "pop": runs / "pop"}
    steps = {
        "zero-shot": [("zero-shot", str(checkpoint), *target, "--out", str(rows["zero-shot"]), "-k", "10")],
        "zero-shot, net": [("zero-shot", str(checkpoint), *target, "--set", "model.priors=", "--out",
                            str(rows["zero-shot, net"]), "-k", "10")],
        "text + pop": [("fit", "--model", "ensemble", "--set", "model.parts=lm-content,pop", *target, "--out",
                        str(rows["text + pop"]))],
        "lm-content": [("fit", "--model", "lm-content", *target, "--out", str(rows["lm-content"]))],
        "pop": [("fit", "--model", "pop", *target, "--out", str(rows["pop"]))],
    }
    for row, commands in steps.items():
        if (rows[row] / "metrics.json").is_file():
            continue
        for command in commands:
            lmrec(*command, threads=threads)
        if commands[0][0] == "fit":
            lmrec("evaluate", str(rows[row]), "-k", "10", threads=threads)
    return rows


def report(pair: str, rows: dict[str, Path], runs: Path) -> list[str]:
    metrics = {row: json.loads((path / "metrics.json").read_text())["test"] for row, path in rows.items()}
    meta = {row: json.loads((path / "meta.json").read_text()) for row, path in rows.items()}
    pre = json.loads((runs / "pretrained" / "meta.json").read_text())
    lines = [f"## {TITLES[pair]}", "",
             f"Source: {', '.join(str(s.get('name', '?')) for s in pre['sources'])} "
             f"({sum(s['users'] for s in pre['sources'])} users), pre-trained in {pre['fit_seconds']:.0f}s; "
             f"target: {meta['pop']['dataset']['users']} users, {meta['pop']['dataset']['items']} items, split "
             f"{meta['pop']['split']['fingerprint']}.", "",
             "| row | NDCG@10 [95% CI] | HR@10 | weights (validation) | vs lm-content | vs pop | vs text + pop |",
             "|---|---|---|---|---|---|---|"]
    for row, m in metrics.items():
        lo, hi = m["ci"]["ndcg@10"]
        weights = (meta[row].get("fit_log") or {}).get("weights") or {}
        chosen = ", ".join(f"{k} {v:.1f}" for k, v in weights.items())
        cells = []
        for base in ("lm-content", "pop", "text + pop"):
            if row == base or row not in ("zero-shot", "zero-shot, net", "text + pop"):
                cells.append("")
                continue
            r = compare_runs(rows[base], rows[row])
            cells.append(f"{r['mean_b'] / r['mean_a']:.2f}x, p {r['p_value']:.2g}")
        lines.append(f"| {row} | {m['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] | {m['hr@10']:.4f} | {chosen} | "
                     + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/zero-shot")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    data = args.data.resolve()
    lines = ["# Zero-shot transfer: the pre-trained model against text similarity and popularity", "",
             f"Command: `python bench/zero_shot.py {' '.join(sys.argv[1:])}` (each step a `lmrec` CLI call, "
             f"OMP_NUM_THREADS={args.threads}). NDCG@10, per-user leave-one-out on the target, full ranking, history "
             "masked; `vs X`: ratio of means and paired t-test p over the same test users. `weights`: what the "
             "validation search chose (the target's validation holdout: each user's second-to-last item, which is "
             "part of the test input; no test target is read, no network weight is trained on the target).", ""]
    for pair in args.pairs.split(","):
        runs = (args.out / "runs" / pair).resolve()
        rows = ({row: runs / slug for row, slug in (("zero-shot", "zero-shot"), ("zero-shot, net", "zero-shot-net"),
                                                    ("text + pop", "text-pop"), ("lm-content", "lm-content"),
                                                    ("pop", "pop"))}
                if args.report_only else run_pair(pair, data, runs, args.threads))
        lines += report(pair, rows, runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
