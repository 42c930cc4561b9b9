"""Multi-task heads (issue #12, target 3): RMSE/MAE of predicted ratings under a global temporal split, beside
a user+item-bias baseline and biased MF, plus the click head's AUC/log-loss (the test item against one uniform
item: sampled candidates) and what the extra heads cost or give next-item ranking (NDCG@10 vs plain sasrec).

    OMP_NUM_THREADS=1 .venv/bin/python bench/tasks.py --dataset ml-100k

Writes bench/results/tasks/<dataset>.md and .json (config, data digest, environment).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.data.config import DataConfig, load_data
from lmrec.data.split import SplitConfig, make_split
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.stats import paired_test
from lmrec.eval.tasks import evaluate_clicks, evaluate_ratings, event_pairs
from lmrec.models.capabilities import ClickPredictor, RatingPredictor, supports
from lmrec.models.registry import get_model
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", default="bias,mf-rating,sasrec,sasrec-mtl")
    parser.add_argument("--test-quantile", type=float, default=0.8)
    parser.add_argument("--valid-quantile", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/tasks")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    dataset = load_data(DataConfig(dataset=args.dataset))
    split_config = SplitConfig(method="global_time", test_quantile=args.test_quantile,
                               valid_quantile=args.valid_quantile)
    split = make_split(dataset, split_config)
    pairs = event_pairs(dataset, split)
    results, ndcg = {}, {}
    for name in args.models.split(","):
        model = get_model(name).create({"train": {"seed": args.seed}} if "sasrec" in name else None)
        started = time.perf_counter()
        model.fit(split.train, valid=split.valid, catalog=dataset.catalog)
        row: dict = {"fit_seconds": round(time.perf_counter() - started, 1)}
        if supports(model, RatingPredictor):
            row["ratings"] = evaluate_ratings(model, pairs, seed=args.seed)
        if supports(model, ClickPredictor):
            row["clicks"] = evaluate_clicks(model, pairs, n_items=dataset.n_items, seed=args.seed)
        if "sasrec" in name:
            ranked = evaluate(model, split.test, n_items=dataset.n_items, options=EvalOptions(ks=(10,)))
            ndcg[name] = ranked.per_user["ndcg@10"]
            row["ndcg@10"] = ranked.metrics["ndcg@10"]
            row["ndcg_ci"] = list(ranked.ci["ndcg@10"])
        results[name] = row
        print(name, json.dumps(row, default=float)[:300], flush=True)
    if "sasrec" in ndcg and "sasrec-mtl" in ndcg:
        results["sasrec-mtl"]["ndcg_vs_sasrec_p"] = float(paired_test(ndcg["sasrec-mtl"], ndcg["sasrec"])["p_value"])
    rated = np.isfinite(pairs.values)
    record = {"dataset": {**dataset.stats(), "digest": dataset.digest()}, "split": vars(split_config),
              "split_info": split.info, "split_fingerprint": split.fingerprint(), "test_events": int(rated.sum()),
              "test_users": len(split.test), "models": args.models.split(","), "seed": args.seed,
              "results": results, "load_average": {"before": load_before, "after": os.getloadavg()},
              **environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / f"{args.dataset}.md").write_text(markdown(record))
    print(markdown(record))


def markdown(record: dict) -> str:
    lines = [f"# Ratings and clicks on {record['dataset']['name']}: global temporal split",
             "",
             f"Train before the {record['split']['valid_quantile']} quantile of time, validate to the "
             f"{record['split']['test_quantile']} quantile, test after it: {record['test_events']} rated test "
             f"events of {record['test_users']} users, each predicted from the user's history before the cut "
             "(ratings of the future from the past; most papers quote a random 80/20 split of ratings, where a "
             "user's later ratings help predict earlier ones, and report lower RMSE). 95% bootstrap CIs over "
             "events. Clicks: each test event's item against one item drawn uniformly from the catalogue "
             "(sampled candidates, not impressions).",
             "",
             "| model | RMSE | MAE | click AUC | click log-loss | NDCG@10 (next item) | fit (s) |",
             "|---|---|---|---|---|---|---|"]
    for name, row in record["results"].items():
        r, c = row.get("ratings"), row.get("clicks")
        rating = (f"{r['rmse']:.4f} [{r['ci']['rmse'][0]:.4f}, {r['ci']['rmse'][1]:.4f}]", f"{r['mae']:.4f}"
                  ) if r else ("-", "-")
        click = (f"{c['auc']:.4f}", f"{c['log_loss']:.4f}") if c else ("-", "-")
        rank = "-"
        if "ndcg@10" in row:
            rank = f"{row['ndcg@10']:.4f} [{row['ndcg_ci'][0]:.4f}, {row['ndcg_ci'][1]:.4f}]"
            if "ndcg_vs_sasrec_p" in row:
                rank += f" (p vs sasrec {row['ndcg_vs_sasrec_p']:.3g})"
        lines.append(f"| {name} | {rating[0]} | {rating[1]} | {click[0]} | {click[1]} | {rank} | "
                     f"{row['fit_seconds']} |")
    load = record["load_average"]
    lines += ["", f"Load average before/after: {load['before'][0]:.2f} / {load['after'][0]:.2f}; "
              f"{record['platform']}; seed {record['seed']}; split `{record['split_fingerprint']}`.", "",
              f"Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/tasks.py --dataset {record['dataset']['name']}`",
              ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
