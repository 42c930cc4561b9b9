"""Per-user accuracy metrics as pure numpy functions of a hit matrix: the one implementation that evaluation,
early stopping and prequential replay all use.

`hits [U, K] bool`: hits[u, j] is True when the j-th recommended item (0-based, best first) of user u is one
of its targets; `n_targets [U]` is how many distinct targets user u has. Every function returns one float
per user; the caller averages (and bootstraps) over users. Gains are binary; DCG discounts by log2(position
+ 1), 1-based.
A user with no targets scores 0 everywhere (the ranking step never produces such users).
"""

from __future__ import annotations

import numpy as np

ACCURACY_METRICS = ("hr", "recall", "precision", "ndcg", "mrr", "map")


def hit_matrix(ranked: np.ndarray, indptr: np.ndarray, items: np.ndarray, k: int | None = None) -> np.ndarray:
    """[b, k] bool: which entries of `ranked [b, <=k]` (item indices, PAD = -1 where short) are targets of their
    row, the targets given as ragged CSR lists (`indptr [b+1]`, `items`). Short lists are padded with misses."""
    ranked = np.asarray(ranked, dtype=np.int64)
    width = ranked.shape[1] if k is None else int(k)
    n_targets = np.diff(indptr)
    row_of = np.repeat(np.arange(len(ranked)), n_targets)
    span = int(max(items.max(initial=0), ranked.max(initial=0))) + 1
    hits = np.isin(np.arange(len(ranked))[:, None] * span + ranked, row_of * span + items) & (ranked >= 0)
    out = np.zeros((len(ranked), width), dtype=bool)
    out[:, : min(width, hits.shape[1])] = hits[:, :width]
    return out


def _check(hits: np.ndarray, n_targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    hits = np.asarray(hits, dtype=bool)
    n_targets = np.asarray(n_targets, dtype=np.int64)
    if hits.ndim != 2 or n_targets.shape != (hits.shape[0],):
        raise ValueError(f"hits must be [U, K] and n_targets [U]; got {hits.shape} and {n_targets.shape}")
    if k < 1 or k > hits.shape[1]:
        raise ValueError(f"k={k} must be between 1 and the hit matrix width {hits.shape[1]}")
    return hits[:, :k], n_targets


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def hit_rate(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """HR@k: 1 if any target is in the top k."""
    hits, _ = _check(hits, n_targets, k)
    return hits.any(axis=1).astype(np.float64)


def recall(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Recall@k: targets found in the top k / number of targets."""
    hits, n_targets = _check(hits, n_targets, k)
    return _safe_divide(hits.sum(axis=1), n_targets)


def precision(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Precision@k: targets found in the top k / k (k even when fewer than k items could be ranked)."""
    hits, _ = _check(hits, n_targets, k)
    return hits.sum(axis=1) / float(k)


def ndcg(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k: DCG of the top k over the ideal DCG with min(n_targets, k) hits at the top."""
    hits, n_targets = _check(hits, n_targets, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_targets, k)]
    return _safe_divide(dcg, ideal)


def mrr(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """MRR@k: 1 / (1-based position of the first hit), 0 when no target is in the top k."""
    hits, _ = _check(hits, n_targets, k)
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def average_precision(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """AP@k (averaged over users it is MAP@k): sum of precision@i at each hit i / min(n_targets, k)."""
    hits, n_targets = _check(hits, n_targets, k)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _safe_divide((precision_at * hits).sum(axis=1), np.minimum(n_targets, k))


METRIC_FUNCTIONS = {"hr": hit_rate, "recall": recall, "precision": precision, "ndcg": ndcg, "mrr": mrr,
                    "map": average_precision}


def auc(target_ranks: np.ndarray, n_targets: np.ndarray, n_candidates: np.ndarray) -> np.ndarray:
    """Per-user AUC: the fraction of (target, non-target) candidate pairs with the target ranked above.

    `target_ranks` is flat, user after user (n_targets[u] entries each), holding each target's 0-based rank
    among the candidates: the number of candidates scored strictly higher plus half of the other tied
    candidates (other targets included). Mann-Whitney: the T targets rank each other T(T-1)/2 times in
    total, so the non-targets above them number sum(ranks) - T(T-1)/2. NaN for a user with no non-target
    candidate (AUC undefined).
    """
    target_ranks = np.asarray(target_ranks, dtype=np.float64)
    n_targets = np.asarray(n_targets, dtype=np.int64)
    n_candidates = np.asarray(n_candidates, dtype=np.int64)
    if target_ranks.shape != (int(n_targets.sum()),) or n_candidates.shape != n_targets.shape:
        raise ValueError("target_ranks must hold sum(n_targets) entries and n_candidates one per user")
    owner = np.repeat(np.arange(len(n_targets)), n_targets)
    rank_sum = np.bincount(owner, weights=target_ranks, minlength=len(n_targets))
    negatives = n_candidates - n_targets
    pairs = (n_targets * negatives).astype(np.float64)
    misordered = rank_sum - n_targets * (n_targets - 1) / 2.0
    out = np.full(len(n_targets), np.nan)
    ok = pairs > 0
    out[ok] = 1.0 - misordered[ok] / pairs[ok]
    return out
