"""The text user encoder (issue #15, target 1): `text-user` on Amazon Office (leave-last-out, full ranking, every
test user) beside sasrec-text, sasrec-fused, lm-content and pop, and zero-shot in the Office A -> Office B transfer
(the partition of bench/transfer_office.py: disjoint items and users) beside the sasrec-text checkpoint applied
zero-shot (`lmrec zero-shot`), the plain LM (text-user untrained, lm-content) and pop. Every step a `lmrec` CLI call.

    LMREC_DATA_DIR=../shared/data python bench/text_user.py --out bench/results/text_user

A run directory already holding metrics.json is reused (`--reuse-from DIR/NAME` copies nothing: it points a row at
an existing run on the same split, e.g. a sasrec-fused run from an earlier benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cli_steps import lmrec  # bench/ is on sys.path when run as a script
from report_file import write_keeping_notes
from transfer_office import partition

ROOT = Path(__file__).resolve().parents[1]
ENCODER = ["--set", "model.encoder.precision=bf16"]  # cosine 0.99998 to float32 (lmrec.text.sentence), 2x faster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/text_user")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--reuse-from", action="append", default=[], metavar="NAME=RUN",
                        help="use an existing run (same split) for row NAME instead of fitting it")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = (args.out / "runs").resolve()
    reuse = dict(item.split("=", 1) for item in args.reuse_from)
    office = args.data / "amazon-office-2014"
    data = ["--interactions", str(office / "interactions.csv"), "--items", str(office / "items.csv"),
            "--order-col", "seq"]
    t, seed = args.threads, str(args.seed)

    def fit_and_evaluate(name: str, data_args: list[str], *fit_args: str) -> Path:
        run = Path(reuse[name]).resolve() if name in reuse else runs / name
        if not (run / "metrics.json").is_file():
            lmrec("fit", "--out", str(run), "--seed", seed, *data_args, *fit_args, threads=t)
            lmrec("evaluate", str(run), "-k", "10,20", threads=t)
        return run

    office_rows = {
        "text-user": fit_and_evaluate("text-user", data, "--model", "text-user", *ENCODER),
        "text-user (untrained: the plain LM reads the history)": fit_and_evaluate(
            "text-user-untrained", data, "--model", "text-user", "--set", "model.finetune=none", *ENCODER),
        "sasrec-text": fit_and_evaluate("sasrec-text", data, "--model", "sasrec-text"),
        "sasrec-fused": fit_and_evaluate("sasrec-fused", data, "--model", "sasrec-fused"),
        "lm-content": fit_and_evaluate("lm-content", data, "--model", "lm-content"),
        "pop": fit_and_evaluate("pop", data, "--model", "pop"),
    }
    split = runs / "transfer-data"
    info = partition(office, split, args.seed)
    source = ["--interactions", str(split / "source.csv"), "--items", str(split / "source_items.csv"),
              "--order-col", "seq"]
    target = ["--interactions", str(split / "target.csv"), "--items", str(split / "target_items.csv"),
              "--order-col", "seq"]
    source_model = fit_and_evaluate("transfer-source-text-user", source, "--model", "text-user", *ENCODER)
    checkpoint = runs / "transfer-pretrained"
    if not (checkpoint / "meta.json").is_file():
        lmrec("pretrain", *source, "--seed", seed, "--out", str(checkpoint), threads=t)
    zero_shot = runs / "transfer-sasrec-text-zero-shot"
    if not (zero_shot / "metrics.json").is_file():
        lmrec("zero-shot", str(checkpoint), *target, "--out", str(zero_shot), "-k", "10,20", threads=t)
    transfer_rows = {
        "text-user trained on A, zero-shot on B": fit_and_evaluate(
            "transfer-text-user-zero-shot", target, "--model", "text-user", "--set",
            f"model.init_from={source_model}", "--set", "model.finetune=none", *ENCODER),
        "sasrec-text pre-trained on A, zero-shot on B (`lmrec zero-shot`)": zero_shot,
        "text-user untrained (plain LM) on B": fit_and_evaluate(
            "transfer-text-user-untrained", target, "--model", "text-user", "--set", "model.finetune=none", *ENCODER),
        "lm-content on B (no training but B's popularity fallback)": fit_and_evaluate(
            "transfer-lm-content", target, "--model", "lm-content"),
        "pop on B (B's training data)": fit_and_evaluate("transfer-pop", target, "--model", "pop"),
        "text-user trained on B (100 % of B's users)": fit_and_evaluate(
            "transfer-text-user-target", target, "--model", "text-user", *ENCODER),
    }
    write_report(args, info, office_rows, transfer_rows)


def write_report(args: argparse.Namespace, info: dict, office: dict[str, Path], transfer: dict[str, Path]) -> None:
    sys.path.insert(0, str(ROOT))
    from lmrec.io import atomic_write_json
    from lmrec.pipeline import compare_runs
    from lmrec.provenance import environment

    def row(run: Path) -> dict:
        metrics = json.loads((run / "metrics.json").read_text())["test"]
        meta = json.loads((run / "meta.json").read_text())
        log = meta.get("fit_log") or {}
        return {"run": str(run), "ndcg@10": metrics["ndcg@10"], "hr@10": metrics["hr@10"],
                "ci": metrics["ci"]["ndcg@10"], "users": metrics["n_users"], "fit_seconds": meta["fit_seconds"],
                "peak_rss_mib": meta["peak_rss_mib"], "epochs": len(log.get("epochs") or []),
                "best_epoch": log.get("best_epoch"), "split": meta["split"]["fingerprint"]}

    def table(rows: dict[str, Path], reference: str) -> tuple[list[str], dict]:
        found = {name: row(run) for name, run in rows.items()}
        lines = ["| model | NDCG@10 [95% CI] | HR@10 | vs " + reference.split(" (")[0] + " (paired t) | fit (s) | "
                 "epochs (best) | split |", "|---|---|---|---|---|---|---|"]
        for name, r in found.items():
            versus = ""
            if name != reference:
                test = compare_runs(rows[reference], rows[name])
                r["paired_vs_reference"] = {"mean_diff": test["mean_diff"], "p_value": test["p_value"]}
                versus = f"{test['mean_diff']:+.4f} (p={test['p_value']:.2g})"
            lo, hi = r["ci"]
            lines.append(f"| {name} | {r['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] | {r['hr@10']:.4f} | {versus} | "
                         f"{r['fit_seconds']:.0f} | {r['epochs']} ({r['best_epoch']}) | {r['split']} |")
        return lines, found

    office_lines, office_found = table(office, "text-user")
    transfer_lines, transfer_found = table(transfer, "text-user trained on A, zero-shot on B")
    config = {"command": "python " + " ".join(sys.argv), "partition": info, "threads": args.threads,
              "seed": args.seed, **environment()}
    atomic_write_json(args.out / "results.json", {"config": config, "office": office_found,
                                                  "transfer": transfer_found})
    load = os.getloadavg()
    text = "\n".join([
        "# Text user encoder (`text-user`): Amazon Office, and zero-shot Office A -> Office B", "",
        f"Command: `{config['command']}` (each step a `lmrec` CLI call, OMP_NUM_THREADS={args.threads}; seed "
        f"{args.seed}; lmrec {config['versions']['lmrec']}, torch {config['versions']['torch']}; load average at "
        f"the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}).", "",
        "text-user reads each history's 5 most recent item texts, most recent first, as one passage through the "
        "frozen all-MiniLM-L6-v2 (bf16) and matches it to the items' text vectors through two small adapters "
        "trained with the next-item softmax; `untrained` is the same model with no training (the plain LM's "
        "history-to-item cosine plus lm-content's profile). Full ranking over all items, every test user, history "
        "masked; paired t-test over the same users.", "",
        "## Amazon Office (4,905 users, 2,420 items, leave-last-out)", "", *office_lines, "",
        f"## Zero-shot transfer: Office A -> Office B (source {info['source']}, target {info['target']}; no item "
        "or user shared)", "", *transfer_lines, "",
    ])
    write_keeping_notes(args.out / "results.md", text)
    print(text)


if __name__ == "__main__":
    main()
