"""Prequential ml-100k: SASRec (library defaults) trained once before a global time cut, then the rest of the
timeline replayed in time order, chunk by chunk: every event is first predicted from the user's history so far
(HR@10 / NDCG@10, history masked), then the online model learns from the chunk (Updater: partial_fit on the new
windows + an equal-size replay sample of old ones); the static model never changes. A no-replay online run shows
what replay buys against forgetting, measured on a probe of old users' held-out last pre-cut items.

    LMREC_DATA_DIR=../shared/data .venv/bin/python bench/prequential_ml100k.py
    (--sweep adds online runs over update lr / epochs / replay ratio, later-part numbers only)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lmrec.data import load_dataset
from lmrec.models.registry import create_model
from lmrec.models.sequence import SequentialRecommender
from lmrec.online.prequential import PrequentialConfig, PrequentialResult, TimeCutStream, compare, prequential
from lmrec.online.updater import UpdateConfig, Updater
from lmrec.provenance import environment

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("LMREC_DATA_DIR", "../shared/data"))
    parser.add_argument("--quantile", type=float, default=0.8, help="global time cut at this timestamp quantile")
    parser.add_argument("--chunk-days", type=float, default=7.0)
    parser.add_argument("--chunk-events", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=UpdateConfig.epochs, help="update epochs per chunk")
    parser.add_argument("--lr", type=float, default=None, help="update lr (default: lr-scale x training lr)")
    parser.add_argument("--lr-scale", type=float, default=UpdateConfig.lr_scale)
    parser.add_argument("--replay-ratio", type=float, default=UpdateConfig.replay_ratio)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--model-cache", type=Path, default=None,
                        help="reuse the initial model saved here (keyed by split fingerprint and seed)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "prequential_ml100k.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset("ml-100k", data_dir=args.data_dir)
    inter = dataset.interactions
    stream = TimeCutStream.at_quantile(inter, args.quantile)
    cut, split, train, probe = stream.cut, stream.split, stream.train, stream.probe
    model, fit_seconds = initial_model(train, split.fingerprint(), args)
    print(f"sasrec on {len(train)} events before {_date(cut)}: fit {fit_seconds}", flush=True)

    config = PrequentialConfig(chunk_days=args.chunk_days, chunk_events=args.chunk_events, k=10)
    update = UpdateConfig(epochs=args.epochs, lr=args.lr, lr_scale=args.lr_scale, replay_ratio=args.replay_ratio,
                          seed=args.seed)
    common = {"train": train, "probe": probe, "config": config}
    runs: dict[str, PrequentialResult] = {}
    seconds: dict[str, float] = {}
    for name, updater in (("static", None), ("online", Updater(update)),
                          ("online-no-replay", Updater(replace(update, replay_ratio=0.0)))):
        started = time.perf_counter()
        runs[name] = prequential(model, inter, cut, updater=updater, name=name, **common)
        seconds[name] = time.perf_counter() - started
        print(f"{name}: hr@10 {runs[name].hit.mean():.4f} ndcg@10 {runs[name].ndcg.mean():.4f} "
              f"({seconds[name]:.0f}s)", flush=True)
    sweep = _sweep(model, inter, cut, common, update, runs["static"]) if args.sweep else []
    report = render(args, dataset, split, cut, train, probe, fit_seconds, update, config, runs, seconds, sweep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def initial_model(train, fingerprint: str, args) -> tuple[SequentialRecommender, str]:
    """SASRec with the library defaults fitted on `train`, or loaded from --model-cache (its fit time kept)."""
    cached = args.model_cache / f"sasrec-{fingerprint}-seed{args.seed}" if args.model_cache else None
    if cached is not None and (cached / "fit_seconds.txt").is_file():
        return SequentialRecommender.load(cached), f"{(cached / 'fit_seconds.txt').read_text()}s (loaded from {cached})"
    model = create_model("sasrec", {"train": {"seed": args.seed, "threads": args.threads}})
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    if cached is not None:
        model.save(cached)
        (cached / "fit_seconds.txt").write_text(f"{fit_seconds:.0f}")
    return model, f"{fit_seconds:.0f}s"


def _sweep(model, inter, cut, common, update: UpdateConfig, static: PrequentialResult) -> list[dict]:
    rows = []
    later = static.later(common["config"].later_from)
    for change in ({"lr_scale": 0.3}, {"lr_scale": 3.0}, {"epochs": 1}, {"epochs": 5}, {"replay_ratio": 3.0}):
        config = replace(update, **change)
        started = time.perf_counter()
        result = prequential(model, inter, cut, updater=Updater(config), name="sweep", **common)
        rows.append({"change": change, "hr": result.hit[later].mean(), "ndcg": result.ndcg[later].mean(),
                     "hr_all": result.hit.mean(), "probe": result.probe[-1]["ndcg@10"],
                     "seconds": time.perf_counter() - started})
        print(f"sweep {change}: later hr@10 {rows[-1]['hr']:.4f} ndcg@10 {rows[-1]['ndcg']:.4f}", flush=True)
    return rows


def _date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc).strftime("%Y-%m-%d")


def _ci(values: np.ndarray, lo_hi: tuple[float, float]) -> str:
    return f"{np.mean(values):.4f} [{lo_hi[0]:.4f}, {lo_hi[1]:.4f}]"


def render(args, dataset, split, cut, train, probe, fit_seconds, update, config, runs, seconds, sweep) -> str:
    static, online, no_replay = runs["static"], runs["online"], runs["online-no-replay"]
    stats = dataset.stats()
    versions = environment()["versions"]
    lines = [
        "# Prequential evaluation on ml-100k: static vs online SASRec",
        "",
        f"Command: `LMREC_DATA_DIR={args.data_dir} .venv/bin/python bench/prequential_ml100k.py "
        + " ".join(sys.argv[1:]) + "`",
        "",
        f"- data: ml-100k, {stats['users']} users, {stats['items']} items, {stats['interactions']} interactions, "
        f"digest `{dataset.digest()[:16]}`",
        f"- split: global time cut at the {args.quantile:.0%} timestamp quantile = {cut} ({_date(cut)}); "
        f"`global_time_split` fingerprint `{split.fingerprint()}`; {len(split.train)} events before the cut, "
        f"{len(dataset.interactions) - len(split.train)} from it on",
        f"- forgetting probe: the last pre-cut event of each of {len(probe)} users with >= 3 pre-cut events, held "
        f"out of all training (static, online, replay); the model trains on the other {len(train)} events",
        f"- model: `sasrec` with the library defaults (dim 64, 2 layers, max_len 50, AdamW lr 3e-3, 30 epochs, "
        f"no validation), seed {args.seed}, {args.threads} threads; fit {fit_seconds}",
        f"- stream: {len(static.chunks)} chunks of {_chunking(config)}; each event predicted from the user's "
        f"history so far (masked), full ranking over {stats['items']} items, HR@10 / NDCG@10; a user's first "
        f"event (empty history) is not scored ({len(static.rows)} events scored)",
        f"- online: `Updater(UpdateConfig(epochs={update.epochs}, lr={update.lr}, lr_scale={update.lr_scale}, "
        f"replay_ratio={update.replay_ratio}))` after every chunk: the windows ending in the chunk's events (with "
        "each user's earlier items as context) + as many windows sampled from all earlier data",
        f"- later part: chunks {int(np.floor(config.later_from * len(static.chunks)))} to {len(static.chunks) - 1}",
        f"- versions: lmrec {versions['lmrec']}, torch {versions['torch']}, numpy {versions['numpy']}, "
        f"python {versions['python']}; run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        "## Totals (95% bootstrap CI over events; paired t-test on per-event values, online - static)",
        "",
        "| part | events | metric | static | online | online - static [95% CI] | p | online without replay |",
        "|---|---|---|---|---|---|---|---|",
    ]
    main_cmp = compare(static, online, later_from=config.later_from, seed=args.seed)
    ablation = compare(static, no_replay, later_from=config.later_from, seed=args.seed)
    for part in ("all", "later"):
        mask = np.ones(len(static.rows), bool) if part == "all" else static.later(config.later_from)
        for metric, attr in (("hr@10", "hit"), ("ndcg@10", "ndcg")):
            m = main_cmp[part][metric]
            paired = m["paired"]
            a = ablation[part][metric]
            lines.append(
                f"| {part} | {main_cmp[part]['events']} | {metric} "
                f"| {_ci(getattr(static, attr)[mask], m['static_ci'])} "
                f"| {_ci(getattr(online, attr)[mask], m['online_ci'])} | {paired['mean_diff']:+.4f} "
                f"[{paired['ci'][0]:+.4f}, {paired['ci'][1]:+.4f}] | {paired['p_value']:.2g} "
                f"| {a['online-no-replay']:.4f} (p {a['paired']['p_value']:.2g} vs static) |")
    lines += ["", "## Per chunk (prequential HR@10 / NDCG@10; probe NDCG@10 after the chunk's update)", "",
              "| chunk | from | to | events | scored | static hr | online hr | no-replay hr | static ndcg "
              "| online ndcg | no-replay ndcg | update s | probe online | probe no-replay |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, chunk in enumerate(static.chunks):
        on, nr = online.chunks[c], no_replay.chunks[c]
        lines.append(
            f"| {c} | {_date(chunk['start'])} | {_date(chunk['end'])} | {chunk['events']} | {chunk['scored']} "
            f"| {chunk['hr@10']:.4f} | {on['hr@10']:.4f} | {nr['hr@10']:.4f} | {chunk['ndcg@10']:.4f} "
            f"| {on['ndcg@10']:.4f} | {nr['ndcg@10']:.4f} | {on['update_seconds']:.1f} "
            f"| {online.probe[c + 1]['ndcg@10']:.4f} | {no_replay.probe[c + 1]['ndcg@10']:.4f} |")
    lines += breakdown(dataset.interactions, train, runs, static.later(config.later_from))
    update_s = np.asarray([c["update_seconds"] for c in online.chunks])
    windows = [(c["update"]["new_windows"], c["update"]["replay_windows"]) for c in online.chunks]
    lines += [
        "", "## Forgetting (probe: old users' held-out last pre-cut item, history = their earlier items)", "",
        "| model | probe HR@10 | probe NDCG@10 |", "|---|---|---|",
        f"| before any update (= static) | {static.probe[0]['hr@10']:.4f} | {static.probe[0]['ndcg@10']:.4f} |",
        f"| online with replay, after the last chunk | {online.probe[-1]['hr@10']:.4f} "
        f"| {online.probe[-1]['ndcg@10']:.4f} |",
        f"| online without replay, after the last chunk | {no_replay.probe[-1]['hr@10']:.4f} "
        f"| {no_replay.probe[-1]['ndcg@10']:.4f} |",
        "", *(_probe_change(run, args.seed) for run in (online, no_replay)),
        "", "## Time", "",
        f"- update (copy + partial_fit) per chunk: mean {update_s.mean():.1f}s, max {update_s.max():.1f}s; "
        f"new windows per chunk {min(w[0] for w in windows)}-{max(w[0] for w in windows)}, replayed "
        f"{min(w[1] for w in windows)}-{max(w[1] for w in windows)}",
        f"- whole replay (scoring + updates + probe): static {seconds['static']:.0f}s, online "
        f"{seconds['online']:.0f}s, online without replay {seconds['online-no-replay']:.0f}s",
    ]
    if sweep:
        lines += ["", "## Sweep (online, later part)", "",
                  "| change from the config above | later HR@10 | later NDCG@10 | all HR@10 | probe NDCG@10 after "
                  "| s |",
                  "|---|---|---|---|---|---|",
                  f"| (none; static) | {static.hit[static.later(config.later_from)].mean():.4f} "
                  f"| {static.ndcg[static.later(config.later_from)].mean():.4f} | {static.hit.mean():.4f} "
                  f"| {static.probe[0]['ndcg@10']:.4f} | |"]
        lines += [f"| {row['change']} | {row['hr']:.4f} | {row['ndcg']:.4f} | {row['hr_all']:.4f} "
                  f"| {row['probe']:.4f} | {row['seconds']:.0f} |" for row in sweep]
    return "\n".join(lines) + "\n"


def _probe_change(run: PrequentialResult, seed: int) -> str:
    from lmrec.eval.stats import paired_test

    test = paired_test(run.probe_ndcg[-1], run.probe_ndcg[0], seed=seed)
    return (f"- {run.name}: probe NDCG@10 after - before {test['mean_diff']:+.4f} "
            f"[{test['ci'][0]:+.4f}, {test['ci'][1]:+.4f}], paired t p = {test['p_value']:.2g} ({test['n']} users)")


def breakdown(inter, train, runs, later: np.ndarray) -> list[str]:
    """Later-part HR@10 by the target item's pre-cut popularity and by whether the user is new after the cut."""
    static = runs["static"]
    counts = np.bincount(train.item, minlength=inter.n_items)[inter.item[static.rows]]
    old_user = np.isin(inter.user[static.rows], np.unique(train.user))
    groups = [("target item with 0-9 training events", counts < 10),
              ("target item with 10-99 training events", (counts >= 10) & (counts < 100)),
              ("target item with >= 100 training events", counts >= 100),
              ("user active before the cut", old_user), ("user new after the cut", ~old_user)]
    lines = ["", "## Where the difference is (later part, HR@10)", "",
             "| events | n | static | online | online without replay |", "|---|---|---|---|---|"]
    for label, mask in groups:
        mask = mask & later
        cells = " | ".join(f"{runs[name].hit[mask].mean():.4f}" for name in ("static", "online", "online-no-replay"))
        lines.append(f"| {label} | {int(mask.sum())} | {cells} |")
    return lines


def _chunking(config: PrequentialConfig) -> str:
    return f"{config.chunk_events} events" if config.chunk_events else f"{config.chunk_days:g} days"


if __name__ == "__main__":
    main()
