"""A sparse, text-rich catalogue you can see: Amazon Office 2014 users with at most 8 interactions, each user's items
in a random (seeded) order instead of time order, so that sequence order carries no signal and what is left is
co-occurrence and item text. This is the regime of the held-out sparse Amazon catalogue in issue #11, where EASE
beats the LM-fused SASRec.

Writes the derived files to runs/data/office-sparse/ (git-ignored: the data is never committed) and, unless
--data-only, runs `lmrec benchmark` on them into bench/results/office-sparse (peers with --peers).

    LMREC_DATA_DIR=../shared/data .venv/bin/python bench/sparse_office.py --models pop,ease,itemknn,sasrec,sasrec-fused
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def build(source: Path, out: Path, *, max_events: int, seed: int) -> dict[str, object]:
    """interactions.csv (user_id,item_id,timestamp,seq: seq = the random position) and items.csv of the kept items."""
    events = pd.read_csv(source / "interactions.csv", dtype={"user_id": str, "item_id": str})
    sizes = events.groupby("user_id").size()
    kept = events[events.user_id.isin(sizes[sizes <= max_events].index)].copy()
    rng = np.random.default_rng(seed)
    kept["seq"] = kept.groupby("user_id").cumcount()
    order = kept.groupby("user_id")["seq"].transform(lambda s: rng.permutation(len(s)))
    kept["seq"] = order.to_numpy()
    kept["timestamp"] = kept["seq"]  # time carries no information: the random position is the order
    kept = kept.sort_values(["user_id", "seq"])[["user_id", "item_id", "timestamp", "seq"]]
    items = pd.read_csv(source / "items.csv", dtype={"item_id": str})
    items = items[items.item_id.isin(kept.item_id.unique())]
    out.mkdir(parents=True, exist_ok=True)
    kept.to_csv(out / "interactions.csv", index=False)
    items.to_csv(out / "items.csv", index=False)
    digest = hashlib.sha256((out / "interactions.csv").read_bytes()).hexdigest()
    return {"users": int(kept.user_id.nunique()), "items": int(len(items)), "interactions": int(len(kept)),
            "sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("LMREC_DATA_DIR", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--max-events", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="pop,itemknn,ease,lm-content,hybrid-lm,sasrec,sasrec-text,sasrec-fused")
    parser.add_argument("--peers", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "office-sparse")
    parser.add_argument("--data-only", action="store_true")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    data = REPO / "runs" / "data" / "office-sparse"
    stats = build(Path(args.data_dir) / "amazon-office-2014", data, max_events=args.max_events, seed=args.seed)
    print(f"office-sparse: {stats}")
    if args.data_only:
        return
    command = [sys.executable, "-m", "lmrec.cli", "benchmark", "--interactions", str(data / "interactions.csv"),
               "--items", str(data / "items.csv"), "--order-col", "seq", "--models", args.models, "--baseline",
               "ease", "--quiet", "--out", str(args.out)]
    command += ["--peers", args.peers] if args.peers else []
    command += ["--jobs", str(args.jobs)] + (["--threads", str(args.threads)] if args.threads else [])
    for pair in args.sets:
        command += ["--set", pair]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
