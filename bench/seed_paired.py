"""A paired comparison over several seeds: each test user's metric averaged over the seeds of each model (same
split), then one paired t-test over users; also the per-seed means and differences, so a seed that carries the
result shows.

    .venv/bin/python bench/seed_paired.py --base OUT0/runs/sasrec-fused OUT1/runs/sasrec-fused ... \
        --candidate OUT0/runs/sasrec-attr OUT1/runs/sasrec-attr ... --out FILE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.eval.stats import paired_test


def per_user(run: Path, metric: str) -> pd.Series:
    frame = pd.read_csv(run / "per_user.csv", dtype={"user_id": str})
    return frame.set_index("user_id")[metric]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", nargs="+", type=Path, required=True)
    parser.add_argument("--candidate", nargs="+", type=Path, required=True)
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    splits = {json.loads((run / "metrics.json").read_text())["split_fingerprint"]
              for run in (*args.base, *args.candidate)}
    if len(splits) != 1:
        sys.exit(f"error: the runs are on {len(splits)} different splits; a paired test needs one")
    base = pd.concat([per_user(r, args.metric) for r in args.base], axis=1)
    cand = pd.concat([per_user(r, args.metric) for r in args.candidate], axis=1).reindex(base.index)
    test = paired_test(cand.mean(axis=1).to_numpy(), base.mean(axis=1).to_numpy())
    lines = [f"Command: `python bench/seed_paired.py {' '.join(sys.argv[1:])}`", "",
             f"| seed run | {args.metric} base | candidate | diff |", "|---|---|---|---|"]
    for i, b in enumerate(args.base[: len(args.candidate)]):
        mb, mc = base.iloc[:, i].mean(), cand.iloc[:, i].mean()
        lines.append(f"| {b.parent.parent.name} | {mb:.4f} | {mc:.4f} | {mc - mb:+.4f} |")
    lines += ["", f"Mean over {len(args.base)} / {len(args.candidate)} seeds, per user, then a paired t-test over "
              f"{len(base)} users: base {base.mean(axis=1).mean():.4f}, candidate {cand.mean(axis=1).mean():.4f}, "
              f"diff {test['mean_diff']:+.4f} [{test['ci'][0]:+.4f}, {test['ci'][1]:+.4f}], p = {test['p_value']:.3g}.",
              ""]
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
