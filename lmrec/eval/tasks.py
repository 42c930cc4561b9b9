"""Per-task metrics beside ranking: RMSE/MAE of predicted ratings and AUC/log-loss of predicted clicks, on the
test events of a split (each with the history its user had before the test period).

    pairs = event_pairs(dataset, split)                     # (history, item, rating) per test event
    evaluate_ratings(model, pairs)                         # {"rmse": .., "mae": .., "n": .., "ci": {...}}
    evaluate_clicks(model, pairs, n_items=dataset.n_items) # the test item vs one uniform item per event

Under a global time split the test events are every event of a test user at or after the cut, all predicted
from the history before it (the honest setting: ratings of the future from the past); most papers quote RMSE on a
random 80/20 split of ratings, where a user's later ratings help predict their earlier ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lmrec.data.split import Split
from lmrec.data.types import Dataset, Histories
from lmrec.errors import ConfigError, DataError
from lmrec.eval.stats import bootstrap_ci
from lmrec.models.capabilities import ClickPredictor, RatingPredictor, supports


@dataclass(frozen=True, eq=False)
class EventPairs:
    """Test events as (holdout row, item, value, time): row r's history is `split.test.histories([r])`."""

    split: Split
    rows: np.ndarray
    items: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def histories(self, picked: np.ndarray) -> Histories:
        return self.split.test.histories(self.rows[picked])


def event_pairs(dataset: Dataset, split: Split) -> EventPairs:
    """Every test event of every test user: at or after the cut (global_time), or the last event
    (leave_last_out); values are the events' ratings (NaN when the data has none)."""
    inter, test = dataset.interactions, split.test
    seqs = inter.sequences()
    order = np.argsort(inter.user, kind="stable")
    values = inter.value[order] if inter.value is not None else np.full(len(inter), np.nan, np.float32)
    method = split.info.get("method")
    rows, items, out = [], [], []
    for r, u in enumerate(np.asarray(test.users)):
        lo, hi = seqs.indptr[u], seqs.indptr[u + 1]
        if method == "global_time":
            picked = np.arange(lo, hi)[seqs.times[lo:hi] >= int(split.info["cut"])]
        elif method == "leave_last_out":
            picked = np.asarray([hi - 1])
        else:
            raise ConfigError(f"per-task metrics know global_time and leave_last_out splits, not {method!r}")
        rows += [r] * len(picked)
        items += seqs.items[picked].tolist()
        out += values[picked].tolist()
    if not rows:
        raise DataError("the test holdout has no events to predict")
    return EventPairs(split, np.asarray(rows, np.int64), np.asarray(items, np.int64), np.asarray(out, np.float64))


def evaluate_ratings(model, pairs: EventPairs, *, batch_size: int = 1024, n_bootstrap: int = 1000,
                     seed: int = 0) -> dict:
    """RMSE and MAE of `model.predict_ratings` over the rated test events, with 95% bootstrap CIs over events."""
    if not supports(model, RatingPredictor):
        raise ConfigError(f"{model.name} does not predict ratings")
    rated = np.flatnonzero(np.isfinite(pairs.values))
    if not len(rated):
        raise DataError("the test events carry no ratings")
    predicted = _batched(lambda p: model.predict_ratings(pairs.histories(p), pairs.items[p]), rated, batch_size)
    error = predicted - pairs.values[rated]
    squared, absolute = error**2, np.abs(error)
    lo, hi = bootstrap_ci(squared, n_bootstrap, 0.95, seed)
    return {"rmse": float(np.sqrt(squared.mean())), "mae": float(absolute.mean()), "n": int(len(rated)),
            "ci": {"rmse": [float(np.sqrt(lo)), float(np.sqrt(hi))],
                   "mae": [float(v) for v in bootstrap_ci(absolute, n_bootstrap, 0.95, seed)]}}


def evaluate_clicks(model, pairs: EventPairs, *, n_items: int, seed: int = 0, batch_size: int = 1024) -> dict:
    """AUC and log-loss of `model.predict_clicks`: each test event's item (a click) against one item drawn
    uniformly from the catalogue (not a click; "sampled candidates", not impressions a user saw)."""
    from sklearn.metrics import log_loss, roc_auc_score

    if not supports(model, ClickPredictor):
        raise ConfigError(f"{model.name} does not predict clicks")
    negatives = np.random.default_rng(seed).integers(0, n_items, size=len(pairs))
    both = dataclasses.replace(pairs, rows=np.concatenate([pairs.rows, pairs.rows]),
                               items=np.concatenate([pairs.items, negatives]))
    every = np.arange(len(both.rows))
    predicted = _batched(lambda p: model.predict_clicks(both.histories(p), both.items[p]), every, batch_size)
    labels = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    clipped = np.clip(predicted, 1e-7, 1 - 1e-7)
    return {"auc": float(roc_auc_score(labels, predicted)), "log_loss": float(log_loss(labels, clipped)),
            "n": int(len(labels))}


def _batched(predict, picked: np.ndarray, batch_size: int) -> np.ndarray:
    parts = [np.asarray(predict(picked[s:s + batch_size]), np.float64) for s in range(0, len(picked), batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0)
