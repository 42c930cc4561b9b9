"""Distillation: the teacher and its students side by side: parameters (language model included), weights on
disk, scoring latency (batch of 1 and of 256 test histories, median of repeats, one thread, warm item-table
cache) and test NDCG@10 with its CI and the paired t-test against the teacher.

    .venv/bin/lmrec distill runs/fused --out runs/student                 # with the teacher
    .venv/bin/lmrec distill runs/fused --out runs/student-alone --weight 0  # same student, no teacher
    .venv/bin/python bench/distill.py runs/fused runs/student runs/student-alone --label amazon-office

Writes bench/results/distill/<label>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.models.base import WEIGHTS
from lmrec.pipeline import load_run
from lmrec.pipeline.distill import parameter_count
from lmrec.provenance import environment

ROOT = Path(__file__).resolve().parents[1]


def latency_ms(model, histories, repeats: int) -> float:
    model.score(histories)  # warm: the item table is computed once per weights
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.score(histories)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="TEACHER_RUN STUDENT_RUN ...")
    parser.add_argument("--label", default="distill")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/distill")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows, teacher_ndcg, per_user = [], None, []
    for directory in args.runs:
        run = load_run(directory)
        test = run.split.test
        one, batch = test.inputs.histories(np.arange(1)), test.inputs.histories(np.arange(min(256, len(test))))
        result = evaluate(run.model, test, n_items=len(run.items), options=EvalOptions(ks=(10,), n_bootstrap=1000))
        ndcg = result.per_user["ndcg@10"]
        teacher_ndcg = ndcg if teacher_ndcg is None else teacher_ndcg
        per_user.append(ndcg)
        distilled = run.meta.get("distillation") or {}
        rows.append({"run": directory, "model": run.config.model.name,
                     "dim": run.model.config.dim, "layers": run.model.config.layers,
                     "distillation": {k: distilled.get(k) for k in ("weight", "temperature")} if distilled else None,
                     "parameters": parameter_count(run.model),
                     "weights_bytes": (run.run_dir.model / WEIGHTS).stat().st_size,
                     "latency_ms_1": latency_ms(run.model, one, args.repeats),
                     "latency_ms_256": latency_ms(run.model, batch, max(5, args.repeats // 5)),
                     "ndcg@10": float(ndcg.mean()), "ci": list(result.ci["ndcg@10"]),
                     "p_vs_teacher": float(stats.ttest_rel(ndcg, teacher_ndcg).pvalue) if len(rows) else None})
    teacher = rows[0]
    lines = [f"# Distillation: {args.label}", "", f"Command: `{' '.join(['python', *sys.argv])}`  ",
             f"Load average before: {' / '.join(f'{v:.2f}' for v in load_before)}, after: "
             f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}; torch threads 1; versions "
             f"{json.dumps(environment()['versions'])}", "",
             "| run | model | dim x layers | distilled (weight, T) | parameters (LM incl.) | / teacher | weights (KiB) "
             "| ms, 1 history | ms, 256 | / teacher (256) | NDCG@10 [95% CI] | / teacher | p vs teacher |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for row in rows:
        total = row["parameters"]["total"]
        dist = row["distillation"]
        distilled = f"{dist['weight']:g}, {dist['temperature']:g}" if dist else "no"
        p = "" if row["p_vs_teacher"] is None else f"{row['p_vs_teacher']:.2g}"
        lines.append(
            f"| `{Path(row['run']).name}` | {row['model']} | {row['dim']} x {row['layers']} | "
            f"{distilled} | {total:,} | "
            f"{total / teacher['parameters']['total']:.3f} | {row['weights_bytes'] / 1024:.0f} | "
            f"{row['latency_ms_1']:.2f} | {row['latency_ms_256']:.2f} | "
            f"{row['latency_ms_256'] / teacher['latency_ms_256']:.2f} | {row['ndcg@10']:.4f} [{row['ci'][0]:.4f}, "
            f"{row['ci'][1]:.4f}] | {row['ndcg@10'] / teacher['ndcg@10']:.3f} | "
            f"{p} |")
    for i in range(1, len(rows)):
        for j in range(i + 1, len(rows)):
            diff = rows[i]["ndcg@10"] - rows[j]["ndcg@10"]
            lines.append(f"\n`{Path(rows[i]['run']).name}` vs `{Path(rows[j]['run']).name}`: NDCG@10 {diff:+.4f}, "
                         f"paired t-test p = {stats.ttest_rel(per_user[i], per_user[j]).pvalue:.2g}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.label}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / f"{args.label}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
