"""Fairness and calibration re-ranking (issue #14, target 2): each re-ranker over a grid of weights on one fitted
run, measured on its test holdout through the same pipeline `lmrec evaluate --rerank` runs.

Per setting: NDCG@10 (and its paired difference to the plain list), coverage, Gini of exposure, miscalibration
(Steck's KL of the list's genre/category mix against the history's), the head/tail exposure gap (the short
head's share of position-discounted exposure minus its share of the catalogue; head = the most popular fifth of
items by training events), and user-side accuracy gaps (NDCG@10 between user groups, when the data has user
attributes: gender, age band). Plus the trade-off curves as a PNG.

    lmrec fit -d ml-100k -m sasrec-fused --out runs/ml-fused
    OMP_NUM_THREADS=1 .venv/bin/python bench/fairness.py runs/ml-fused --name ml-100k

Writes bench/results/fairness/<name>.md, .json (config, data digest, environment) and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.config import load_data
from lmrec.eval.beyond import group_exposure_gini
from lmrec.eval.stats import paired_test
from lmrec.pipeline import load_run
from lmrec.pipeline.config import config_to_dict
from lmrec.pipeline.evaluate import evaluate_loaded
from lmrec.provenance import environment
from lmrec.ranking.exposure import field_groups

ROOT = Path(__file__).resolve().parents[1]
SPECS = ("calibrated:0.2", "calibrated:0.5", "calibrated:0.8", "fair:0.1", "fair:0.2", "fair:0.25", "fair:0.3",
         "fair:0.4", "fair:0.6", "mmr:0.7")
AGE_BANDS = ((0, 25, "<25"), (25, 35, "25-34"), (35, 50, "35-49"), (50, 200, "50+"))


def user_groups(run, dataset) -> dict[str, pd.Series]:
    """Raw user ID -> group label, per attribute the data has (gender; age bands)."""
    frame = dataset.user_attributes
    if frame is None:
        return {}
    frame = frame.set_index(frame["user_id"].astype(str))
    out: dict[str, pd.Series] = {}
    if "gender" in frame.columns:
        out["gender"] = frame["gender"].astype(str)
    if "age" in frame.columns:
        age = pd.to_numeric(frame["age"], errors="coerce")
        bands = pd.Series("unknown", index=frame.index)
        for low, high, label in AGE_BANDS:
            bands[(age >= low) & (age < high)] = label
        out["age"] = bands
    return out


def group_gap(per_user: np.ndarray, raw_users: np.ndarray, groups: pd.Series) -> dict:
    """Mean NDCG@10 per group and the largest difference between two groups."""
    labels = groups.reindex(raw_users).fillna("unknown").to_numpy()
    means = {g: float(per_user[labels == g].mean()) for g in sorted(set(labels)) if g != "unknown"}
    return {"means": means, "gap": max(means.values()) - min(means.values()) if means else float("nan")}


def measure(run, spec: str, groups: dict[str, pd.Series], plain: np.ndarray | None,
            providers: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    started = time.perf_counter()
    evaluation = evaluate_loaded(run, ks=(10,), rerank=(spec,) if spec else ())
    test = evaluation.test
    per_user = test.per_user["ndcg@10"]
    raw = run.users.raw[test.users]
    row = {"setting": spec or "plain", "seconds": round(time.perf_counter() - started, 1),
           **{m: test.metrics.get(m) for m in ("ndcg@10", "coverage@10", "gini@10", "miscalibration@10",
                                             "exposure_gap@10", "ild@10")},
           "groups": {name: group_gap(per_user, raw, labels) for name, labels in groups.items()}}
    if providers is not None:
        row["provider_gini@10"] = group_exposure_gini(test.ranking.topk_items, 10, providers)
    if plain is not None:
        row["vs_plain"] = paired_test(per_user, plain)
    return row, per_user


def markdown(record: dict) -> str:
    rows = record["rows"]
    plain = rows[0]
    group_names = list(plain["groups"])
    lines = [f"# Fairness and calibration re-ranking on {record['name']}", "",
             f"Run: `{record['run']}` (model {record['model']}, split {record['split']}), test users "
             f"{record['test_users']}; load average before {record['load_before']}, after {record['load_after']}.",
             "exposure gap = the head's share of position-discounted exposure minus its catalogue share (0.2); "
             "miscalibration = KL(history mix || list mix), Steck 2018; group gap = largest NDCG@10 difference "
             "between user groups; provider Gini = Gini over providers of the exposure per catalogue item they "
             "get (with --provider).", "",
             "| " + " | ".join(["setting", "NDCG@10", "vs plain", "p", "coverage", "Gini", "miscal. KL",
                                "exposure gap", "gap / plain", *(f"{g} gap" for g in group_names),
                                *([f"{record['provider']} Gini"] if record.get("provider") else [])]) + " |",
             "|---|---|---|---|---|---|---|---|---|" + "---|" * (len(group_names) + bool(record.get("provider")))]
    for row in rows:
        vs = row.get("vs_plain")
        change = f"{100 * vs['mean_diff'] / plain['ndcg@10']:+.1f} %" if vs else ""
        p = f"{vs['p_value']:.2g}" if vs else ""
        ratio = row["exposure_gap@10"] / plain["exposure_gap@10"] if plain["exposure_gap@10"] else float("nan")
        lines.append(f"| {row['setting']} | {row['ndcg@10']:.4f} | {change} | {p} | {row['coverage@10']:.4f} | "
                     f"{row['gini@10']:.4f} | {_f(row['miscalibration@10'])} | {row['exposure_gap@10']:.4f} | "
                     f"{ratio:.2f} |" + "".join(f" {row['groups'][g]['gap']:.4f} |" for g in group_names)
                     + (f" {row['provider_gini@10']:.4f} |" if "provider_gini@10" in row else ""))
    if group_names:
        lines += ["", "Per-group NDCG@10 of the plain list: " + "; ".join(
            f"{g}: " + ", ".join(f"{k} {v:.4f}" for k, v in plain["groups"][g]["means"].items()) for g in group_names)]
    halved = [r["setting"] for r in rows[1:] if r["exposure_gap@10"] <= plain["exposure_gap@10"] / 2
              and r["vs_plain"]["mean_diff"] >= -0.10 * plain["ndcg@10"]]
    lines += ["", "Settings that halve the exposure gap for at most 10 % NDCG@10 loss: "
              + (", ".join(halved) if halved else "none"), "",
              f"Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/fairness.py RUN --name {record['name']}`"]
    return "\n".join(lines) + "\n"


def _f(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = record["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for family, axis, metric, label in (("fair", axes[0], "exposure_gap@10", "head/tail exposure gap"),
                                        ("calibrated", axes[1], "miscalibration@10", "miscalibration (KL)")):
        picked = [rows[0]] + [r for r in rows if r["setting"].startswith(family)]
        xs = [r[metric] for r in picked]
        ys = [r["ndcg@10"] for r in picked]
        axis.plot(xs, ys, marker="o")
        for r, x, y in zip(picked, xs, ys, strict=True):
            axis.annotate(r["setting"], (x, y), fontsize=7)
        axis.set_xlabel(label)
        axis.set_ylabel("NDCG@10")
        axis.set_title(f"{family} re-ranking on {record['name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--specs", default=",".join(SPECS), help="comma-separated re-rankers")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fairness")
    parser.add_argument("--provider", help="categorical item field of providers (e.g. brand_code): adds the Gini of "
                                           "exposure per catalogue item across providers")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    run = load_run(args.run)
    dataset = load_data(run.config.data, run.config.prepare)
    groups = user_groups(run, dataset)
    providers = field_groups(run.catalog.category_sets(args.provider))[0] if args.provider else None
    plain_row, plain = measure(run, "", groups, None, providers)
    rows = [plain_row]
    for spec in [s for s in args.specs.split(",") if s]:
        row, _ = measure(run, spec, groups, plain, providers)
        rows.append(row)
        print(f"{spec}: NDCG@10 {row['ndcg@10']:.4f}, gap {row['exposure_gap@10']:.4f}, "
              f"KL {_f(row['miscalibration@10'])}", flush=True)
    record = {"name": args.name, "run": str(args.run), "provider": args.provider, "model": run.meta.get("model"),
              "split": run.meta["split"]["fingerprint"], "dataset_digest": run.meta["dataset"]["digest"],
              "test_users": len(run.split.test), "load_before": round(load_before, 2),
              "load_after": round(os.getloadavg()[0], 2), "config": config_to_dict(run.config),
              "environment": environment(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / f"{args.name}.md").write_text(markdown(record))
    plot(record, args.out / f"{args.name}.png")
    print(markdown(record))


if __name__ == "__main__":
    main()
