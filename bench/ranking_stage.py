"""The ranking stage (issue #12, target 4): a retriever's top N re-ordered by `dcn`, measured two ways on Amazon
Office 2014:
- full ranking over every item (the project's protocol): retriever alone vs retriever + ranker, paired t-test;
- "sampled candidates": each test user's target among the 99 fixed negatives of the dataset's test.csv (the
  impressions the paper-comparison protocol uses), AUC and NDCG@10 within those 100, for the ranker and the
  retriever. These are NOT impressions a user saw; the column says so.

    lmrec fit -d amazon-office-2014 -m sasrec-fused --out runs/office-fused
    lmrec fit -d amazon-office-2014 -m dcn --out runs/office-dcn
    OMP_NUM_THREADS=1 .venv/bin/python bench/ranking_stage.py runs/office-fused runs/office-dcn \
        --negatives ../shared/data/amazon-office-2014

Writes bench/results/ranking/amazon-office.md and .json.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.stats import paired_test
from lmrec.eval.tasks import EventPairs, evaluate_clicks
from lmrec.metrics import hit_matrix, ndcg
from lmrec.pipeline import load_run
from lmrec.pipeline.evaluate import ranking_stage
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]


def fixed_candidates(folder: Path, run) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, candidates [R, 100] with the target first) from test.csv, in the run's dense indices."""
    asin = pd.read_csv(folder / "Office.item2index", sep="\t", header=None, names=["asin", "index"])
    to_asin = dict(zip(asin["index"].astype(int), asin["asin"], strict=True))
    test = pd.read_csv(folder / "test.csv", sep="\t")
    row_of = {int(u): r for r, u in enumerate(run.split.test.users)}
    rows, candidates = [], []
    for user, item, negatives in zip(test["user_id"], test["item_id"], test["neg_items"], strict=True):
        dense_user = run.users.index(f"u{user}")
        if dense_user not in row_of:
            continue
        items = [item, *ast.literal_eval(negatives)]
        candidates.append(run.items.indices(to_asin[int(i)] for i in items))
        rows.append(row_of[dense_user])
    return np.asarray(rows), np.stack(candidates)


