"""Generative interests (issue #15, target 2): `llm-gen` zero-shot and LoRA-tuned on a seeded random subset of
Amazon Office test users (the same users for every row: `lmrec evaluate --users N` draws them), beside
popularity, lm-content, sasrec-text and text-user; each generator alone and blended with lm-content's history
profile (`profile_weight=1`); generation throughput (users/s, one thread) and peak memory.

    OMP_NUM_THREADS=1 .venv/bin/python bench/generative.py --lora RUN --runs DIR --users 1000

RUN is `lmrec fit -m llm-gen --set model.finetune=lora` on Office; DIR holds pop, lm-content, sasrec-text and
text-user runs on the same split (bench/text_user.py writes them). Generation runs once per generator and user; both
blends reuse it. Writes bench/results/generative/amazon-office.{md,json}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.data.config import load_data
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.stats import paired_test
from lmrec.models.registry import create_model
from lmrec.pipeline import load_run
from lmrec.pipeline.evaluate import holdout_subset
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("pop", "lm-content", "sasrec-text", "text-user")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lora", type=Path, required=True, help="an llm-gen run tuned with LoRA")
    parser.add_argument("--runs", type=Path, default=ROOT / "bench/results/text_user/runs")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/generative")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    tuned_run = load_run(args.lora)
    split = tuned_run.meta["split"]["fingerprint"]
    holdout = holdout_subset(tuned_run.split.test, args.users, tuned_run.config.seed)
    options = EvalOptions(ks=(10,), n_bootstrap=1000, seed=0)
    n_items = len(tuned_run.items)
    rows: dict[str, dict] = {}
    per_user: dict[str, np.ndarray] = {}

    def measure(label: str, model, extra: dict | None = None) -> None:
        result = evaluate(model, holdout, n_items=n_items, options=options)
        per_user[label] = np.asarray(result.per_user["ndcg@10"], dtype=np.float64)
        metrics = result.metrics
        rows[label] = {"ndcg@10": metrics["ndcg@10"], "hr@10": metrics["hr@10"],
                       "ci": result.ci.get("ndcg@10"), **(extra or {})}
        print(f"{label}: NDCG@10 {metrics['ndcg@10']:.4f}", flush=True)

    for name in PEERS:
        peer = load_run(args.runs / name)
        if peer.meta["split"]["fingerprint"] != split:
            raise SystemExit(f"{args.runs / name}: another split than {args.lora}")
        measure(name, peer.model)
    dataset = load_data(tuned_run.config.data, tuned_run.config.prepare)
    zero_shot = create_model("llm-gen", {**_config(tuned_run.model.config), "finetune": "none"})
    zero_shot.fit(tuned_run.split.train, catalog=dataset.catalog)
    for label, model in (("llm-gen zero-shot", zero_shot), ("llm-gen LoRA-tuned", tuned_run.model)):
        histories = holdout.histories(np.arange(len(holdout)))
        started = time.perf_counter()
        texts = model.interests(histories)
        seconds = time.perf_counter() - started
        speed = {"users_per_second": len(holdout) / seconds, "examples": texts[:5]}
        measure(label, model, speed)
        blended = dataclasses.replace(model.config, profile_weight=1.0)
        twin = type(model)(blended, name=model.name)
        twin.__dict__.update({k: v for k, v in model.__dict__.items() if k != "config"})
        measure(f"{label} + lm-content profile", twin)
    reference = "sasrec-text"
    for label, values in per_user.items():
        if label != reference:
            rows[label]["vs_sasrec_text"] = paired_test(values, per_user[reference])
    tuned, plain = per_user["llm-gen LoRA-tuned"], per_user["llm-gen zero-shot"]
    record = {"users": len(holdout), "users_seed": tuned_run.config.seed, "split": split, "rows": rows,
              "lora_vs_zero_shot": paired_test(tuned, plain), "lora_run": str(args.lora),
              "lora_fit": {k: tuned_run.meta["fit_log"].get(k) for k in ("pairs", "trainable_parameters")}
              | {"fit_seconds": tuned_run.meta["fit_seconds"]},
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "config": _config(tuned_run.model.config), "load_before": load_before, "load_after": os.getloadavg(),
              "environment": environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "amazon-office.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / "amazon-office.md").write_text(markdown(record))
    print(markdown(record))


def _config(config) -> dict:
    from lmrec.config import to_dict

    return to_dict(config)


def markdown(record: dict) -> str:
    fit = record["lora_fit"]
    cfg = record["config"]
    lines = [
        "# Generative interests (`llm-gen`) on Amazon Office", "",
        f"{record['users']} test users drawn at random with seed {record['users_seed']} (`lmrec evaluate --users "
        f"{record['users']}` draws the same), split {record['split']}; full ranking over all items, history masked; "
        "NDCG@10 with its 95 % bootstrap CI; p: paired t-test against sasrec-text on the same users.", "",
        f"Generator: SmolLM2-135M-Instruct (offline), greedy, at most {cfg['max_new_tokens']} new tokens after "
        f"the answer prefix {cfg['answer_prefix']!r}, prompt `{cfg['prompt']}` with the {cfg['history_items']} "
        f"most recent titles; the text is embedded by all-MiniLM-L6-v2 and matched to every item's vector. LoRA: rank "
        f"{cfg['lora_rank']} on every attention and MLP projection ({fit['trainable_parameters']:,} trainable "
        f"parameters), {fit['pairs']} (history -> next title) pairs from the training split, "
        f"{cfg['train']['epochs']} epoch(s), fit {fit['fit_seconds']:.0f} s on one thread.", "",
        "| model | NDCG@10 [95% CI] | HR@10 | vs sasrec-text | p | users/s (generation, 1 thread) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in record["rows"].items():
        lo, hi = row["ci"]
        vs = row.get("vs_sasrec_text")
        speed = f"{row['users_per_second']:.2f}" if "users_per_second" in row else ""
        lines.append(f"| {label} | {row['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] | {row['hr@10']:.4f} | "
                     + (f"{vs['mean_diff']:+.4f} | {vs['p_value']:.2g} |" if vs else "reference | |") + f" {speed} |")
    lora = record["lora_vs_zero_shot"]
    lines += ["", f"LoRA-tuned vs zero-shot generator: {lora['mean_diff']:+.4f} NDCG@10 (p={lora['p_value']:.2g}).",
              f"Peak RSS of the whole measurement process: {record['peak_rss_mib']:.0f} MiB. Load average "
              f"{record['load_before'][0]:.2f} before, {record['load_after'][0]:.2f} after.", "",
              "Examples of generated interests:", ""]
    for label in ("llm-gen zero-shot", "llm-gen LoRA-tuned"):
        for text in record["rows"][label]["examples"][:3]:
            lines.append(f"- {label}: {text!r}")
    lines += ["", "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/generative.py --lora RUN --runs DIR "
              f"--users {record['users']}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
