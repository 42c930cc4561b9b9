"""Train a RecTools 0.19 transformer (SASRec or BERT4Rec) on an exchange folder lmrec wrote, choose its config from a
small grid and its epochs on validation NDCG@10, and write top-k lists for lmrec to evaluate.

It runs as a script in the peers environment (RecTools needs numpy < 2 and pandas < 3, which lmrec's own
environment does not have) and imports nothing from lmrec: the exchange folder is the whole interface.

    exchange/train.csv          user_id,item_id,position    training events, position = order within the user
    exchange/valid_inputs.csv   the validation query histories (same columns)
    exchange/valid_targets.csv  user_id,item_id             what validation ranks (epoch and config choice)
    exchange/test_inputs.csv    the test query histories
    -> exchange/valid_lists.csv, test_lists.csv   user_id,item_id,rank (1-based, seen items filtered)
    -> exchange/peer.json                         config chosen, epochs, validation curve, seconds, versions

    python lmrec/peers/rectools_run.py --exchange DIR --model sasrec --grid '[{"n_factors": 64}]'
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd


def load(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype={"user_id": str, "item_id": str})


def as_dataset(events: pd.DataFrame):
    from rectools import Columns
    from rectools.dataset import Dataset

    frame = pd.DataFrame({Columns.User: events.user_id, Columns.Item: events.item_id, Columns.Weight: 1.0,
                          Columns.Datetime: pd.to_datetime(events.position.astype(np.int64), unit="s")})
    return Dataset.construct(frame)


def lists(model, users: np.ndarray, dataset, k: int) -> pd.DataFrame:
    """user_id,item_id,rank: the model's top k per user, the query's own items filtered (as lmrec masks them)."""
    recos = model.recommend(users=users, dataset=dataset, k=k, filter_viewed=True)  # Columns.User == "user_id"
    return recos[["user_id", "item_id", "rank"]].astype({"user_id": str, "item_id": str, "rank": int})


def ndcg_at(frame: pd.DataFrame, targets: pd.DataFrame, k: int = 10) -> float:
    """Mean NDCG@k over the target users (binary gains, ideal DCG over min(#targets, k) hits)."""
    wanted = targets.groupby("user_id")["item_id"].apply(set).to_dict()
    top = frame[frame["rank"] <= k]
    dcg = {u: 0.0 for u in wanted}
    for user, item, rank in zip(top.user_id, top.item_id, top["rank"], strict=True):
        if user in wanted and item in wanted[user]:
            dcg[user] += 1.0 / math.log2(rank + 1)
    ideal = {u: sum(1.0 / math.log2(i + 2) for i in range(min(len(t), k))) for u, t in wanted.items()}
    return float(np.mean([dcg[u] / ideal[u] for u in wanted])) if wanted else 0.0


def build(kind: str, params: dict, seed: int):
    import torch
    from rectools.models import BERT4RecModel, SASRecModel

    torch.manual_seed(seed)
    cls = SASRecModel if kind == "sasrec" else BERT4RecModel
    return cls(**{"epochs": 1, "deterministic": True, "verbose": 0, **params})


def select_epochs(kind: str, params: dict, train, valid_data, valid_users, valid_targets, args) -> dict:
    """Train `eval_every` epochs at a time up to `max_epochs`, keep the best validating weights (patience counted
    in evaluations)."""
    model = build(kind, params, args.seed)
    best, best_state, best_epoch, waited, curve = -1.0, None, 0, 0, []
    started = time.perf_counter()
    for epoch in range(args.eval_every, args.max_epochs + 1, args.eval_every):
        model.fit_partial(train, min_epochs=args.eval_every, max_epochs=args.eval_every)
        score = ndcg_at(lists(model, valid_users, valid_data, 10), valid_targets)
        curve.append({"epoch": epoch, "valid_ndcg@10": score, "seconds": time.perf_counter() - started})
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            best_state = copy.deepcopy(model.lightning_model.state_dict())
        else:
            waited += 1
            if waited > args.patience:
                break
    model.lightning_model.load_state_dict(best_state)
    return {"model": model, "params": params, "valid_ndcg@10": best, "best_epoch": best_epoch,
            "epochs_run": curve[-1]["epoch"], "curve": curve, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchange", type=Path, required=True)
    parser.add_argument("--model", choices=("sasrec", "bert4rec"), required=True)
    parser.add_argument("--grid", default="[{}]", help="JSON list of parameter sets (RecTools keyword arguments)")
    parser.add_argument("--base", default="{}", help="JSON parameters shared by every grid point")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    import rectools
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.exchange
    train = as_dataset(load(folder, "train.csv"))
    valid_inputs, test_inputs = load(folder, "valid_inputs.csv"), load(folder, "test_inputs.csv")
    valid_targets = load(folder, "valid_targets.csv")
    valid_data, test_data = as_dataset(valid_inputs), as_dataset(test_inputs)
    valid_users = valid_targets.user_id.unique()
    started = time.perf_counter()
    base = json.loads(args.base)
    runs = [select_epochs(args.model, {**base, **point}, train, valid_data, valid_users, valid_targets, args)
            for point in json.loads(args.grid)]
    chosen = max(runs, key=lambda r: r["valid_ndcg@10"])
    fit_seconds = time.perf_counter() - started
    model = chosen["model"]
    lists(model, valid_users, valid_data, args.k).to_csv(folder / "valid_lists.csv", index=False)
    lists(model, test_inputs.user_id.unique(), test_data, args.k).to_csv(folder / "test_lists.csv", index=False)
    report = {
        "peer": f"rectools-{args.model}", "chosen": chosen["params"], "best_epoch": chosen["best_epoch"],
        "epochs_run": chosen["epochs_run"], "valid_ndcg@10": chosen["valid_ndcg@10"], "fit_seconds": fit_seconds,
        "grid": [{k: v for k, v in r.items() if k != "model"} for r in runs],
        "selection": {"max_epochs": args.max_epochs, "eval_every": args.eval_every, "patience": args.patience,
                      "metric": "valid ndcg@10", "seed": args.seed},
        "threads": torch.get_num_threads(), "versions": {"rectools": rectools.__version__, "torch": torch.__version__,
                                                         "numpy": np.__version__, "pandas": pd.__version__},
        "pid": os.getpid(),
    }
    (folder / "peer.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