def sampled_metrics(scores: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(mean AUC, mean NDCG@10, per-user NDCG@10) when column 0 is the target among the candidates."""
    target = scores[:, :1]
    auc = ((scores[:, 1:] < target).mean(1) + 0.5 * (scores[:, 1:] == target).mean(1))
    order = np.argsort(-scores, axis=1, kind="stable")
    hits = hit_matrix(order[:, :10], np.arange(len(scores) + 1), np.zeros(len(scores), np.int64), 10)
    per_user = ndcg(hits, np.ones(len(scores), np.int64), 10)
    return float(auc.mean()), float(per_user.mean()), per_user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("retriever")
    parser.add_argument("ranker")
    parser.add_argument("--negatives", type=Path, default=ROOT.parent / "shared/data/amazon-office-2014")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--label", default="amazon-office")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/ranking")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    run, ranker = load_run(args.retriever), load_run(args.ranker)
    stage = ranking_stage(run, ranker, args.candidates, "auto")  # the weight chosen on validation
    reorder = ranking_stage(run, ranker, args.candidates, "alone")  # the top N in the ranker's order alone
    options = EvalOptions(ks=(10,))
    n_items = len(run.items)
    alone = evaluate(run.model, run.split.test, n_items=n_items, options=options)
    both = evaluate(run.model, run.split.test, n_items=n_items, options=options, stages=(stage,))
    reordered = evaluate(run.model, run.split.test, n_items=n_items, options=options, stages=(reorder,))
    ranker_alone = evaluate(ranker.model, run.split.test, n_items=n_items, options=options)
    test = paired_test(both.per_user["ndcg@10"], alone.per_user["ndcg@10"])
    test_reorder = paired_test(reordered.per_user["ndcg@10"], alone.per_user["ndcg@10"])
    rows, candidates = fixed_candidates(args.negatives, run)
    histories = run.split.test.histories(rows)
    with torch.inference_mode():
        retriever_scores = np.take_along_axis(run.model.score(histories).float().numpy(), candidates, axis=1)
    ranker_scores = ranker.model.score_candidates(histories, candidates)
    r_auc, r_ndcg, r_per = sampled_metrics(retriever_scores)
    k_auc, k_ndcg, k_per = sampled_metrics(ranker_scores)
    clicks = evaluate_clicks(ranker.model, event_pairs_from_run(run), n_items=n_items)
    record = {
        "retriever": {"run": args.retriever, "model": run.meta["model"]},
        "ranker": {"run": args.ranker, "model": ranker.meta["model"],
                   "features": ranker.meta.get("fit_log", {}).get("features")},
        "candidates": args.candidates, "split_fingerprint": run.meta["split"]["fingerprint"],
        "dataset_digest": run.meta["dataset"]["digest"], "test_users": len(run.split.test),
        "full_ranking": {
            "retriever": {"ndcg@10": alone.metrics["ndcg@10"], "ci": list(alone.ci["ndcg@10"])},
            "retriever+ranker": {"ndcg@10": both.metrics["ndcg@10"], "ci": list(both.ci["ndcg@10"]),
                                 "diff": test["mean_diff"], "p": test["p_value"], "weight": stage.weight,
                                 "validation_search": stage.search},
            "retriever+ranker order": {"ndcg@10": reordered.metrics["ndcg@10"], "ci": list(reordered.ci["ndcg@10"]),
                                       "diff": test_reorder["mean_diff"], "p": test_reorder["p_value"]},
            "ranker alone": {"ndcg@10": ranker_alone.metrics["ndcg@10"], "ci": list(ranker_alone.ci["ndcg@10"])}},
        "sampled_candidates": {
            "users": int(len(rows)),
            "retriever": {"auc": r_auc, "ndcg@10": r_ndcg},
            "ranker": {"auc": k_auc, "ndcg@10": k_ndcg,
                       "p_ndcg_vs_retriever": paired_test(k_per, r_per)["p_value"]}},
        "clicks_uniform_negative": clicks,
        "load_average": {"before": load_before, "after": os.getloadavg()}, **environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.label}.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / f"{args.label}.md").write_text(markdown(record, args))
    print(markdown(record, args))


def event_pairs_from_run(run) -> EventPairs:
    """Each test user's (leave-one-out) target as one event to predict."""
    targets = run.split.test.targets
    rows = np.arange(len(run.split.test))
    return EventPairs(run.split, rows, targets.items[targets.indptr[:-1]], np.full(len(rows), np.nan))


def markdown(record: dict, args) -> str:
    full, sampled = record["full_ranking"], record["sampled_candidates"]
    fr = lambda r: f"{r['ndcg@10']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]"  # noqa: E731
    lines = [f"# Two-stage ranking on {args.label}: {record['retriever']['model']} retrieves, "
             f"{record['ranker']['model']} re-orders its top {record['candidates']}",
             "",
             f"Leave-one-out by time, {record['test_users']} test users, split `{record['split_fingerprint']}`. "
             f"Ranker features: {record['ranker']['features']}.",
             "",
             "| | full ranking NDCG@10 (all items) | sampled candidates AUC | sampled candidates NDCG@10 |",
             "|---|---|---|---|",
             f"| {record['retriever']['model']} (retriever alone) | {fr(full['retriever'])} | "
             f"{sampled['retriever']['auc']:.4f} | {sampled['retriever']['ndcg@10']:.4f} |",
             f"| + {record['ranker']['model']} on its top {record['candidates']}, z(retriever) + "
             f"{full['retriever+ranker']['weight']} z(ranker) (weight chosen on validation) | "
             f"{fr(full['retriever+ranker'])} (Δ {full['retriever+ranker']['diff']:+.4f}, "
             f"p = {full['retriever+ranker']['p']:.3g}) | - | - |",
             f"| + {record['ranker']['model']}'s order alone on that top {record['candidates']} | "
             f"{fr(full['retriever+ranker order'])} (Δ {full['retriever+ranker order']['diff']:+.4f}, "
             f"p = {full['retriever+ranker order']['p']:.3g}) | - | - |",
             f"| {record['ranker']['model']} alone | {fr(full['ranker alone'])} | {sampled['ranker']['auc']:.4f} | "
             f"{sampled['ranker']['ndcg@10']:.4f} (p vs retriever {sampled['ranker']['p_ndcg_vs_retriever']:.3g}) |",
             "",
             f"Validation NDCG@10 by weight: {full['retriever+ranker']['validation_search']}.",
             "",
             f"Sampled candidates: each of {sampled['users']} test users' target among the 99 fixed negatives of the "
             "dataset's test.csv (a paper-comparison protocol; these are sampled items, not impressions the user "
             "saw). Click head against one uniform item per test event: AUC "
             f"{record['clicks_uniform_negative']['auc']:.4f}, log-loss "
             f"{record['clicks_uniform_negative']['log_loss']:.4f}.",
             "",
             f"Load average before/after: {record['load_average']['before'][0]:.2f} / "
             f"{record['load_average']['after'][0]:.2f}; {record['platform']}.", "",
             "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/ranking_stage.py "
             f"{record['retriever']['run']} {record['ranker']['run']} --candidates {record['candidates']}` (the "
             "retriever and ranker commands are in this script's docstring).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
