"""Recompute a run's accuracy metrics from its CSV files, independently of lmrec.eval, and compare.

    python bench/recompute_metrics.py RUN_DIR [--split test] [--tol 1e-9]

Reads RUN_DIR/recommendations.csv (user_id,item_id,rank,score; rank 1-based) and RUN_DIR/targets.csv
(user_id,item_id), recomputes HR, Recall, Precision, NDCG, MRR and MAP at every K named in
RUN_DIR/metrics.json[split] with pandas group-bys (a second implementation, sharing no code with lmrec.eval),
prints a table and exits 1 if any value differs by more than the tolerance. Users are those in targets.csv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

METRIC = re.compile(r"^(hr|recall|precision|ndcg|mrr|map)@(\d+)$")


def recompute(recs: pd.DataFrame, targets: pd.DataFrame, k: int) -> dict[str, float]:
    """Mean HR/Recall/Precision/NDCG/MRR/MAP@k over the users in `targets`."""
    targets = targets.drop_duplicates(["user_id", "item_id"])
    users = pd.Index(targets["user_id"].unique(), name="user_id")
    n_targets = targets.groupby("user_id").size().reindex(users)
    top = recs[recs["rank"] <= k]
    hits = top.merge(targets, on=["user_id", "item_id"]).sort_values(["user_id", "rank"])
    hits["found_so_far"] = hits.groupby("user_id").cumcount() + 1
    by_user = hits.groupby("user_id")
    n_hits = by_user.size().reindex(users, fill_value=0)
    dcg = (1.0 / np.log2(hits["rank"] + 1.0)).groupby(hits["user_id"]).sum().reindex(users, fill_value=0.0)
    first = by_user["rank"].min().reindex(users)
    precision_at_hits = (hits["found_so_far"] / hits["rank"]).groupby(hits["user_id"]).sum()
    ideal_hits = np.minimum(n_targets, k)
    ideal_dcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])[ideal_hits.to_numpy()]
    per_user = {
        "hr": (n_hits > 0).astype(float),
        "recall": n_hits / n_targets,
        "precision": n_hits / k,
        "ndcg": dcg / ideal_dcg,
        "mrr": (1.0 / first).fillna(0.0),
        "map": precision_at_hits.reindex(users, fill_value=0.0) / ideal_hits,
    }
    return {f"{name}@{k}": float(values.mean()) for name, values in per_user.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--split", default="test", help="key of metrics.json to compare with (default: test)")
    parser.add_argument("--tol", type=float, default=1e-9)
    args = parser.parse_args(argv)
    reported = json.loads((args.run_dir / "metrics.json").read_text())[args.split]
    read = dict(dtype={"user_id": str, "item_id": str}, keep_default_na=False)
    recs = pd.read_csv(args.run_dir / "recommendations.csv", **read)
    targets = pd.read_csv(args.run_dir / "targets.csv", **read)
    keys = sorted((k for k in reported if METRIC.match(k)), key=lambda k: (int(k.split("@")[1]), k))
    if not keys:
        print(f"metrics.json[{args.split!r}] names no accuracy metric", file=sys.stderr)
        return 1
    if not recs["rank"].max() >= max(int(k.split("@")[1]) for k in keys):
        print("warning: no list in recommendations.csv reaches the largest K in metrics.json (tiny catalogue "
              "or lists written too short?)", file=sys.stderr)
    recomputed: dict[str, float] = {}
    for k in sorted({int(key.split("@")[1]) for key in keys}):
        recomputed.update(recompute(recs, targets, k))
    failed = False
    print(f"{'metric':<14}{'metrics.json':>16}{'recomputed':>16}{'abs diff':>12}")
    for key in keys:
        mine, theirs = recomputed[key], reported[key]
        diff = abs(mine - theirs) if theirs is not None else float("inf")
        bad = not diff <= args.tol
        failed |= bad
        shown = "null" if theirs is None else f"{theirs:.10f}"
        print(f"{key:<14}{shown:>16}{mine:>16.10f}{diff:>12.2e}{'  MISMATCH' if bad else ''}")
    print(f"{targets['user_id'].nunique()} users, {len(targets)} targets; "
          f"{'MISMATCH' if failed else 'all agree'} (tolerance {args.tol:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
