"""Parity of lmrec's classic baselines with the RecBole 1.2.1 anchors on MovieLens-100K.

    OMP_NUM_THREADS=1 .venv/bin/python bench/recbole_parity.py

Writes bench/results/ml-100k/recbole_parity.md. Inputs (nothing is downloaded):
  * data: `lmrec.data.load_dataset("ml-100k")` from $LMREC_DATA_DIR, else <repo>/../shared/data;
  * RecBole figures: <anchors>/recbole/results/<Model>.json (`test_own_history_masked`, plus the native
    `test_result`), the RecBole configs in <anchors>/recbole/configs and the expected split in
    <anchors>/recbole/split_expected.tsv, with <anchors> = $LMREC_ANCHORS, else <repo>/../shared/anchors.

Protocol: per-user leave-one-out by time (ties by u.data line order), full ranking over all 1,682 items, the
query's own history masked. Two query conventions are reported:
  * "ours": the test query is the user's train + validation history (what lmrec's evaluator passes);
  * "RecBole": the test query is the train history only, train + validation items masked -- what RecBole's
    general models do (their score matrix comes from the training matrix), so it is the like-for-like check.

Pop differs from RecBole's by design: RecBole 1.2.1 Pop counts, per item, the training *batches* it appears in
(`item_cnt[item] += 1` with duplicate indices collapsing, negatives included), not its interactions. The script
re-creates that counting over 20 seeds to show RecBole's figure is what such counts give.

Everything is seeded with SEED (0); training runs single-threaded, so a rerun gives the same file up to the date.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's lmrec, whatever the cwd
from lmrec.config import read_yaml  # noqa: E402
from lmrec.data import load_dataset  # noqa: E402
from lmrec.data.split import Holdout, Split, leave_last_out  # noqa: E402
from lmrec.data.types import Dataset  # noqa: E402
from lmrec.io import atomic_write_text  # noqa: E402
from lmrec.models.base import BaseRecommender, mask_seen  # noqa: E402
from lmrec.models.mf import BPR, BPRConfig  # noqa: E402
from lmrec.models.registry import create_model  # noqa: E402
from lmrec.provenance import environment  # noqa: E402

SEED = 0  # BPR training seed, torch's global seed, first seed of the Pop re-creation
POP_SEEDS = 20
K = 10
SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA_DIR = Path(os.environ.get("LMREC_DATA_DIR") or SHARED / "data")
ANCHORS = Path(os.environ.get("LMREC_ANCHORS") or SHARED / "anchors") / "recbole"
OUT = REPO / "bench" / "results" / "ml-100k" / "recbole_parity.md"
RECBOLE_NAMES = {"pop": "Pop", "itemknn": "ItemKNN", "ease": "EASE", "bpr": "BPR"}


@dataclass
class Row:
    label: str
    model: str  # lmrec model name, keys RECBOLE_NAMES
    ndcg: float  # our query convention
    hr: float
    ndcg_rb: float  # RecBole's query convention
    hr_rb: float
    note: str = ""


def rel(path: Path) -> str:
    """`path` relative to the repo root where possible: the report names no machine-specific folders."""
    return os.path.relpath(path, REPO)


def load_anchor(model: str) -> dict[str, Any]:
    return json.loads((ANCHORS / "results" / f"{model}.json").read_text(encoding="utf-8"))


def recbole_config(model: str) -> dict[str, Any]:
    """RecBole's effective settings for `model`: common.yaml overridden by <Model>.yaml."""
    return {**read_yaml(ANCHORS / "configs" / "common.yaml"), **read_yaml(ANCHORS / "configs" / f"{model}.yaml")}


def check_split(ds: Dataset, split: Split) -> tuple[int, int]:
    """(users whose test item, validation item and train length match split_expected.tsv, users listed there)."""
    expected = pd.read_csv(ANCHORS / "split_expected.tsv", sep="\t", dtype=str).set_index("user_id")
    e = expected.reindex(ds.users.to_raw(split.test.users))
    same = (
        (e["test_item"].to_numpy() == ds.items.to_raw(split.test.targets.items))
        & (e["valid_item"].to_numpy() == ds.items.to_raw(split.valid.targets.items))
        & (e["n_train"].fillna("-1").astype(int).to_numpy() == split.valid.inputs.lengths)
    )
    return int(same.sum()), len(expected)


