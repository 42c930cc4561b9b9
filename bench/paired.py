"""Paired comparisons of evaluated runs on one split as a markdown table (an ablation's "what carries the gain").

    python bench/paired.py RUN_A:RUN_B [RUN_A:RUN_B ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmrec.pipeline.compare import compare_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", help="BASE_RUN:CANDIDATE_RUN (evaluated run directories)")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = [f"Command: `python bench/paired.py {' '.join(sys.argv[1:])}`; paired t-test over the same test users.",
             "", f"| base | candidate | {args.metric} base | candidate | change | p |", "|---|---|---|---|---|---|"]
    for pair in args.pairs:
        base, _, candidate = pair.partition(":")
        r = compare_runs(base, candidate, metric=args.metric)
        lines.append(f"| {Path(base).name} | {Path(candidate).name} | {r['mean_a']:.4f} | {r['mean_b']:.4f} | "
                     f"{r['mean_b'] / r['mean_a'] - 1:+.1%} | {r['p_value']:.2g} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
