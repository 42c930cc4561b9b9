"""Cold users (issue #12, target 2): users first seen after a global time cut, served with 0 and with 1 of their
interactions, NDCG@10 with 95% bootstrap CIs and paired t-tests against popularity. What a model may know about
a cold user is their attributes (demographics); nothing they did after the cut is trained on.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cold_users.py --dataset ml-100k \
        --models pop,pop-demo,sasrec-fused,sasrec-attr

Writes bench/results/cold_users/<dataset>.md and .json (config, data digest, environment, per-setting figures).
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
from lmrec.data.split import SplitConfig
from lmrec.eval.coldusers import cold_user_data
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.stats import paired_test
from lmrec.models.capabilities import UserAttributes, supports
from lmrec.models.registry import get_model
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", default="pop,pop-demo,sasrec-fused,sasrec-attr")
    parser.add_argument("--test-quantile", type=float, default=0.8)
    parser.add_argument("--valid-quantile", type=float, default=0.7)
    parser.add_argument("--shots", default="0,1")
    parser.add_argument("--baseline", default="pop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cold_users")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    dataset = load_data(DataConfig(dataset=args.dataset))
    split_config = SplitConfig(method="global_time", test_quantile=args.test_quantile,
                               valid_quantile=args.valid_quantile)
    shots = tuple(int(s) for s in args.shots.split(","))
    data = cold_user_data(dataset, split_config, shots=shots)
    options = EvalOptions(ks=(10,), seed=args.seed)
    results: dict[str, dict[int, dict]] = {}
    per_user: dict[tuple[str, int], np.ndarray] = {}
    for name in args.models.split(","):
        model = get_model(name).create({"train": {"seed": args.seed}} if "sasrec" in name else None)
        if supports(model, UserAttributes):
            model.fit_user_attributes(dataset.user_attributes)
        started = time.perf_counter()
        model.fit(data.split.train, valid=data.split.valid, catalog=dataset.catalog)
        fit_seconds = time.perf_counter() - started
        results[name] = {}
        for n, holdout in data.holdouts.items():
            result = evaluate(model, holdout, n_items=dataset.n_items, options=options)
            per_user[name, n] = result.per_user["ndcg@10"]
            results[name][n] = {"ndcg@10": result.metrics["ndcg@10"], "ci": list(result.ci["ndcg@10"]),
                                "hr@10": result.metrics["hr@10"], "users": result.n_users,
                                "fit_seconds": round(fit_seconds, 1)}
        print(name, {n: round(r["ndcg@10"], 4) for n, r in results[name].items()}, flush=True)
    for (name, n), values in per_user.items():
        if name != args.baseline and (args.baseline, n) in per_user:
            test = paired_test(values, per_user[args.baseline, n])
            results[name][n]["vs_baseline_p"] = float(test["p_value"])
    record = {"dataset": {**dataset.stats(), "digest": dataset.digest()}, "split": vars(split_config),
              "cut": data.cut, "counts": data.counts(), "shots": list(shots), "models": args.models.split(","),
              "baseline": args.baseline, "seed": args.seed, "results": results,
              "load_average": {"before": load_before, "after": os.getloadavg()}, **environment()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps(record, indent=2, default=str))
    (args.out / f"{args.dataset}.md").write_text(markdown(record))
    print(markdown(record))


def markdown(record: dict) -> str:
    shots = record["shots"]
    lines = [f"# Cold users on {record['dataset']['name']}: first seen after the cut",
             "",
             f"Global time split (test from the {record['split']['test_quantile']} quantile of time, validation "
             f"from {record['split']['valid_quantile']}); {record['counts']['cold_users']} users whose first "
             f"interaction is after the test cut, each served with their first n interactions (n = "
             f"{', '.join(map(str, shots))}) and asked for the distinct items they went on to choose. Full ranking "
             f"over all {record['dataset']['items']} items; NDCG@10 with 95% bootstrap CIs; p: paired t-test "
             f"against `{record['baseline']}` on the same users. Models train on events before the validation "
             "cut; what they know about a cold user is their attributes.",
             "",
             "| model | " + " | ".join(f"NDCG@10, n={n} | p vs {record['baseline']}" for n in shots) + " |",
             "|---|" + "---|---|" * len(shots)]
    for name, by_shot in record["results"].items():
        cells = []
        for n in shots:
            r = by_shot[str(n)] if str(n) in by_shot else by_shot[n]
            lo, hi = r["ci"]
            p = r.get("vs_baseline_p")
            cells += [f"{r['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}]", "-" if p is None else f"{p:.3g}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    load = record["load_average"]
    lines += ["", f"Load average before/after: {load['before'][0]:.2f} / {load['after'][0]:.2f}; "
              f"{record['platform']}; seed {record['seed']}.",
              "", "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/cold_users.py --dataset "
              f"{record['dataset']['name']} --models {','.join(record['models'])}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
