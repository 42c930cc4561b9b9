"""Explanations (issue #14, target 1): are the attributions faithful, how long does `explain` take in the service,
and what do they say for the first five test users.

Deletion test, per test user (history of 2+ items): take the model's top item i (full ranking, history masked),
attribute its score to the history by integrated gradients (lmrec.ranking.explain, "gradients"), then delete
from the history (a) the top-attributed item and (b) one other history item drawn at random (seeded), both within
the window the model reads, and re-score i. Faithful attributions make drop(a) > drop(b): paired t-test and
Wilcoxon over users, and the share of users where it holds. Leave-one-out, which picks the item whose deletion
drops the score most by construction, is the ceiling (its drop is reported, not tested).

Latency: POST /recommend (k = 10) through the service's TestClient for the first 100 test histories, with and
without `"explain": true`, alternating, median and p90 per request.

    lmrec fit -d ml-100k -m sasrec --out runs/ml-sasrec
    OMP_NUM_THREADS=1 .venv/bin/python bench/explain.py runs/ml-sasrec --name ml-100k-sasrec

Writes bench/results/explain/<name>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lmrec.data.types import Histories
from lmrec.eval.stats import paired_test
from lmrec.pipeline import load_run
from lmrec.provenance import environment
from lmrec.ranking import RankingPipeline
from lmrec.ranking.explain import attributions, explain, grounded, item_names, lm_sentence, short_name

ROOT = Path(__file__).resolve().parents[1]


def score_of(model, histories: list[list[int]], item: int) -> np.ndarray:
    with torch.inference_mode():
        return model.score(Histories.from_lists(histories))[:, item].float().cpu().numpy()


def deletion_test(run, users: int, seed: int) -> dict:
    model, holdout = run.model, run.split.test
    window = int(model.config.max_len)  # a sequence model (the ones with gradient attribution)
    rng = np.random.default_rng(seed)
    rows = [r for r in range(min(users, len(holdout))) if len(holdout.inputs.row(r)) >= 2]
    top_drop, random_drop, oracle_drop, agree = [], [], [], []
    started = time.perf_counter()
    for r in rows:
        history = holdout.inputs.row(r).astype(np.int64)
        item = int(RankingPipeline.for_model(model).rank(Histories.from_lists([history.tolist()]), 1).items[0, 0])
        weights, method = attributions(model, history, np.asarray([item]), method="gradients")
        start = max(0, len(history) - window)  # positions the model reads
        reads = np.arange(start, len(history))
        best = int(reads[np.argmax(weights[0, reads])])
        other = int(rng.choice(reads[reads != best]))
        variants = [history.tolist(), np.delete(history, best).tolist(), np.delete(history, other).tolist()]
        variants += [np.delete(history, j).tolist() for j in reads]
        scores = score_of(model, variants, item)
        drops = scores[0] - scores[3:]
        top_drop.append(scores[0] - scores[1])
        random_drop.append(scores[0] - scores[2])
        oracle_drop.append(float(drops.max()))
        agree.append(int(reads[np.argmax(drops)]) == best)
    top, rand = np.asarray(top_drop), np.asarray(random_drop)
    return {"users": len(rows), "method": method, "mean_drop_top": float(top.mean()),
            "mean_drop_random": float(rand.mean()), "mean_drop_leave_one_out_best": float(np.mean(oracle_drop)),
            "share_top_gt_random": float((top > rand).mean()), "agrees_with_leave_one_out": float(np.mean(agree)),
            "t_test": paired_test(top, rand, "t"), "wilcoxon": paired_test(top, rand, "wilcoxon"),
            "seconds": round(time.perf_counter() - started, 1)}


def latency(run, run_dir: Path, requests: int) -> dict:
    from fastapi.testclient import TestClient

    from lmrec.serve import ServeConfig, create_app

    holdout = run.split.test
    with tempfile.TemporaryDirectory() as tmp:
        served = Path(shutil.copytree(run_dir, Path(tmp) / "run"))
        client = TestClient(create_app(served, ServeConfig(token="t", coalesce=1)),
                            headers={"Authorization": "Bearer t"})
        times: dict[str, list[float]] = {"plain": [], "explain": []}
        for r in range(min(requests, len(holdout))):
            history = run.items.to_raw(holdout.inputs.row(r)).tolist()
            for label in ("plain", "explain"):
                body = {"history": history, "k": 10, "explain": label == "explain"}
                started = time.perf_counter()
                answer = client.post("/recommend", json=body)
                times[label].append(1000 * (time.perf_counter() - started))
                assert answer.status_code == 200, answer.text
    return {label: {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)), "n": len(v)}
            for label, v in times.items()}


def examples(run, n: int = 5, lm=None) -> list[dict]:
    """The first n test users (holdout order), their top item and its explanation: not chosen for looks; with `lm`
    the small LM's sentence too (None where it failed the grounding check)."""
    out = []
    names = item_names(run.catalog)
    for r in range(min(n, len(run.split.test))):
        history = run.split.test.inputs.row(r).astype(np.int64)
        top = RankingPipeline.for_model(run.model).rank(Histories.from_lists([history.tolist()]), 1).items[0]
        (why,) = explain(run.model, history, top[:1], catalog=run.catalog)
        item = int(top[0])
        said = {}
        if lm is not None:  # the LM's sentence and whether the grounding check keeps it
            label = (lambda i: short_name(names[i])) if names else (lambda i: str(run.items.raw[i]))
            sentence, facts = lm_sentence(lm, label(item), [label(d) for d, _ in why.drivers], why.shared)
            said = {"lm_sentence": sentence, "lm_kept": grounded(sentence, facts)}
        out.append({"user": str(run.users.raw[run.split.test.users[r]]), "history_length": int(len(history)),
                    "item_id": str(run.items.raw[item]),
                    "item": short_name(names[item]) if names else str(run.items.raw[item]),
                    **why.to_json(run.items.raw), **said})
    return out


