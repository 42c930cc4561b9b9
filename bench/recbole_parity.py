"""Temporary check of the classic baselines against the RecBole 1.2.1 anchors on MovieLens-100K.

Superseded by the CLI benchmark; prints a markdown table, writes nothing. Run from the repo root:

    OMP_NUM_THREADS=1 .venv/bin/python bench/baselines_ml100k.py

Protocol: per-user leave-one-out by time (ties by u.data line order), full ranking over all 1,682 items, the
query's own history masked. Two query conventions are reported:
  * "ours": the test query is the user's train + validation history (what lmrec's evaluator passes);
  * "RecBole": the test query is the train history only, train + validation items masked -- what RecBole's
    general models do (their score matrix comes from the training matrix), so it is the like-for-like check.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmrec.data.build import build_dataset
from lmrec.data.split import Holdout, Split, leave_last_out
from lmrec.data.types import Dataset
from lmrec.models.base import BaseRecommender, mask_seen
from lmrec.models.mf import BPRConfig
from lmrec.models.registry import get_model_class
from lmrec.train.trainer import TrainConfig

DATA = Path(os.environ.get("ML100K", "/work/shared/data/ml-100k"))
ANCHORS = Path(os.environ.get("ANCHORS", "/work/shared/anchors/recbole"))
RECBOLE = {
    "pop": (0.0313, 0.0689),
    "itemknn": (0.0619, 0.1124),
    "ease": (0.0698, 0.1347),
    "bpr": (0.0486, 0.0880),
}


def load() -> Dataset:
    """Throwaway reader: u.data (TAB, no header) and u.item ('|', ISO-8859-1) with genre names as text."""
    inter = pd.read_csv(
        DATA / "u.data", sep="\t", header=None, dtype=str, names=["user_id", "item_id", "rating", "timestamp"]
    )
    genres = pd.read_csv(DATA / "u.genre", sep="|", header=None, names=["genre", "index"])["genre"].tolist()
    items = pd.read_csv(
        DATA / "u.item",
        sep="|",
        header=None,
        encoding="ISO-8859-1",
        dtype=str,
        names=["item_id", "title", "release", "video", "url", *genres],
    )
    flags = items[genres].astype(int).to_numpy().astype(bool)
    items["genres"] = ["|".join(g for g, on in zip(genres, row, strict=True) if on) for row in flags]
    return build_dataset(
        inter[["user_id", "item_id", "timestamp"]],
        items[["item_id", "title", "genres"]],
        name="ml-100k",
        text_fields=("title", "genres"),
    )


def check_split(ds: Dataset, split: Split) -> int:
    expected = pd.read_csv(ANCHORS / "split_expected.tsv", sep="\t", dtype=str).set_index("user_id")
    e = expected.loc[ds.users.to_raw(split.test.users)]
    same = (
        (e["test_item"].to_numpy() == ds.items.to_raw(split.test.targets.items))
        & (e["valid_item"].to_numpy() == ds.items.to_raw(split.valid.targets.items))
        & (e["n_train"].astype(int).to_numpy() == split.valid.inputs.lengths)
    )
    return int(same.sum())


def metrics(
    scores: torch.Tensor, masked_by: Holdout, targets: np.ndarray, k: int = 10
) -> tuple[float, float]:
    """(NDCG@k, HR@k) for one target per row, masking the items of `masked_by.inputs`."""
    scores = mask_seen(scores.clone(), masked_by.inputs.histories())
    top = torch.topk(scores, k).indices.numpy()
    hit = top == targets[:, None]
    ndcg = np.where(hit.any(1), 1.0 / np.log2(hit.argmax(1) + 2), 0.0)
    return float(ndcg.mean()), float(hit.any(1).mean())


def evaluate(model: BaseRecommender, split: Split) -> dict[str, float]:
    test, valid = split.test, split.valid
    ours = metrics(model.score(test.inputs.histories()), test, test.targets.items)
    recbole = metrics(model.score(valid.inputs.histories()), test, test.targets.items)
    return {"ndcg": ours[0], "hr": ours[1], "ndcg_rb": recbole[0], "hr_rb": recbole[1]}


def bpr_direct(model, split: Split) -> dict[str, float]:
    """BPR scored with the trained user embeddings (needs user IDs) instead of the history fold-in."""
    with torch.no_grad():
        scores = model.module_.user.weight[torch.from_numpy(split.test.users)] @ model.module_.item.weight.T
    ndcg, hr = metrics(scores, split.test, split.test.targets.items)
    return {"ndcg": ndcg, "hr": hr, "ndcg_rb": ndcg, "hr_rb": hr}


def recbole_pop_emulation(split: Split, seeds: int = 20) -> tuple[np.ndarray, float]:
    """RecBole 1.2.1 Pop counts `item_cnt[item] += 1` per *batch* (duplicate indices collapse) over batches of
    1024 positives + 1024 sampled negatives; ties of the saturated counts are then broken arbitrarily by topk.
    Returns NDCG@10 per seed (random tie-break) and the share of items at the maximal count.
    """
    train, test = split.train, split.test
    n_items, positives = train.n_items, np.unique(train.user * train.n_items + train.item)
    results, saturated = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(train))
        neg = rng.integers(0, n_items, len(order))
        clash = np.isin(train.user[order] * n_items + neg, positives)
        while clash.any():
            neg[clash] = rng.integers(0, n_items, int(clash.sum()))
            clash = np.isin(train.user[order] * n_items + neg, positives)
        counts = np.zeros(n_items)
        for start in range(0, len(order), 1024):
            batch = np.concatenate([train.item[order[start : start + 1024]], neg[start : start + 1024]])
            counts[np.unique(batch)] += 1
        saturated.append(float((counts == counts.max()).sum()))
        jitter = rng.random(n_items) * 1e-3  # arbitrary order among equal counts
        scores = torch.from_numpy((counts + jitter).astype(np.float32)).expand(len(test), -1)
        results.append(metrics(scores, test, test.targets.items)[0])
    return np.asarray(results), float(np.mean(saturated))


def main() -> None:
    torch.set_num_threads(1)
    ds = load()
    split = leave_last_out(ds.interactions)
    print(
        f"split: {len(split.train)} train events, {len(split.test)} test users, "
        f"{check_split(ds, split)}/{len(split.test)} users match split_expected.tsv"
    )
    bpr_recbole = BPRConfig(fold_in_reg=1.0, train=TrainConfig(lr=1e-3, weight_decay=0.0))
    runs = [
        ("pop", "pop", None),
        ("itemknn", "itemknn", None),
        ("ease", "ease", None),
        ("bpr", "bpr", None),
        ("bpr (RecBole lr 1e-3, no L2)", "bpr", bpr_recbole),
        ("tfidf", "tfidf", None),
        ("hybrid (ease + tfidf, alpha 0.8)", "hybrid", None),
    ]
    rows = []
    for label, name, config in runs:
        cls = get_model_class(name)
        model = cls(config) if config is not None else cls()
        tick = time.perf_counter()
        model.fit(split.train, valid=split.valid, catalog=ds.catalog)
        seconds = time.perf_counter() - tick
        rows.append((label, evaluate(model, split), seconds, ""))
        if name == "bpr":
            log = model.fit_log_
            rows.append(
                (
                    f"{label}: trained user embedding",
                    bpr_direct(model, split),
                    seconds,
                    f"best epoch {log.best_epoch}/{len(log.epochs)}",
                )
            )
            for variant in ("mean",):
                alt = type(model)(replace(model.config, fold_in=variant))
                alt.module_, alt.counts_, alt.n_items_ = model.module_, model.counts_, model.n_items_
                rows.append((f"{label}: fold-in '{variant}'", evaluate(alt, split), seconds, ""))
        print(f"  done {label} in {seconds:.2f}s", file=sys.stderr, flush=True)

    print(
        "\n| model | NDCG@10 | HR@10 | NDCG@10 (RecBole query) | HR@10 (RecBole query) | RecBole NDCG@10 | "
        "rel. diff | train s | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, m, seconds, note in rows:
        anchor = RECBOLE.get(label)
        diff = f"{100 * (m['ndcg_rb'] / anchor[0] - 1):+.1f} %" if anchor else ""
        print(
            f"| {label} | {m['ndcg']:.4f} | {m['hr']:.4f} | {m['ndcg_rb']:.4f} | {m['hr_rb']:.4f} | "
            f"{anchor[0] if anchor else ''} | {diff} | {seconds:.2f} | {note} |"
        )

    emulated, saturated = recbole_pop_emulation(split)
    print(
        f"\nRecBole-Pop emulation (per-batch presence counts, random tie-break, {len(emulated)} seeds): "
        f"NDCG@10 mean {emulated.mean():.4f}, min {emulated.min():.4f}, max {emulated.max():.4f}; "
        f"{saturated:.0f} items share the maximal count on average (RecBole: 0.0313)"
    )


if __name__ == "__main__":
    main()
