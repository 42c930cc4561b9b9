"""The shilling table from a `lmrec robustness RUN --attack random,average,bandwagon,sequence` report: per attack
the undefended and defended model's honest NDCG@10 (with CI) and the targets' HR@10, the rise the attack bought,
the share of it the defence removed, and the detector's precision/recall.

    .venv/bin/python bench/shilling_report.py RUN/robustness.json --label ml-100k

Writes bench/results/robustness/shilling-<label>.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--label", default="ml-100k")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/robustness")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    shilling = report["shilling"]
    rows = shilling["rows"]
    clean = next(r for r in rows if r["attack"] == "none" and r["defence"] == "none")
    lines = [f"# Shilling attacks: {args.label}", "", f"Command: `{' '.join(['python', *sys.argv])}` on "
             f"`{report['run']}` (seed {report['seed']}); fake profiles: {shilling['share']:.0%} of the real users, "
             f"each ending with all {len(clean['targets'])} target items {clean['targets']}.", "",
             "| attack | defence | fake profiles | honest NDCG@10 [95% CI] | target HR@10 | rise over clean | "
             "removed by the defence | target rank (share above) | rank gain removed | detector P / R (flagged) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        rise = row["exposure"] - clean["exposure"]
        removed = shilling["removed_exposure"].get(row["attack"]) if row["defence"] != "none" else None
        found = row.get("detection")
        detector = f"{found['precision']:.2f} / {found['recall']:.2f} ({found['flagged']})" if found else ""
        share = "" if removed is None else f"{removed:.0%}"
        attacked = next(r for r in rows if r["attack"] == row["attack"] and r["defence"] == "none")
        gain = clean["target_rank"] - attacked["target_rank"]  # lower rank = more exposed
        rank_removed = ("" if row["defence"] == "none" or gain <= 0 else
                        f"{(row['target_rank'] - attacked['target_rank']) / gain:.0%}")
        lines.append(
            f"| {row['attack']} | {row['defence']} | {row['fake_profiles']} | {row['ndcg@10']:.4f} "
            f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}] | {row['exposure']:.4f} | {rise:+.4f} | "
            f"{share} | {row['target_rank']:.4f} | {rank_removed} | {detector} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"shilling-{args.label}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
