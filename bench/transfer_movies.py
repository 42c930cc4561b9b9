"""Zero-shot into MovieLens-100K from other catalogues (a hard case, reported as measured), through the CLI.

Sources: ml-latest-small (movies, different users and era), Amazon Office 2014 (another domain), and both at once
("MovieLens + Office"). Target: ml-100k, per-user leave-one-out, full ranking, history masked, beside popularity
fitted on ml-100k's own training data.

    LMREC_DATA_DIR=../shared/data python bench/transfer_movies.py --out bench/results/transfer-movies
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cli_steps import lmrec  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/transfer-movies")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LMREC_DATA_DIR", "../shared/data")))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    runs, data = (args.out / "runs").resolve(), args.data.resolve()
    office = ["--interactions", str(data / "amazon-office-2014/interactions.csv"),
              "--items", str(data / "amazon-office-2014/items.csv"), "--order-col", "seq"]
    sources = {"ml-latest-small": ["--dataset", "ml-latest-small"], "office": office,
               "ml-latest-small + office": ["--dataset", "ml-latest-small", *office]}
    target = ["--dataset", "ml-100k", "--data-dir", str(data)]
    t = args.threads
    rows = {}
    pop = runs / "pop"
    if not (pop / "metrics.json").is_file():
        lmrec("fit", "--model", "pop", *target, "--out", str(pop), threads=t)
        lmrec("evaluate", str(pop), "-k", "10", threads=t)
    for name, source in sources.items():
        slug = name.replace(" + ", "+")
        checkpoint, run = runs / f"pre-{slug}", runs / f"zs-{slug}"
        if not (checkpoint / "meta.json").is_file():
            lmrec("pretrain", *source, "--data-dir", str(data), "--out", str(checkpoint), threads=t)
        if not (run / "metrics.json").is_file():
            lmrec("zero-shot", str(checkpoint), *target, "--out", str(run), "-k", "10", threads=t)
        rows[name] = (json.loads((run / "metrics.json").read_text())["test"],
                      json.loads((checkpoint / "meta.json").read_text()))
    base = json.loads((pop / "metrics.json").read_text())["test"]
    lines = ["# Zero-shot into MovieLens-100K", "", f"Command: `python {' '.join(sys.argv)}` (each step a `lmrec` "
             f"CLI call, OMP_NUM_THREADS={t}). Target: ml-100k, 943 users, leave-one-out, full ranking.", "",
             "| source (pre-trained on) | NDCG@10 [95% CI] | HR@10 | / pop | pre-train (s) | best valid NDCG@10 |",
             "|---|---|---|---|---|---|",
             f"| pop (fitted on ml-100k itself) | {base['ndcg@10']:.4f} [{base['ci']['ndcg@10'][0]:.4f}, "
             f"{base['ci']['ndcg@10'][1]:.4f}] | {base['hr@10']:.4f} | 1.00 | | |"]
    for name, (metrics, meta) in rows.items():
        lo, hi = metrics["ci"]["ndcg@10"]
        lines.append(f"| {name} | {metrics['ndcg@10']:.4f} [{lo:.4f}, {hi:.4f}] | {metrics['hr@10']:.4f} | "
                     f"{metrics['ndcg@10'] / base['ndcg@10']:.2f} | {meta['fit_seconds']:.0f} | "
                     f"{meta['fit_log']['best_valid']:.4f} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
