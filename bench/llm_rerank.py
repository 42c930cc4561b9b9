"""LLM re-ranking (issue #15, target 3): a retriever's top 20 re-ordered by the small offline LM
(SmolLM2-135M-Instruct: the mean log-probability of each candidate's title after a prompt of the user's last five
titles), alone and blended with the retriever's score, on N test users (the first N, or with --random the seeded
subset `lmrec evaluate --users N` draws; the same users for every row). `--tuned RUN` adds the LM of an llm-gen
run LoRA-tuned on the same split (what `--rerank llm:RUN` uses), measured on the same users beside the plain LM.

    OMP_NUM_THREADS=1 .venv/bin/python bench/llm_rerank.py RUN --name amazon-office --users 500 [--tuned GEN_RUN]

Writes bench/results/llm_rerank/<name>.md and .json: NDCG@10 with paired tests against the retriever alone (and
tuned against plain), the ceiling (the retriever's recall@20: the LM can only re-order those), latency per user.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.eval.stats import paired_test
from lmrec.metrics import hit_matrix, ndcg
from lmrec.pipeline import load_run
from lmrec.pipeline.evaluate import holdout_subset, tuned_language_model
from lmrec.provenance import environment
from lmrec.ranking import Candidates, RankingPipeline
from lmrec.ranking.explain import item_names
from lmrec.ranking.llm import LLM_CANDIDATES, LLMReranker
from lmrec.ranking.mixing import blend, ordered
from lmrec.text.generate import small_lm

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = (None, 0.25, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--users", type=int, default=500, help="the first N test users")
    parser.add_argument("--random", action="store_true", help="the seeded random N users instead of the first N")
    parser.add_argument("--tuned", type=Path, help="an llm-gen run (LoRA-tuned) on the same split")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "llm_rerank")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    run = load_run(args.run)
    holdout = run.split.test
    if args.random:
        holdout = holdout_subset(holdout, args.users, run.config.seed)
    rows = np.arange(min(args.users, len(holdout)))
    histories = holdout.histories(rows)
    targets = holdout.targets.take(rows)
    found = RankingPipeline.for_model(run.model).rank(histories, LLM_CANDIDATES)
    candidates = Candidates(np.asarray(found.items), np.asarray(found.scores, np.float32))
    stages = {"LLM": LLMReranker(small_lm(), item_names(run.catalog), candidates=LLM_CANDIDATES)}
    if args.tuned is not None:  # scored after the chat prompt and answer prefix its LoRA was tuned on
        stages["LoRA-tuned LLM"] = LLMReranker.tuned(tuned_language_model(run, str(args.tuned)),
                                                     item_names(run.catalog), candidates=LLM_CANDIDATES)
    scores, seconds = {}, {}
    for label, stage in stages.items():
        started = time.perf_counter()
        scores[label] = np.vstack([stage.lm_scores(Candidates(candidates.items[i:i + 1], candidates.scores[i:i + 1]),
                                                   histories.rows([i])) for i in range(len(rows))])
        seconds[label] = (time.perf_counter() - started) / len(rows)

    def ndcg10(items: np.ndarray) -> np.ndarray:
        return ndcg(hit_matrix(items[:, :10], targets.indptr, targets.items, 10), targets.lengths, 10)

    base = ndcg10(candidates.items)
    recall20 = hit_matrix(candidates.items, targets.indptr, targets.items, LLM_CANDIDATES).sum(1) / np.maximum(
        targets.lengths, 1)
    result = {"retriever alone": {"ndcg@10": float(base.mean())}}
    per_user = {}
    for name, lm in scores.items():
        for weight in WEIGHTS:
            items = ordered(candidates, blend(candidates, lm, weight)).items
            values = ndcg10(items)
            label = f"{name} order alone" if weight is None else f"retriever + {weight:g} x {name} (z-scored)"
            per_user[label] = values
            result[label] = {"ndcg@10": float(values.mean()), "vs_retriever": paired_test(values, base)}
            plain = label.replace("LoRA-tuned LLM", "LLM")
            if plain != label:
                result[label]["vs_plain_llm"] = paired_test(values, per_user[plain])
    record = {"name": args.name, "run": str(args.run), "model": run.meta.get("model"), "users": len(rows),
              "random_users": bool(args.random), "tuned": str(args.tuned) if args.tuned else None,
              "split": run.meta["split"]["fingerprint"], "candidates": LLM_CANDIDATES,
              "ceiling_recall@20": float(recall20.mean()), "seconds_per_user": seconds, "rows": result,
              "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
              "environment": environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / f"{args.name}.md").write_text(markdown(record))
    print(markdown(record))


def markdown(record: dict) -> str:
    which = (f"{record['users']} test users drawn at random (`lmrec evaluate --users {record['users']}` draws the "
             "same)" if record.get("random_users") else f"the first {record['users']} test users")
    timing = ", ".join(f"{label} {1000 * s:.0f} ms" for label, s in record["seconds_per_user"].items())
    tuned = (f" LoRA-tuned LLM: the generator of `{record['tuned']}` (llm-gen, LoRA on the training split's "
             "history -> next title pairs), the LM `--rerank llm:RUN` loads." if record.get("tuned") else "")
    lines = [f"# LLM re-ranking on {record['name']}", "",
             f"Retriever: `{record['run']}` ({record['model']}); {which}, the same for every row; the LM "
             f"(SmolLM2-135M-Instruct, offline) re-orders the top {record['candidates']}.{tuned} Ceiling: "
             f"the retriever's recall@{record['candidates']} = {record['ceiling_recall@20']:.4f}. LM time per user "
             f"(1 thread): {timing}. Load average {record['load_before']} before, {record['load_after']} after.", "",
             "| ranking | NDCG@10 | vs retriever | p | vs plain LLM | p |", "|---|---|---|---|---|---|"]
    for label, row in record["rows"].items():
        vs, plain = row.get("vs_retriever"), row.get("vs_plain_llm")
        lines.append(f"| {label} | {row['ndcg@10']:.4f} | " + (f"{vs['mean_diff']:+.4f} | {vs['p_value']:.2g} |"
                                                             if vs else " | |")
                     + (f" {plain['mean_diff']:+.4f} | {plain['p_value']:.2g} |" if plain else " | |"))
    extra = (" --random" if record.get("random_users") else "") + (" --tuned GEN_RUN" if record.get("tuned") else "")
    lines += ["", f"Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/llm_rerank.py RUN --name {record['name']} "
              f"--users {record['users']}{extra}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
