"""Feedback into the language-model side: prequential ml-100k with LM-side online updates on vs off, and with the
shown-but-not-chosen items as negatives.

Two models whose item side is the language model's: `sasrec-fused` (ID embeddings + an adapter over frozen MiniLM
item vectors) and `text-user` (the history read as text by MiniLM; all it trains are two adapters over LM vectors).
Each is fitted once before a global time cut (80 % quantile), then the rest of the timeline is replayed in weekly
chunks: every event is first predicted from the user's history so far, then the online model learns from the
chunk (`Updater`: the new windows + as many replayed old ones). Arms, on the same events:

    static                 never updated
    lm-frozen              updated, the LM side fixed (sasrec-fused: ID embeddings and the net move; the default)
    lm-frozen+impressions  the same, with impressions as negatives
    lm-updated             updated, the LM side moves too (the text adapter; text-user's adapters)
    lm-updated+impressions the same, with impressions as negatives
    lm-updated-slow(+impressions)  the LM side at a tenth of the update rate (`text_lr_scale=0.1`)

Impressions are simulated, as a replay must: the model's own top 10 at prediction time is taken as the slate the
user saw, and its items the user does not choose in that chunk are impressions (negatives for that event in the
next update).
Paired t-tests on per-event NDCG@10 / HR@10; a probe of old users' held-out last pre-cut items measures forgetting.

    LMREC_DATA_DIR=../shared/data .venv/bin/python bench/feedback_lm.py [--models sasrec-fused text-user]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from lmrec.data import load_dataset
from lmrec.models.registry import create_model
from lmrec.online.prequential import (
    PrequentialConfig,
    PrequentialResult,
    TimeCutStream,
    compare,
    prequential,
    score_events,
    shown_slates,
    stream_chunks,
)
from lmrec.online.updater import UpdateConfig, Updater
from lmrec.provenance import environment

HERE = Path(__file__).resolve().parent
ARMS = {  # name: (update config changes, impressions) ; None = static
    "static": None,
    "lm-frozen": ({"freeze_text": True}, False),
    "lm-frozen+impressions": ({"freeze_text": True}, True),
    "lm-updated": ({"freeze_text": False}, False),
    "lm-updated+impressions": ({"freeze_text": False}, True),
    "lm-updated-slow": ({"freeze_text": False, "text_lr_scale": 0.1}, False),
    "lm-updated-slow+impressions": ({"freeze_text": False, "text_lr_scale": 0.1}, True),
}
# text-user trains nothing but its LM side: with it frozen an update changes only the empty-history fallback
SKIP = {"text-user": {"lm-frozen", "lm-frozen+impressions"}}
PAIRS = [("lm-updated", "lm-frozen"), ("lm-updated-slow", "lm-frozen"), ("lm-updated", "static"),
         ("lm-updated-slow", "static"), ("lm-frozen", "static"), ("lm-updated+impressions", "lm-updated"),
         ("lm-updated-slow+impressions", "lm-updated-slow"), ("lm-frozen+impressions", "lm-frozen")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("LMREC_DATA_DIR", "../shared/data"))
    parser.add_argument("--models", nargs="+", default=["sasrec-fused", "text-user"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--quantile", type=float, default=0.8)
    parser.add_argument("--chunk-days", type=float, default=7.0)
    parser.add_argument("--epochs", type=int, default=UpdateConfig.epochs)
    parser.add_argument("--replay-ratio", type=float, default=UpdateConfig.replay_ratio)
    parser.add_argument("--impression-weight", type=float, default=UpdateConfig.impression_weight)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "feedback_lm")
    parser.add_argument("--render", type=Path, default=None, help="only write README.md from this results.json")
    parser.add_argument("--model-cache", type=Path, default=None,
                        help="save the fitted models here and reuse them (keyed by split fingerprint and seed)")
    args = parser.parse_args()
    if args.render is not None:
        (args.render.parent / "README.md").write_text(render(json.loads(args.render.read_text())))
        return
    torch.set_num_threads(args.threads)

    dataset = load_dataset("ml-100k", data_dir=args.data_dir)
    inter = dataset.interactions
    stream = TimeCutStream.at_quantile(inter, args.quantile)
    cut, split, train, probe = stream.cut, stream.split, stream.train, stream.probe
    config = PrequentialConfig(chunk_days=args.chunk_days, k=10)
    base = UpdateConfig(epochs=args.epochs, replay_ratio=args.replay_ratio, impression_weight=args.impression_weight,
                        seed=args.seed)
    record = {"command": "LMREC_DATA_DIR=... .venv/bin/python bench/feedback_lm.py " + " ".join(sys.argv[1:]),
              "data": {"name": "ml-100k", "digest": dataset.digest(), **dataset.stats()},
              "split": {"cut": cut, "quantile": args.quantile, "fingerprint": split.fingerprint(),
                        "train_events": len(train), "probe_users": len(probe)},
              "prequential": asdict(config), "update": asdict(base), "seed": args.seed, "threads": args.threads,
              "environment": environment(), "started": dt.datetime.now(dt.timezone.utc).isoformat(),
              "load_average": os.getloadavg(), "models": {}}
    for name in args.models:
        model_config = {"train": {"seed": args.seed, "threads": args.threads}}
        model, fit_seconds = fitted(name, model_config, train, dataset.catalog,
                                    args.model_cache / f"{name}-{split.fingerprint()}-seed{args.seed}"
                                    if args.model_cache else None)
        print(f"{name}: fit {fit_seconds:.0f}s", flush=True)
        runs: dict[str, PrequentialResult] = {}
        seconds: dict[str, float] = {}
        for arm, spec in ARMS.items():
            if arm in SKIP.get(name, set()) or arm not in args.arms:
                continue
            updater, arm_config = None, config
            if spec is not None:
                changes, impressions = spec
                updater, arm_config = Updater(replace(base, **changes)), replace(config, impressions=impressions)
            started = time.perf_counter()
            runs[arm] = prequential(model, inter, cut, train=train, probe=probe, catalog=dataset.catalog,
                                    updater=updater, config=arm_config, name=arm)
            seconds[arm] = time.perf_counter() - started
            print(f"  {arm}: hr@10 {runs[arm].hit.mean():.4f} ndcg@10 {runs[arm].ndcg.mean():.4f} "
                  f"probe {runs[arm].probe[-1]['ndcg@10']:.4f} ({seconds[arm]:.0f}s)", flush=True)
        tests = {f"{a} vs {b}": compare(runs[b], runs[a], later_from=config.later_from, seed=args.seed)
                 for a, b in PAIRS if a in runs and b in runs}
        record["models"][name] = {"config": model_config, "fit_seconds": fit_seconds, "seconds": seconds,
                                  "false_negatives": later_choices(model, inter, cut, config),
                                  "runs": {arm: run.to_json() for arm, run in runs.items()}, "tests": tests,
                                  "probe_change": {arm: _probe_change(run, args.seed) for arm, run in runs.items()
                                                   if len(run.probe_ndcg) > 1}}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(record, indent=1, default=_plain))
    record["load_average_end"] = os.getloadavg()
    (args.out / "results.json").write_text(json.dumps(record, indent=1, default=_plain))
    report = render(record)
    (args.out / "README.md").write_text(report)
    print(report)


def later_choices(model, inter, cut: int, config: PrequentialConfig) -> dict:
    """How many simulated impressions (the static model's top 10, less what the user chose in the chunk) the user
    chooses after the chunk: negatives the replay cannot know are false."""
    seqs = inter.sequences()
    order = np.argsort(inter.user, kind="stable")
    position = np.empty(len(inter), np.int64)
    position[order] = np.arange(len(inter)) - seqs.indptr[inter.user[order]]
    future: dict[int, dict[int, int]] = {}  # user -> item -> last time chosen
    for user, item, stamp in zip(inter.user.tolist(), inter.item.tolist(), inter.timestamp.tolist(), strict=True):
        future.setdefault(user, {})[item] = max(stamp, future.get(user, {}).get(item, stamp))
    shown = later = 0
    for chunk in stream_chunks(inter, cut, config):
        rows = chunk[position[chunk] > 0]
        top = score_events(model, seqs, inter.user[rows], position[rows], inter.item[rows], config)[2]
        ordered = np.sort(chunk)
        slates = shown_slates(ordered, rows, top, inter.user, inter.item)
        end = int(inter.timestamp[chunk].max())
        for j, row in enumerate(ordered.tolist()):
            chosen = future[int(inter.user[row])]
            items = slates.row(j).tolist()
            shown += len(items)
            later += sum(chosen.get(i, -1) > end for i in items)
    return {"impressions": shown, "chosen_after_the_chunk": later, "share": later / max(shown, 1)}


def fitted(name: str, config: dict, train, catalog, cached: Path | None):
    """(the model fitted on `train`, its fit seconds), or both loaded from `cached` when it was saved there."""
    from lmrec.models.base import load_model

    if cached is not None and (cached / "fit_seconds.txt").is_file():
        return load_model(cached), float((cached / "fit_seconds.txt").read_text())
    started = time.perf_counter()
    model = create_model(name, config).fit(train, catalog=catalog)
    seconds = time.perf_counter() - started
    if cached is not None:
        model.save(cached)
        (cached / "fit_seconds.txt").write_text(f"{seconds:.1f}")
    return model, seconds


def _probe_change(run: PrequentialResult, seed: int) -> dict:
    from lmrec.eval.stats import paired_test

    return paired_test(run.probe_ndcg[-1], run.probe_ndcg[0], seed=seed)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value))


def render(record: dict) -> str:
    split = record["split"]
    lines = [
        "# Feedback into the language-model side: prequential ml-100k, LM-side updates on vs off",
        "",
        f"Command: `{record['command']}`",
        "",
        f"- data: ml-100k ({record['data']['interactions']} interactions), digest `{record['data']['digest'][:16]}`; "
        f"global time cut at the {split['quantile']:.0%} quantile ({split['cut']}), split fingerprint "
        f"`{split['fingerprint']}`; models fit on {split['train_events']} pre-cut events (the forgetting probe's "
        f"{split['probe_users']} held-out last items excluded)",
        f"- stream: weekly chunks, each event ranked over the full catalogue from the user's history so far "
        f"(history masked), HR@10 / NDCG@10; updates `{record['update']}`",
        "- impressions: simulated from the arm's own top 10 at prediction time, less every item the user chooses "
        "in the chunk",
        f"- {record['environment']['versions']}; load average {record['load_average']} at start, "
        f"{record.get('load_average_end')} at end; started {record['started']}",
        "",
    ]
    for name, entry in record["models"].items():
        lines += [f"## {name} (fit {entry['fit_seconds']:.0f}s)", "",
                  "| arm | HR@10 all | NDCG@10 all | NDCG@10 later | probe NDCG@10 before -> after | replay s |",
                  "|---|---|---|---|---|---|"]
        for arm, run in entry["runs"].items():
            probe = run["probe"]
            later = _later(entry, arm)
            lines.append(f"| {arm} | {run['hr@10']:.4f} | {run['ndcg@10']:.4f} | {later:.4f} "
                         f"| {probe[0]['ndcg@10']:.4f} -> {probe[-1]['ndcg@10']:.4f} "
                         f"| {entry['seconds'][arm]:.0f} |")
        fn = entry.get("false_negatives")
        if fn:
            lines += ["", f"Simulated impressions from the static model: {fn['impressions']}, of which "
                          f"{fn['chosen_after_the_chunk']} ({fn['share']:.1%}) the user chooses after the chunk."]
        lines += ["", "Paired t-tests on per-event values (first minus second):", "",
                  "| comparison | part | events | NDCG@10 diff [95% CI] | p | HR@10 diff | p |",
                  "|---|---|---|---|---|---|---|"]
        for label, test in entry["tests"].items():
            for part in ("all", "later"):
                n, h = test[part]["ndcg@10"]["paired"], test[part]["hr@10"]["paired"]
                lines.append(f"| {label} | {part} | {test[part]['events']} | {n['mean_diff']:+.4f} "
                             f"[{n['ci'][0]:+.4f}, {n['ci'][1]:+.4f}] | {n['p_value']:.2g} | {h['mean_diff']:+.4f} "
                             f"| {h['p_value']:.2g} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _later(entry: dict, arm: str) -> float:
    test = next((t for label, t in entry["tests"].items() if label.startswith(f"{arm} vs ")), None)
    if test is not None:
        return test["later"]["ndcg@10"][arm]
    test = next(t for label, t in entry["tests"].items() if label.endswith(f" vs {arm}"))
    return test["later"]["ndcg@10"][arm]


if __name__ == "__main__":
    main()
