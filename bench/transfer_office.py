"""Zero-shot and few-shot transfer between two catalogues cut from Amazon Office 2014, every step through the CLI.

The catalogues: Office's item categories are shuffled (seeded) and split into two halves of about equal item
count, and its users into two random halves. Source = first users x first categories, target = the other users x
the other categories: no item and no user is shared, so nothing but the language model's view of text carries
over. Users with fewer than 3 events in a catalogue are dropped from it (leave-last-out needs 3).

Steps: `lmrec pretrain` on the source; on the target: `lmrec zero-shot`, pop and ID-only SASRec, then
for each fraction of target users a text model trained from scratch and the checkpoint fine-tuned in each mode
(`lmrec fit --pretrained --finetune MODE --set split.train_users=F`); all evaluated on every target user.

    LMREC_DATA_DIR=../shared/data python bench/transfer_office.py --out bench/results/transfer-office
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cli_steps import lmrec  # bench/ is on sys.path when run as a script
from report_file import write_keeping_notes

ROOT = Path(__file__).resolve().parents[1]
LM_MODES = ("lora", "lora-adapter", "lora-recommender", "full", "fused-full")
LM_BATCH = ["--set", "model.train.batch_size=64", "--set", "model.lm_negatives=64"]  # LM-in-the-loop step size


def partition(data: Path, out: Path, seed: int) -> dict:
    """Write source/target interactions + items CSVs; returns what was split and the files' sha256."""
    inter = pd.read_csv(data / "interactions.csv")
    items = pd.read_csv(data / "items.csv")
    rng = np.random.default_rng(seed)
    categories = np.sort(items.category_code.unique())
    rng.shuffle(categories)
    counts = items.category_code.value_counts()
    first, total = [], 0
    for category in categories:
        if total < len(items) / 2:
            first.append(int(category))
            total += int(counts.get(category, 0))
    first_items = set(items.item_id[items.category_code.isin(first)])
    users = np.sort(inter.user_id.unique())
    rng.shuffle(users)
    first_users = set(users[: len(users) // 2])
    parts = {"source": inter[inter.item_id.isin(first_items) & inter.user_id.isin(first_users)],
             "target": inter[~inter.item_id.isin(first_items) & ~inter.user_id.isin(first_users)]}
    out.mkdir(parents=True, exist_ok=True)
    info: dict = {"seed": seed, "source_categories": sorted(first), "files": {}}
    for name, frame in parts.items():
        n = frame.groupby("user_id").size()
        frame = frame[frame.user_id.isin(n[n >= 3].index)]
        frame.to_csv(out / f"{name}.csv", index=False)
        items[items.item_id.isin(frame.item_id)].to_csv(out / f"{name}_items.csv", index=False)
        info[name] = {"users": int(frame.user_id.nunique()), "items": int(frame.item_id.nunique()),
                      "interactions": int(len(frame))}
        for file in (f"{name}.csv", f"{name}_items.csv"):
            info["files"][file] = hashlib.sha256((out / file).read_bytes()).hexdigest()
    return info


def collect(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    meta = json.loads((run / "meta.json").read_text())
    fit_log = meta.get("fit_log") or {}
    return {"ndcg@10": metrics["ndcg@10"], "hr@10": metrics["hr@10"], "ci": metrics["ci"]["ndcg@10"],
            "users": metrics["n_users"], "fit_seconds": meta["fit_seconds"], "peak_rss_mib": meta["peak_rss_mib"],
            "epochs": len(fit_log.get("epochs") or []), "best_epoch": fit_log.get("best_epoch"),
            "trainable": fit_log.get("trainable_parameters"), "total": fit_log.get("total_parameters"),
            "train_users": meta["split"].get("train_users")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/transfer-office")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--fractions", default="0.01,0.05,0.2,1")
    parser.add_argument("--modes", default="recommender,adapter,lora-recommender,full,fused,fused-adapter",
                        help="any of recommender, adapter, lora, lora-adapter, lora-recommender, full (see "
                        "lmrec.transfer.finetune); fused = sasrec-fused from the checkpoint (ID embeddings added on "
                        "top after transfer, recommender trained), fused-adapter = the same with the transformer "
                        "frozen (adapter + ID table: UniSRec's parameter-efficient transductive fine-tuning), "
                        "fused-full = everything, LM included")
    parser.add_argument("--epochs", type=int, default=200, help="most epochs of the LM-frozen modes")
    parser.add_argument("--lm-epochs", type=int, default=40, help="most epochs of the modes with the LM in the loop")
    parser.add_argument("--patience", type=int, default=8,
                        help="every mode stops after this many epochs without a better validation NDCG@10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true",
                        help="fit nothing: tabulate the runs already under OUT/runs (missing cells say 'not run')")
    args = parser.parse_args()
    runs = (args.out / "runs").resolve()
    data = runs / "data"
    info = partition(args.data / "amazon-office-2014", data, args.seed)
    print(f"source {info['source']}, target {info['target']}", flush=True)
    target = ["--interactions", str(data / "target.csv"), "--items", str(data / "target_items.csv"),
              "--order-col", "seq"]
    t, seed = args.threads, str(args.seed)

    def budget(epochs: int) -> list[str]:
        return ["--set", f"model.train.epochs={epochs}", "--set", f"model.train.patience={args.patience}"]

    def fit_and_evaluate(name: str, *fit_args: str) -> dict | None:
        run = runs / name
        if not (run / "metrics.json").is_file():
            if args.report_only:
                return None
            lmrec("fit", "--out", str(run), "--seed", seed, *target, *fit_args, threads=t)
            lmrec("evaluate", str(run), "-k", "10", threads=t)
        return collect(run)

    checkpoint = runs / "pretrained"
    if not (checkpoint / "meta.json").is_file():
        lmrec("pretrain", "--interactions", str(data / "source.csv"), "--items", str(data / "source_items.csv"),
              "--order-col", "seq", "--seed", seed, "--out", str(checkpoint), threads=t)
    results: dict = {"pretrain": json.loads((checkpoint / "meta.json").read_text())["fit_seconds"]}
    if not (runs / "zero-shot" / "metrics.json").is_file():
        lmrec("zero-shot", str(checkpoint), *target, "--out", str(runs / "zero-shot"), "-k", "10",
              threads=t)
    results["zero-shot"] = collect(runs / "zero-shot")
    results["pop"] = fit_and_evaluate("pop", "--model", "pop")
    results["sasrec (ID, 100 %)"] = fit_and_evaluate("sasrec", "--model", "sasrec")
    fractions = [float(f) for f in args.fractions.split(",")]
    modes = args.modes.split(",")
    curve: dict = {}
    for fraction in fractions:
        split = ["--set", f"split.train_users={fraction}"]
        row = {"scratch": fit_and_evaluate(f"scratch-{fraction}", "--model", "sasrec-text",
                                           "--set", "model.adapter=moe", *split, *budget(args.epochs))}
        for mode in modes:
            extra = [*budget(args.lm_epochs), *LM_BATCH] if mode in LM_MODES else budget(args.epochs)
            how = ["--finetune", mode]
            if mode.startswith("fused"):  # text + a new ID table; fused = recommender, fused-X = finetune X
                how = ["--model", "sasrec-fused", "--finetune", mode.partition("-")[2] or "recommender"]
            row[mode] = fit_and_evaluate(f"{mode}-{fraction}", "--pretrained", str(checkpoint), *how, *split, *extra)
        curve[str(fraction)] = row
    results["few-shot"] = curve
    write_report(args, info, results, fractions, modes)


def write_report(args: argparse.Namespace, info: dict, results: dict, fractions: list[float],
                 modes: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(ROOT))
    from lmrec.io import atomic_write_json
    from lmrec.pipeline import compare_runs
    from lmrec.provenance import environment

    runs = (args.out / "runs").resolve()
    curve = results["few-shot"]

    def reference(mode: str, fraction: float) -> str | None:
        """The full fine-tuning a mode is measured against: of its own model (text, or text + ID) where run."""
        row = curve[str(fraction)]
        if mode.startswith("fused") and mode != "fused-full" and row.get("fused-full"):
            return "fused-full"
        return "full" if row.get("full") and mode not in ("full", "fused-full") else None

    paired = {}
    for fraction in fractions:
        for mode in modes:
            ref = reference(mode, fraction)
            if ref and curve[str(fraction)].get(mode):
                test = compare_runs(runs / f"{ref}-{fraction}", runs / f"{mode}-{fraction}")
                paired[f"{mode}-{fraction}"] = {"reference": ref, "p_value": test["p_value"],
                                                "mean_diff": test["mean_diff"]}
    results["paired_vs_full"] = paired
    config = {"command": "python " + " ".join(sys.argv), "partition": info, "fractions": fractions, "modes": modes,
              "epochs": args.epochs, "lm_epochs": args.lm_epochs,
              "patience": args.patience, "threads": args.threads, "seed": args.seed, **environment()}
    atomic_write_json(args.out / "results.json", {"config": config, "results": results})

    def cell(r: dict) -> str:
        lo, hi = r["ci"] if r["ci"] and r["ci"][0] is not None else (float("nan"), float("nan"))
        return f"{r['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}]"

    zs, pop = results["zero-shot"], results["pop"]
    lines = [
        "# Transfer: Office categories A -> Office categories B (disjoint items and users)", "",
        f"Command: `{config['command']}` (each step a `lmrec` CLI call, OMP_NUM_THREADS={args.threads}; "
        f"seed {args.seed}; lmrec {config['versions']['lmrec']}, torch {config['versions']['torch']})", "",
        f"Source: {info['source']}; target: {info['target']}; source categories (category_code): "
        f"{info['source_categories']}; files sha256 in results.json.", "",
        f"Pre-training (sasrec-text, MoE adapter) took {results['pretrain']:.0f}s.", "",
        "## Zero-shot (no target training) vs popularity and a model trained on all target users", "",
        "| model | NDCG@10 [95% CI] | HR@10 | fit (s) |", "|---|---|---|---|",
        f"| zero-shot (pretrained, no target training) | {cell(zs)} | {zs['hr@10']:.4f} | {zs['fit_seconds']:.1f} |",
        f"| pop (target training data) | {cell(pop)} | {pop['hr@10']:.4f} | {pop['fit_seconds']:.1f} |",
    ]
    sas = results["sasrec (ID, 100 %)"]
    lines += [f"| sasrec, ID-only, 100 % of target users | {cell(sas)} | {sas['hr@10']:.4f} | "
              f"{sas['fit_seconds']:.1f} |", "",
              f"Zero-shot / pop = {zs['ndcg@10'] / max(pop['ndcg@10'], 1e-12):.2f}x.", "",
              "## Few-shot: NDCG@10 on every target user vs the fraction of target users trained on", "",
              "Trainable share is of all parameters the model uses (language model 22.7 M + recommender); full = "
              "everything end to end, LM included; lora-recommender = LoRA in the LM + every recommender weight; "
              "fused = the checkpoint plus a new ID table (text + ID, all recommender weights trained). Every mode "
              f"trains until validation NDCG@10 has not improved for {args.patience} epochs (at most {args.epochs} "
              f"epochs with the LM frozen, {args.lm_epochs} with the LM in the loop: batch 64, 64 uniform negatives "
              "+ the batch's targets) and keeps its best-validating epoch.", "",
              "`vs full FT` compares each mode with full fine-tuning of the same model (`full` for the text "
              "model, `fused-full` for text + ID where it was run) on the same users: relative NDCG@10 difference "
              "and paired t-test p.", "",
              "| fraction | train users | mode | NDCG@10 [95% CI] | HR@10 | vs full FT | p (paired t) | "
              "trainable | share | epochs (best) | fit (s) | peak RSS (MiB) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for fraction in fractions:
        row = curve[str(fraction)]
        for mode in ["scratch", *modes]:
            r = row[mode]
            if r is None:
                lines.append(f"| {fraction:g} | | {mode} | not run | | | | | | | | |")
                continue
            ref = reference(mode, fraction) if mode != "scratch" else None
            ratio = f"{r['ndcg@10'] / row[ref]['ndcg@10'] - 1:+.1%} ({ref})" if ref else ""
            p = paired.get(f"{mode}-{fraction}", {}).get("p_value")
            share = f"{r['trainable'] / r['total']:.2%}" if r["trainable"] is not None else "100% (recommender)"
            trainable = f"{r['trainable']:,}" if r["trainable"] is not None else "all"
            users = r["train_users"] or info["target"]["users"]
            lines.append(f"| {fraction:g} | {users} | {mode} | {cell(r)} | {r['hr@10']:.4f} | {ratio} | "
                         f"{'' if p is None else f'{p:.3g}'} | {trainable} | {share} | {r['epochs']} "
                         f"({r['best_epoch']}) | {r['fit_seconds']:.1f} | {r['peak_rss_mib']:.0f} |")
    lines += ["", "`scratch` = sasrec-text (MoE adapter) trained from random weights on the same users: what "
              "pre-training adds.", "", "![few-shot curve](few_shot.png)", ""]
    write_keeping_notes(args.out / "results.md", "\n".join(lines))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode in ["scratch", *modes]:
        points = [(f, curve[str(f)][mode]["ndcg@10"]) for f in fractions if curve[str(f)][mode]]
        ax.plot([f for f, _ in points], [v for _, v in points], marker="o", label=mode)
    ax.axhline(zs["ndcg@10"], color="grey", linestyle="--", label="zero-shot")
    ax.axhline(pop["ndcg@10"], color="black", linestyle=":", label="pop")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of target users trained on")
    ax.set_ylabel("NDCG@10 (all target users)")
    ax.set_title("Office A -> Office B: few-shot fine-tuning")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "few_shot.png", dpi=120)
    print(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