def metrics(scores: torch.Tensor, masked_by: Holdout, targets: np.ndarray, k: int = K) -> tuple[float, float]:
    """(NDCG@k, HR@k) for one target per row, masking the items of `masked_by.inputs`."""
    scores = mask_seen(scores.clone(), masked_by.inputs.histories())
    top = torch.topk(scores, k).indices.numpy()
    hit = top == targets[:, None]
    ndcg = np.where(hit.any(1), 1.0 / np.log2(hit.argmax(1) + 2), 0.0)
    return float(ndcg.mean()), float(hit.any(1).mean())


def evaluate(label: str, name: str, model: BaseRecommender, split: Split, note: str = "") -> Row:
    test, valid = split.test, split.valid
    ours = metrics(model.score(test.inputs.histories()), test, test.targets.items)
    recbole = metrics(model.score(valid.inputs.histories()), test, test.targets.items)
    return Row(label, name, *ours, *recbole, note)


def bpr_direct(label: str, model: BPR, split: Split, note: str) -> Row:
    """BPR scored with the trained user embeddings (RecBole's way; needs user IDs) instead of the fold-in.

    The embeddings saw the train history only, so both query conventions give the same scores.
    """
    with torch.no_grad():
        scores = model.module_.user.weight[torch.from_numpy(split.test.users)] @ model.module_.item.weight.T
    ndcg, hr = metrics(scores, split.test, split.test.targets.items)
    return Row(label, "bpr", ndcg, hr, ndcg, hr, note)


def bpr_rows(label: str, config: BPRConfig, split: Split, ds: Dataset) -> tuple[list[Row], str]:
    """Three scorings of one BPR fit, and its "best epoch b/n" (1-based)."""
    model = BPR(config).fit(split.train, valid=split.valid, catalog=ds.catalog)
    log = model.fit_log_
    epochs = f"best epoch {log.best_epoch}/{len(log.epochs)}"
    mean = BPR(replace(model.config, fold_in="mean"))
    mean.module_, mean.counts_, mean.n_items_ = model.module_, model.counts_, model.n_items_
    return [
        evaluate(f"{label}, ridge fold-in (lmrec's scoring)", "bpr", model, split, epochs),
        bpr_direct(f"{label}, trained user embedding (RecBole's scoring)", model, split, epochs),
        evaluate(f"{label}, mean fold-in", "bpr", mean, split, epochs),
    ], epochs


def recbole_pop_recreation(split: Split, batch_positives: int, seeds: range) -> dict[str, np.ndarray]:
    """RecBole 1.2.1 Pop counts `item_cnt[item] += 1` per *batch* (duplicate indices collapse) over batches of
    `batch_positives` positives + as many sampled negatives (Pop is pointwise: negatives are rows too); ties of the
    saturated counts are then broken arbitrarily by topk (here: at random, per seed).
    Per seed: NDCG@10, HR@10, items at the maximal count, and that count (= number of batches when saturated).
    """
    train, test = split.train, split.test
    n_items, positives = train.n_items, np.unique(train.user * train.n_items + train.item)
    out: dict[str, list[float]] = {"ndcg": [], "hr": [], "tied": [], "max_count": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(train))
        neg = rng.integers(0, n_items, len(order))
        clash = np.isin(train.user[order] * n_items + neg, positives)
        while clash.any():
            neg[clash] = rng.integers(0, n_items, int(clash.sum()))
            clash = np.isin(train.user[order] * n_items + neg, positives)
        counts = np.zeros(n_items)
        for start in range(0, len(order), batch_positives):
            stop = start + batch_positives
            counts[np.unique(np.concatenate([train.item[order[start:stop]], neg[start:stop]]))] += 1
        jitter = rng.random(n_items) * 1e-3  # arbitrary order among equal counts
        scores = torch.from_numpy((counts + jitter).astype(np.float32)).expand(len(test), -1)
        ndcg, hr = metrics(scores, test, test.targets.items)
        for key, value in (("ndcg", ndcg), ("hr", hr), ("tied", (counts == counts.max()).sum()),
                           ("max_count", counts.max())):
            out[key].append(float(value))
    return {key: np.asarray(values) for key, values in out.items()}


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def diff(ours: float, anchor: float | None) -> str:
    return "–" if anchor is None else f"{100 * (ours / anchor - 1):+.1f} %"


