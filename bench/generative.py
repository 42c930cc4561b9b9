"""Generative interests (issue #15, target 2): `llm-gen` zero-shot and LoRA-tuned on a seeded random subset of
Amazon Office test users, beside popularity, lm-content, sasrec-text and text-user on the same users (`lmrec
evaluate --users N --test-only` draws them from the run's seed: the same users for every run on the split); every
step a `lmrec` CLI call; generation throughput (test users per second of `lmrec evaluate`, which is almost all
generation) and the evaluation's peak memory.

    LMREC_DATA_DIR=../shared/data python bench/generative.py --peers bench/results/text_user/runs --users 1000

PEERS holds pop, lm-content, sasrec-text and text-user runs on the same split (bench/text_user.py writes them); they
are copied (configs, weights, split) and evaluated on the subset. Writes bench/results/generative/results.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from cli_steps import lmrec  # bench/ is on sys.path when run as a script
from report_file import write_keeping_notes

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("pop", "lm-content", "sasrec-text", "text-user")
GENERATOR = ["--model", "llm-gen", "--set", "model.encoder.precision=bf16", "--set", "model.history_items=3",
             "--set", "model.title_chars=60", "--set", "model.max_new_tokens=16"]
LORA = ["--set", "model.finetune=lora", "--set", "model.max_pairs=320"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/generative")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--peers", type=Path, default=ROOT / "bench/results/text_user/runs")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = (args.out / "runs").resolve()
    office = args.data / "amazon-office-2014"
    data = ["--interactions", str(office / "interactions.csv"), "--items", str(office / "items.csv"),
            "--order-col", "seq"]
    subset = ["--users", str(args.users), "--test-only", "-k", "10"]
    seconds: dict[str, float] = {}

    def evaluated(run: Path) -> Path:
        metrics = run / "metrics.json"
        current = json.loads(metrics.read_text()) if metrics.is_file() else {}
        if current.get("users_subset", {}).get("users") != args.users:
            started = time.perf_counter()
            lmrec("evaluate", str(run), *subset, threads=args.threads)
            seconds[run.name] = time.perf_counter() - started
        return run

    rows: dict[str, Path] = {}
    for name in PEERS:
        run = runs / name
        if not (run / "meta.json").is_file():
            shutil.copytree(args.peers / name, run, ignore=shutil.ignore_patterns("metrics.json", "per_user.csv",
                                                                                  "recommendations.csv",
                                                                                  "targets.csv"))
        rows[name] = evaluated(run)
    for name, extra in (("llm-gen-zero-shot", ["--set", "model.finetune=none"]), ("llm-gen-lora", LORA)):
        run = runs / name
        if not (run / "meta.json").is_file():
            lmrec("fit", "--out", str(run), "--seed", str(args.seed), *data, *GENERATOR, *extra, threads=args.threads)
        rows[name] = evaluated(run)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    write_report(args, rows, peak)


def write_report(args: argparse.Namespace, rows: dict[str, Path], peak_mib: float) -> None:
    sys.path.insert(0, str(ROOT))
    from lmrec.io import atomic_write_json
    from lmrec.pipeline import compare_runs
    from lmrec.provenance import environment

    found: dict = {}
    for name, run in rows.items():
        metrics = json.loads((run / "metrics.json").read_text())
        meta = json.loads((run / "meta.json").read_text())
        test = metrics["test"]
        found[name] = {"ndcg@10": test["ndcg@10"], "hr@10": test["hr@10"], "ci": test["ci"]["ndcg@10"],
                       "users": test["n_users"], "eval_seconds": test["seconds"],
                       "users_per_second": test["n_users"] / test["seconds"], "split": meta["split"]["fingerprint"],
                       "fit_seconds": meta["fit_seconds"], "fit_peak_rss_mib": meta["peak_rss_mib"],
                       "fit_log": {k: v for k, v in (meta.get("fit_log") or {}).items() if k != "epochs"}}
        if name != "sasrec-text":
            test = compare_runs(rows["sasrec-text"], run)
            found[name]["vs_sasrec_text"] = {"mean_diff": test["mean_diff"], "p_value": test["p_value"]}
    lora = compare_runs(rows["llm-gen-zero-shot"], rows["llm-gen-lora"])
    splits = {r["split"] for r in found.values()}
    config = {"command": "python " + " ".join(sys.argv), "users": args.users, "threads": args.threads,
              "seed": args.seed, "generator_args": [*GENERATOR], "lora_args": [*LORA], **environment()}
    atomic_write_json(args.out / "results.json", {"config": config, "rows": found, "lora_vs_zero_shot": lora,
                                                  "peak_rss_mib_of_any_step": peak_mib})
    tuned = found["llm-gen-lora"]["fit_log"]
    load = os.getloadavg()
    lines = [
        "# Generative interests (`llm-gen`) on Amazon Office", "",
        f"Command: `{config['command']}` (each step a `lmrec` CLI call, OMP_NUM_THREADS={args.threads}; seed "
        f"{args.seed}; lmrec {config['versions']['lmrec']}, torch {config['versions']['torch']}; load average at "
        f"the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}).", "",
        f"{args.users} test users drawn at random with the runs' seed ({'; '.join(sorted(splits))}); full ranking "
        "over all 2,420 items, history masked; p: paired t-test against sasrec-text on the same users.", "",
        "Generator: SmolLM2-135M-Instruct (offline), greedy, at most 16 new tokens after the answer prefix "
        "'Product:', prompt built from the 3 most recent titles (60 characters each); the answer is embedded by "
        "all-MiniLM-L6-v2 and matched to every item's vector. LoRA: rank 8 on every attention and MLP projection "
        f"({tuned.get('trainable_parameters', 0):,} trainable parameters), {tuned.get('pairs')} (history -> next "
        f"title) pairs drawn from the training split, one epoch, fit {found['llm-gen-lora']['fit_seconds']:.0f} s "
        "on one thread of a loaded machine.", "",
        "| model | NDCG@10 [95% CI] | HR@10 | vs sasrec-text | p | evaluation users/s (1 thread) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in found.items():
        vs = r.get("vs_sasrec_text")
        lo, hi = r["ci"]
        lines.append(f"| {name} | {r['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] | {r['hr@10']:.4f} | "
                     + (f"{vs['mean_diff']:+.4f} | {vs['p_value']:.2g}" if vs else "reference |")
                     + f" | {r['users_per_second']:.2f} |")
    lines += ["", f"LoRA-tuned vs zero-shot generator: {lora['mean_diff']:+.4f} NDCG@10 (p={lora['p_value']:.2g}).",
              f"Memory (peak RSS of the fit, which loads the generator): zero-shot "
              f"{found['llm-gen-zero-shot']['fit_peak_rss_mib']:.0f} MiB, LoRA tuning "
              f"{found['llm-gen-lora']['fit_peak_rss_mib']:.0f} MiB"
              + (f"; largest step run by this script {peak_mib:.0f} MiB." if peak_mib > 0 else "."),
              "Throughput is what `lmrec evaluate` measured (generation is almost all of it), on one thread while "
              "other benchmarks shared the two cores.", ""]
    text = "\n".join(lines)
    write_keeping_notes(args.out / "results.md", text)
    print(text)


if __name__ == "__main__":
    main()
