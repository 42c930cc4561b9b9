"""Adversarial training against perturbation: NDCG@10 vs eps for a normally and an adversarially trained model of
each dataset, under random noise and under the FGSM worst case on the training loss, in one plot; plus the
clean NDCG@10 of both with the paired t-test between them (same test users).

    .venv/bin/lmrec fit -d ml-100k -m sasrec-fused --out runs/ml-fused
    .venv/bin/lmrec fit -d ml-100k -m sasrec-fused --set model.train.adversarial.eps=0.1 --out runs/ml-fused-adv
    .venv/bin/python bench/robustness.py ml-100k=runs/ml-fused,runs/ml-fused-adv [office=RUN,RUN] --eps 0,0.1,0.2

Writes bench/results/robustness/perturbation.md and perturbation.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from lmrec.eval.evaluate import EvalOptions, evaluate  # noqa: E402
from lmrec.pipeline import load_run  # noqa: E402
from lmrec.pipeline.robustness import perturbation_report  # noqa: E402
from lmrec.provenance import environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="LABEL=NORMAL_RUN,ADVERSARIAL_RUN")
    parser.add_argument("--eps", default="0,0.05,0.1,0.2,0.3,0.5")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/robustness")
    args = parser.parse_args()
    eps = [float(e) for e in args.eps.split(",")]
    load_before = os.getloadavg()
    figure, axes = plt.subplots(1, len(args.pairs), figsize=(5.5 * len(args.pairs), 4), squeeze=False)
    lines = ["# Adversarial training: NDCG@10 under perturbation", "",
             f"Command: `{' '.join(['python', *sys.argv])}`  ",
             f"Load average before: {' / '.join(f'{v:.2f}' for v in load_before)}", ""]
    for axis, pair in zip(axes[0], args.pairs, strict=True):
        label, runs = pair.split("=", 1)
        normal_dir, adversarial_dir = runs.split(",")
        curves, clean = {}, {}
        lines.append("")
        for name, directory in (("normal", normal_dir), ("adversarial", adversarial_dir)):
            run = load_run(directory)
            train = run.model.config.train.adversarial
            curves[name] = perturbation_report(run, eps=eps, kinds=("random", "adversarial"))
            clean[name] = evaluate(run.model, run.split.test, n_items=len(run.items),
                                   options=EvalOptions(ks=(10,), n_bootstrap=1000))
            lines.append(f"- {label} {name}: `{directory}` ({run.config.model.name}, train.adversarial eps "
                         f"{train.eps}, weight {train.weight}, steps {train.steps}, parts {list(train.parts)}; "
                         f"fit {run.meta.get('fit_seconds', float('nan')):.0f} s)")
        a, b = clean["normal"].per_user["ndcg@10"], clean["adversarial"].per_user["ndcg@10"]
        p = stats.ttest_rel(b, a).pvalue
        lines += ["", f"## {label}", "",
                  f"Clean test NDCG@10: normal {a.mean():.4f} [{clean['normal'].ci['ndcg@10'][0]:.4f}, "
                  f"{clean['normal'].ci['ndcg@10'][1]:.4f}], adversarial {b.mean():.4f} "
                  f"[{clean['adversarial'].ci['ndcg@10'][0]:.4f}, {clean['adversarial'].ci['ndcg@10'][1]:.4f}]; "
                  f"paired t-test p = {p:.3g} over {len(a)} users.", "",
                  "| perturbation | eps | normal | adversarial | adversarial / normal |", "|---|---:|---:|---:|---:|"]
        for kind, style in (("random", ":"), ("adversarial", "-")):
            for name, colour in (("normal", "tab:blue"), ("adversarial", "tab:red")):
                rows = [r for r in curves[name] if r["kind"] == kind]
                axis.plot([r["eps"] for r in rows], [r["ndcg@10"] for r in rows], style, color=colour, marker="o",
                          label=f"{name} training, {'FGSM' if kind == 'adversarial' else 'random'} perturbation")
            for n, m in zip((r for r in curves["normal"] if r["kind"] == kind),
                            (r for r in curves["adversarial"] if r["kind"] == kind), strict=True):
                lines.append(f"| {'FGSM' if kind == 'adversarial' else 'random'} | {n['eps']:g} | "
                             f"{n['ndcg@10']:.4f} | {m['ndcg@10']:.4f} | {m['ndcg@10'] / n['ndcg@10']:.2f} |")
        axis.set(title=label, xlabel="eps (relative to each vector's length)", ylabel="test NDCG@10")
        axis.legend(fontsize=7)
        (args.out / f"{label}.json").parent.mkdir(parents=True, exist_ok=True)
        (args.out / f"{label}.json").write_text(json.dumps(curves, indent=1))
    figure.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "perturbation.png", dpi=120)
    env = environment()
    lines += ["", f"Load average after: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}; versions: "
              f"{json.dumps(env['versions'])}", "", "![NDCG@10 vs eps](perturbation.png)", ""]
    (args.out / "perturbation.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