def markdown(record: dict) -> str:
    d = record["deletion"]
    lines = [f"# Explanations: {record['name']}", "",
             f"Run `{record['run']}` ({record['model']}); load average {record['load_before']} before, "
             f"{record['load_after']} after.", "",
             "## Deletion test (faithfulness of integrated gradients)", "",
             f"{d['users']} test users. Mean score drop of the top item when deleting the top-attributed history "
             f"item: {d['mean_drop_top']:.4f}; a random other history item: {d['mean_drop_random']:.4f} "
             f"(paired t-test p = {d['t_test']['p_value']:.2g}, Wilcoxon p = {d['wilcoxon']['p_value']:.2g}); "
             f"the top-attributed deletion drops more for {d['share_top_gt_random']:.1%} of users. Leave-one-out's "
             f"best deletion (the ceiling) drops {d['mean_drop_leave_one_out_best']:.4f}; integrated gradients "
             f"pick that same item for {d['agrees_with_leave_one_out']:.1%} of users. ({d['seconds']} s)", "",
             "## Latency in the service (POST /recommend, k = 10, one request at a time)", "",
             "| request | median ms | p90 ms | n |", "|---|---|---|---|"]
    for label, row in record["latency"].items():
        lines.append(f"| {label} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | {row['n']} |")
    lines += ["", "## The first five test users (not chosen)", ""]
    if record.get("lm"):
        kept = sum(e["lm_kept"] for e in record["examples"])
        lines += [f"The small LM's sentences (SmolLM2-135M, greedy) passed the grounding check for {kept} of "
                  f"{len(record['examples'])}; the service shows only those that pass.", ""]
    for e in record["examples"]:
        drivers = ", ".join(f"{x['item_id']} ({x['weight']:.3f})" for x in e["drivers"])
        lines.append(f"- user {e['user']} ({e['history_length']} items) -> **{e['item']}**: {e['reason']} "
                     f"[drivers: {drivers}]")
        if record.get("lm"):
            verdict = "kept" if e["lm_kept"] else "dropped by the grounding check"
            lines.append(f"  - small LM ({verdict}): {e['lm_sentence']}")
    lines += ["", f"Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python bench/explain.py RUN --name {record['name']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--users", type=int, default=1000, help="test users in the deletion test (the first N)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm", action="store_true", help="add the small LM's sentences to the examples")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "explain")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    run = load_run(args.run)
    record = {"name": args.name, "run": str(args.run), "model": run.meta.get("model"),
              "split": run.meta["split"]["fingerprint"], "dataset_digest": run.meta["dataset"]["digest"],
              "seed": args.seed, "load_before": round(load_before, 2)}
    record["deletion"] = deletion_test(run, args.users, args.seed)
    print(json.dumps(record["deletion"], default=float)[:400], flush=True)
    record["latency"] = latency(run, args.run, args.requests)
    lm = None
    if args.lm:
        from lmrec.text.generate import small_lm

        lm = small_lm()
    record["lm"] = bool(args.lm)
    record["examples"] = examples(run, lm=lm)
    record["load_after"] = round(os.getloadavg()[0], 2)
    record["environment"] = environment()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    (args.out / f"{args.name}.md").write_text(markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