def spread(values: np.ndarray, digits: int = 4) -> str:
    return f"mean {values.mean():.{digits}f}, range {values.min():.{digits}f}–{values.max():.{digits}f}"


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    ds = load_dataset("ml-100k", data_dir=DATA_DIR, download=False)
    split = leave_last_out(ds.interactions)
    matched, listed = check_split(ds, split)
    anchors = {name: load_anchor(recbole) for name, recbole in RECBOLE_NAMES.items()}
    bpr_rb_cfg = recbole_config("BPR")
    pop_rb_cfg = recbole_config("Pop")

    default_bpr = BPRConfig()
    lmrec_bpr = replace(default_bpr, train=replace(default_bpr.train, seed=SEED))
    recbole_bpr = replace(
        default_bpr,
        train=replace(
            default_bpr.train,
            seed=SEED,
            lr=float(bpr_rb_cfg["learning_rate"]),
            weight_decay=float(bpr_rb_cfg.get("weight_decay", 0.0)),  # RecBole's default: none
            batch_size=int(bpr_rb_cfg["train_batch_size"]),
            patience=int(bpr_rb_cfg["stopping_step"]),
        ),
    )
    t = lmrec_bpr.train
    lmrec_label = f"bpr (lmrec defaults: lr {t.lr:g}, weight decay {t.weight_decay:g})"
    r = recbole_bpr.train
    recbole_label = f"bpr (RecBole settings: lr {r.lr:g}, weight decay {r.weight_decay:g})"

    rows: list[Row] = []
    tick = time.perf_counter()
    for name in ("pop", "itemknn", "ease"):
        model = create_model(name).fit(split.train, valid=split.valid, catalog=ds.catalog)
        rows.append(evaluate(name, name, model, split))
    lmrec_rows, lmrec_epochs = bpr_rows(lmrec_label, lmrec_bpr, split, ds)
    recbole_rows, recbole_epochs = bpr_rows(recbole_label, recbole_bpr, split, ds)
    rows += lmrec_rows + recbole_rows
    for name, label in (("tfidf", "tfidf"), ("hybrid", "hybrid (ease + tfidf, alpha 0.8)")):
        model = create_model(name).fit(split.train, valid=split.valid, catalog=ds.catalog)
        rows.append(evaluate(label, name, model, split))
    fit_seconds = time.perf_counter() - tick

    batch_rows = int(pop_rb_cfg["train_batch_size"])
    negatives = int(pop_rb_cfg.get("train_neg_sample_args", {}).get("sample_num", 1))
    batch_positives = batch_rows // (1 + negatives)  # RecBole's pointwise loader: positives + their negatives
    seeds = range(SEED, SEED + POP_SEEDS)
    pop = recbole_pop_recreation(split, batch_positives, seeds)
    train_counts = np.bincount(split.train.item, minlength=split.train.n_items)
    top_counts = [int(c) for c in np.sort(train_counts)[::-1][: K + 1]]  # one past K shows a tie at the cut
    pop_row = next(row for row in rows if row.model == "pop")
    pop_anchor = anchors["pop"]["test_own_history_masked"]

    # --- report ---------------------------------------------------------------------------------------------
    env = environment()
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    rb_versions = anchors["pop"]["versions"]
    prefix = " ".join(f"{var}={os.environ[var]}" for var in ("OMP_NUM_THREADS", "LMREC_DATA_DIR", "LMREC_ANCHORS")
                      if var in os.environ)
    command = " ".join(x for x in (prefix, ".venv/bin/python bench/recbole_parity.py", shlex.join(sys.argv[1:])) if x)
    native = []
    for name, anchor in anchors.items():
        own, res = anchor["test_own_history_masked"], anchor["test_result"]
        agree = all(abs(own[m] - res[m]) < 5e-5 for m in ("ndcg@10", "hit@10"))
        native.append(f"{RECBOLE_NAMES[name]} {res['ndcg@10']:.4f} / {res['hit@10']:.4f}"
                      + ("" if agree else " (differs from the history-masked re-score)"))

    lines = [
        "# lmrec vs RecBole 1.2.1: classic baselines on MovieLens-100K",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}  ",
        f"Seed: {SEED} (BPR training seed and torch's global seed; the Pop re-creation uses seeds "
        f"{seeds.start}–{seeds.stop - 1}); lmrec's TrainConfig default would be {BPRConfig().train.seed}.  ",
        f"Threads: torch {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"all fits together took {fit_seconds:.1f} s (timings are not the point here; the machine may have been "
        "shared).  ",
        f"Versions: {versions}; {env['platform']}  ",
        f"RecBole anchors: RecBole {rb_versions['recbole']} (torch {rb_versions['torch']}, numpy "
        f"{rb_versions['numpy']}), read from `{rel(ANCHORS / 'results')}/<Model>.json`.  ",
        f"Data: `lmrec.data.load_dataset(\"ml-100k\")` from `{rel(DATA_DIR)}`: {ds.n_users} users, {ds.n_items} items, "
        f"{len(ds.interactions)} interactions.",
        "",
        "## Protocol",
        "",
        "Per-user leave-one-out by time (timestamp ties keep u.data line order), full ranking over all "
        f"{ds.n_items} items, the user's own history masked, one target per user, {len(split.test)} test users, "
        f"{len(split.train)} training interactions.",
        "",
        f"Split check against `{rel(ANCHORS / 'split_expected.tsv')}` (test item, validation item and train "
        f"length per user): **{matched} of {listed} users match**.",
        "",
        "Two query conventions:",
        "",
        "* **ours**: the test query is the user's train + validation history (what lmrec's evaluator passes);",
        "* **RecBole query**: the test query is the train history only, with train + validation items masked -- "
        "what RecBole's general models do (their scores come from the training matrix). This is the like-for-like "
        "column; the relative difference is computed on it.",
        "",
        "RecBole figures are `test_own_history_masked` (RecBole's checkpoints re-scored with the same metric code "
        "and masking); RecBole's native `test_result` (NDCG@10 / HR@10, rounded by RecBole) is "
        + "; ".join(native) + ".",
        "",
        "## Results (NDCG@10 / HR@10)",
        "",
        "| model | NDCG@10 (ours) | HR@10 (ours) | NDCG@10 (RecBole query) | HR@10 (RecBole query) | "
        "RecBole NDCG@10 | RecBole HR@10 | rel. diff NDCG@10 | rel. diff HR@10 | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        anchor = anchors.get(row.model, {}).get("test_own_history_masked")
        a_ndcg, a_hr = (anchor["ndcg@10"], anchor["hit@10"]) if anchor else (None, None)
        lines.append(
            f"| {row.label} | {fmt(row.ndcg)} | {fmt(row.hr)} | {fmt(row.ndcg_rb)} | {fmt(row.hr_rb)} | "
            f"{fmt(a_ndcg)} | {fmt(a_hr)} | {diff(row.ndcg_rb, a_ndcg)} | {diff(row.hr_rb, a_hr)} | "
            f"{row.note or '–'} |"
        )
    lines += [
        "",
        "tfidf and hybrid have no RecBole counterpart. The BPR rows all compare with RecBole's one BPR run; the "
        "like-for-like one is RecBole's settings scored with the trained user embedding.",
        "",
        "## Why Pop differs",
        "",
        f"lmrec's Pop ranks items by their number of training interactions: NDCG@10 {pop_row.ndcg_rb:.4f}, HR@10 "
        f"{pop_row.hr_rb:.4f}, {diff(pop_row.ndcg_rb, pop_anchor['ndcg@10'])} over RecBole's "
        f"{pop_anchor['ndcg@10']:.4f} / {pop_anchor['hit@10']:.4f}. The {len(top_counts)} highest "
        f"training counts are {', '.join(str(c) for c in top_counts)}"
        + (
            ": no ties at all." if len(set(top_counts)) == len(top_counts)
            else f": the {K}th and {K + 1}th differ, so the top-{K} set is fixed (ties inside it only swap places)."
            if top_counts[K - 1] != top_counts[K]
            else f": a tie at the top-{K} cut."
        ),
        "",
        f"RecBole {rb_versions['recbole']} Pop (`recbole/model/general_recommender/pop.py`) does "
        "`self.item_cnt[item, :] = self.item_cnt[item, :] + 1` once per training batch. With duplicate indices that "
        "assignment adds 1 per item per *batch*, not per interaction; and since Pop is a pointwise model, each batch "
        f"holds {batch_positives} positives plus {batch_positives * negatives} sampled negatives "
        f"(train_batch_size {batch_rows}, {negatives} uniform negative per positive), all counted. Every item that "
        "appears in every batch saturates at the number of batches, and torch.topk orders those ties arbitrarily.",
        "",
        f"Re-created here (same counting, random tie-break, seeds {seeds.start}–{seeds.stop - 1}, "
        f"{len(seeds)} runs):",
        "",
        "| measure | over the seeds |",
        "|---|---|",
        f"| NDCG@10 | {spread(pop['ndcg'])} |",
        f"| HR@10 | {spread(pop['hr'])} |",
        f"| items tied at the top count | {spread(pop['tied'], 1)} |",
        f"| top count (= number of batches, {int(np.ceil(len(split.train) / batch_positives))}) | "
        f"{spread(pop['max_count'], 0)} |",
        f"| RecBole's figure (NDCG@10 / HR@10) | {pop_anchor['ndcg@10']:.4f} / {pop_anchor['hit@10']:.4f} |",
        "",
        f"RecBole's NDCG@10 {pop_anchor['ndcg@10']:.4f} lies "
        + ("inside" if pop["ndcg"].min() <= pop_anchor["ndcg@10"] <= pop["ndcg"].max() else "outside")
        + " the re-created range: its Pop is a random pick among the saturated items, not a popularity ranking. "
        "lmrec keeps the interaction count (the usual definition of most-popular); its higher figure is expected.",
        "",
        "## BPR settings",
        "",
        f"lmrec's BPR defaults are lr {t.lr:g} with Adam weight decay {t.weight_decay:g} (batch {t.batch_size}, "
        f"patience {t.patience}); RecBole's are lr {r.lr:g} and no weight decay (batch {r.batch_size}, "
        f"stopping_step {r.patience}, from `{rel(ANCHORS / 'configs')}`). Early stopping on validation "
        f"NDCG@10: lmrec defaults {lmrec_epochs}, RecBole settings in lmrec {recbole_epochs}, RecBole's own run "
        f"best epoch {anchors['bpr']['best_valid_epoch'] + 1}/{anchors['bpr']['epochs_run']} (RecBole logs epochs "
        "from 0; shown here from 1). Same settings, different code: RecBole's run is the like-for-like reference "
        "for the \"RecBole settings, trained user embedding\" row. These are single runs with seed "
        f"{SEED}: with early stopping on a noisy validation curve, another seed can stop at a very different "
        "epoch, so read the BPR rows as one draw, not as a settled gap.",
        "",
        "lmrec's BPR scores a user by folding the query history into the item factors (ridge fold-in), so it also "
        "serves users unseen in training and uses the validation item in our query convention; RecBole scores with "
        "the trained user embedding. Both scorings (and a plain mean fold-in) are shown for both settings.",
        "",
    ]
    atomic_write_text(OUT, "\n".join(lines))
    print(f"wrote {rel(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
