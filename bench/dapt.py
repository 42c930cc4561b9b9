"""Domain-adaptive pre-training of the item text encoder (issue #15, target 4): does continuing all-MiniLM-L6-v2's
pre-training on Office's own item text (`lmrec pretrain-lm`, masked-LM or SimCSE; text only, no interactions)
help zero-shot and few-shot (5 % of target users) transfer Office A -> Office B (bench/transfer_office.py's
partition: disjoint items and users)? The same models with each encoder, every step a `lmrec` CLI call:

    lm-content on B                     the encoder alone (no training anywhere)
    text-user A -> B zero-shot          trained on A, applied to B (adapter trust chosen on B's validation users)
    text-user A -> B few-shot 5 %       started from the A model, trained on 5 % of B's users
    sasrec-text A -> B zero-shot        `lmrec pretrain` on A, `lmrec zero-shot` on B

    LMREC_DATA_DIR=../shared/data python bench/dapt.py --out bench/results/dapt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
from cli_steps import lmrec  # bench/ is on sys.path when run as a script
from report_file import write_keeping_notes
from transfer_office import partition

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--set", "model.encoder.precision=bf16"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/dapt")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--objectives", default="mlm,simcse")
    parser.add_argument("--epochs", type=int, default=3, help="pretrain-lm epochs over the catalogue text")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = (args.out / "runs").resolve()
    office = args.data / "amazon-office-2014"
    data = runs / "data"
    info = partition(office, data, args.seed)
    domain_items = data / "office_items.csv"
    if not domain_items.is_file():  # the domain's text: every Office item (A and B), no interactions
        pd.read_csv(office / "items.csv").to_csv(domain_items, index=False)
    t, seed = args.threads, str(args.seed)
    source = ["--interactions", str(data / "source.csv"), "--items", str(data / "source_items.csv"),
              "--order-col", "seq"]
    target = ["--interactions", str(data / "target.csv"), "--items", str(data / "target_items.csv"),
              "--order-col", "seq"]

    def step(run: Path, *fit_args: str) -> Path:
        if not (run / "metrics.json").is_file():
            lmrec("fit", "--out", str(run), "--seed", seed, *fit_args, threads=t)
            lmrec("evaluate", str(run), "-k", "10", threads=t)
        return run

    encoders: dict[str, str] = {"base": "all-MiniLM-L6-v2"}
    for objective in args.objectives.split(","):
        model_dir = runs / f"encoder-{objective}"
        if not (model_dir / "lmrec_pretrain.json").is_file():
            lmrec("pretrain-lm", "--items", str(domain_items), "--out", str(model_dir), "--objective", objective,
                  "--epochs", str(args.epochs), "--seed", seed, threads=t)
        encoders[objective] = str(model_dir)
    rows: dict[str, dict[str, Path]] = {}
    for name, encoder in encoders.items():
        enc = ["--set", f"model.encoder.model={encoder}"]
        found = rows.setdefault(name, {})
        found["lm-content on B"] = step(runs / f"{name}-lm-content", *target, "--model", "lm-content", *enc, *FAST)
        a_model = step(runs / f"{name}-text-user-A", *source, "--model", "text-user", *enc, *FAST)
        found["text-user A -> B zero-shot"] = step(
            runs / f"{name}-text-user-zero-shot", *target, "--model", "text-user", *enc, *FAST,
            "--set", f"model.init_from={a_model}", "--set", "model.finetune=none")
        found["text-user A -> B few-shot 5 %"] = step(
            runs / f"{name}-text-user-few-shot", *target, "--model", "text-user", *enc, *FAST,
            "--set", f"model.init_from={a_model}", "--set", "split.train_users=0.05")
        checkpoint = runs / f"{name}-sasrec-text-A"
        if not (checkpoint / "meta.json").is_file():
            lmrec("pretrain", *source, "--seed", seed, "--out", str(checkpoint), *enc, threads=t)
        zero_shot = runs / f"{name}-sasrec-text-zero-shot"
        if not (zero_shot / "metrics.json").is_file():
            lmrec("zero-shot", str(checkpoint), *target, "--out", str(zero_shot), "-k", "10", threads=t)
        found["sasrec-text A -> B zero-shot"] = zero_shot
    write_report(args, info, encoders, rows)


def write_report(args: argparse.Namespace, info: dict, encoders: dict[str, str],
                 rows: dict[str, dict[str, Path]]) -> None:
    sys.path.insert(0, str(ROOT))
    from lmrec.io import atomic_write_json
    from lmrec.pipeline import compare_runs
    from lmrec.provenance import environment

    def ndcg(run: Path) -> dict:
        test = json.loads((run / "metrics.json").read_text())["test"]
        return {"ndcg@10": test["ndcg@10"], "ci": test["ci"]["ndcg@10"], "users": test["n_users"]}

    results: dict = {}
    header = "| model | " + " | ".join(f"{name} NDCG@10 [95% CI]" for name in encoders)
    header += " | " + " | ".join(f"{name} vs base (p)" for name in encoders if name != "base") + " |"
    lines = [header, "|" + "---|" * (2 * len(encoders))]
    for model in rows["base"]:
        cells, versus = [], []
        for name in encoders:
            r = ndcg(rows[name][model])
            results.setdefault(model, {})[name] = r
            cells.append(f"{r['ndcg@10']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]")
            if name != "base":
                test = compare_runs(rows["base"][model], rows[name][model])
                results[model][name]["vs_base"] = {"mean_diff": test["mean_diff"], "p_value": test["p_value"]}
                versus.append(f"{test['mean_diff']:+.4f} (p={test['p_value']:.2g})")
        lines.append(f"| {model} | " + " | ".join(cells) + " | " + " | ".join(versus) + " |")
    losses = {}
    for name, path in encoders.items():
        info_file = Path(path) / "lmrec_pretrain.json"
        if info_file.is_file():
            losses[name] = json.loads(info_file.read_text())["epoch_losses"]
    config = {"command": "python " + " ".join(sys.argv), "partition": info, "encoders": encoders,
              "pretrain_losses": losses, "epochs": args.epochs, "threads": args.threads, "seed": args.seed,
              **environment()}
    atomic_write_json(args.out / "results.json", {"config": config, "results": results})
    load = os.getloadavg()
    text = "\n".join([
        "# Domain-adaptive pre-training of the item encoder: Office A -> Office B", "",
        f"Command: `{config['command']}` (each step a `lmrec` CLI call, OMP_NUM_THREADS={args.threads}; seed "
        f"{args.seed}; lmrec {config['versions']['lmrec']}, torch {config['versions']['torch']}; load average at "
        f"the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}).", "",
        f"Encoders: base = all-MiniLM-L6-v2; the others are `lmrec pretrain-lm --items office_items.csv` (all "
        f"{2420} Office item texts, no interactions) for {args.epochs} epochs with that objective (loss per epoch: "
        f"{losses}). Target B: {info['target']}; source A: {info['source']}. Every cell is NDCG@10 on all of B's "
        "test users (full ranking); `vs base` is the paired t-test against the same model with the base encoder.", "",
        *lines, "",
    ])
    write_keeping_notes(args.out / "results.md", text)
    print(text)


if __name__ == "__main__":
    main()
