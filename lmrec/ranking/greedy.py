"""Greedy list building shared by the list-level re-rankers (calibration, fair exposure): at each of k steps
every row picks the candidate that maximises rel_weight * rel + objective, where rel is the retrieval score
min-max scaled over the row's candidates and the objective depends on what the list holds so far."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from lmrec.data.types import PAD
from lmrec.ranking.candidates import Candidates


class ListObjective(Protocol):
    def __call__(self, rows: slice, picked: np.ndarray, step: int, feats: np.ndarray
                 ) -> tuple[np.ndarray | float, np.ndarray]:
        """(weight on relevance, broadcastable to [B, 1]; objective [B, M]) for the batch rows `rows`, given the
        sum of the picked items' features `picked [B, F]` after `step` picks and each candidate's `feats
        [B, M, F]`."""
        ...


def greedy_rerank(candidates: Candidates, k: int, objective: ListObjective, features: np.ndarray,
                  chunk: int = 64) -> Candidates:
    """The top k chosen greedily; `features [N, F]` describe each item (a category mix, a group one-hot)."""
    k = min(int(k), candidates.items.shape[1])
    parts = [_greedy(slice(s, s + chunk), candidates.items[s:s + chunk], candidates.scores[s:s + chunk], k,
                     objective, features) for s in range(0, len(candidates), chunk)]
    if not parts:
        return candidates.head(k)
    return Candidates(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def scaled_relevance(items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """[B, M] scores min-max scaled to [0, 1] over each row's real candidates (1 where they are all equal)."""
    valid = items >= 0
    relevance = np.where(valid & np.isfinite(scores), scores, np.nan).astype(np.float64)
    with np.errstate(all="ignore"):
        low = np.nan_to_num(np.nanmin(relevance, axis=1, keepdims=True))
        spread = np.nan_to_num(np.nanmax(relevance, axis=1, keepdims=True)) - low
    scaled = (np.nan_to_num(relevance, nan=0.0) - low) / np.where(spread > 0, spread, 1.0)
    return np.where(spread > 0, scaled, 1.0)


def _greedy(rows: slice, items: np.ndarray, scores: np.ndarray, k: int, objective: ListObjective,
            features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = items >= 0
    rel = scaled_relevance(items, scores)
    feats = features[np.where(valid, items, 0)] * valid[..., None]  # [B, M, F]
    picked = np.zeros((len(items), features.shape[1]), np.float64)
    taken = ~valid
    index = np.arange(len(items))
    order = np.full((len(items), k), -1, np.int64)
    for step in range(k):
        rel_weight, value = objective(rows, picked, step, feats)
        total = np.where(taken, -np.inf, rel_weight * rel + value)
        pick = total.argmax(axis=1)  # the first of equal values
        live = np.isfinite(total[index, pick])
        order[:, step] = np.where(live, pick, -1)
        taken[index[live], pick[live]] = True
        picked[live] += feats[index[live], pick[live]]
    chosen = order >= 0
    safe = np.where(chosen, order, 0)
    out_items = np.where(chosen, np.take_along_axis(items, safe, axis=1), PAD)
    out_scores = np.where(chosen, np.take_along_axis(scores, safe, axis=1), -np.inf).astype(np.float32)
    return out_items, out_scores
