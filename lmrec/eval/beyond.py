"""Beyond-accuracy measures of the top-k lists: coverage, diversity, novelty, popularity bias, concentration.

All take `topk_items [U, >=k]` (dense item indices, best first, PAD = -1 where a list is short) and look at
the first k columns. Per-user measures return one float per user, NaN where a list is too short to define it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from lmrec.data.types import PAD, Interactions

_CHUNK_ELEMENTS = 4_000_000


def item_counts(train: Interactions) -> np.ndarray:
    """[n_items] number of training interactions of each item (the popularity the measures below use)."""
    return np.bincount(np.asarray(train.item, dtype=np.int64), minlength=train.n_items).astype(np.int64)


def _lists(topk_items: np.ndarray, k: int) -> np.ndarray:
    topk_items = np.asarray(topk_items, dtype=np.int64)
    if topk_items.ndim != 2 or not 1 <= k <= topk_items.shape[1]:
        raise ValueError(f"topk_items must be [U, >= k]; got {topk_items.shape} for k={k}")
    return topk_items[:, :k]


def recommendation_counts(topk_items: np.ndarray, n_items: int, k: int) -> np.ndarray:
    """[n_items] how many top-k lists contain each item."""
    lists = _lists(topk_items, k)
    return np.bincount(lists[lists != PAD], minlength=n_items)


def coverage(topk_items: np.ndarray, n_items: int, k: int) -> float:
    """Catalogue coverage: distinct items recommended in any top-k list / n_items."""
    return float((recommendation_counts(topk_items, n_items, k) > 0).sum() / n_items)


def gini(counts: np.ndarray) -> float:
    """Gini index of a non-negative count vector (0 = perfectly even, -> 1 = all on one entry).

    G = sum_i (2i - n - 1) x_(i) / (n sum x), with x sorted ascending and i = 1..n.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float(((2 * np.arange(1, n + 1) - n - 1) @ x) / (n * total))


def recommendation_gini(topk_items: np.ndarray, n_items: int, k: int) -> float:
    """Gini index of how often each catalogue item (unrecommended ones too) appears in the top-k lists."""
    return gini(recommendation_counts(topk_items, n_items, k))


def _per_user_mean(lists: np.ndarray, per_item: np.ndarray) -> np.ndarray:
    valid = lists != PAD
    values = np.where(valid, per_item[np.where(valid, lists, 0)], 0.0)
    n = valid.sum(axis=1)
    return np.divide(values.sum(axis=1), n, out=np.full(len(lists), np.nan), where=n > 0)


def novelty(topk_items: np.ndarray, k: int, counts: np.ndarray) -> np.ndarray:
    """Per-user mean of -log2(popularity share) of the recommended items; share = item count / all counts.

    Items never seen in training are treated as seen once (finite, maximal novelty).
    """
    counts = np.asarray(counts, dtype=np.float64)
    share = np.maximum(counts, 1.0) / max(counts.sum(), 1.0)
    return _per_user_mean(_lists(topk_items, k), -np.log2(share))


def average_popularity(topk_items: np.ndarray, k: int, counts: np.ndarray) -> np.ndarray:
    """ARP: per-user mean training count of the recommended items."""
    return _per_user_mean(_lists(topk_items, k), np.asarray(counts, dtype=np.float64))


def intra_list_diversity(topk_items: np.ndarray, k: int, *, item_vectors: np.ndarray | None = None,
                         item_categories: Sequence[frozenset[str]] | None = None) -> np.ndarray:
    """Per-user mean pairwise distance inside the top-k list.

    Distance is 1 - cosine over `item_vectors [n_items, d]` when given (a zero vector has cosine 0 with all),
    else 1 - Jaccard over `item_categories` (two items with no category at all count as identical). NaN for
    lists with fewer than two items.
    """
    lists = _lists(topk_items, k)
    first, second = np.triu_indices(k, 1)
    if item_vectors is not None:
        distance = _cosine_distance(np.asarray(item_vectors, dtype=np.float64))
    elif item_categories is not None:
        distance = _jaccard_distance(item_categories)
    else:
        raise ValueError("intra_list_diversity needs item_vectors or item_categories")
    out = np.full(len(lists), np.nan)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(len(first), 1))
    for start in range(0, len(lists), per_chunk):
        block = lists[start:start + per_chunk]
        a, b = block[:, first], block[:, second]
        valid = (a != PAD) & (b != PAD)
        left, right = np.where(valid, a, 0).ravel(), np.where(valid, b, 0).ravel()
        pair_distance = distance(left, right).reshape(a.shape)
        d = np.where(valid, pair_distance, 0.0)
        n = valid.sum(axis=1)
        out[start:start + len(block)] = np.divide(d.sum(axis=1), n, out=np.full(len(block), np.nan),
                                                  where=n > 0)
    return out


def _cosine_distance(vectors: np.ndarray):
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty(len(a))
        step = max(1, _CHUNK_ELEMENTS // max(unit.shape[1], 1))
        for s in range(0, len(a), step):
            out[s:s + step] = 1.0 - np.einsum("ij,ij->i", unit[a[s:s + step]], unit[b[s:s + step]])
        return out

    return distance


def _jaccard_distance(categories: Sequence[frozenset[str]]):
    vocabulary = {c: i for i, c in enumerate(sorted({c for cats in categories for c in cats}))}
    rows = np.repeat(np.arange(len(categories)), [len(c) for c in categories])
    cols = np.fromiter((vocabulary[c] for cats in categories for c in sorted(cats)), dtype=np.int64,
                       count=len(rows))
    shape = (len(categories), max(len(vocabulary), 1))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()

    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        inter = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1)).ravel()
        union = sizes[a] + sizes[b] - inter
        return 1.0 - np.divide(inter, union, out=np.ones(len(a)), where=union > 0)

    return distance


def exposure_gap(topk_items: np.ndarray, k: int, head: np.ndarray) -> float:
    """The head's share of position-discounted exposure (1 / log2(rank + 1)) in the top-k lists minus its share of
    the catalogue: 0 when every item gets the same exposure on average, -> 1 - share when the head gets it all.
    `head [N]` bool marks the short head (lmrec.ranking.exposure.popularity_groups == 0)."""
    lists = _lists(topk_items, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    real = lists != PAD
    exposure = np.broadcast_to(discount, lists.shape)[real]
    total = exposure.sum()
    if total == 0:
        return float("nan")
    return float(exposure[head[lists[real]]].sum() / total - head.mean())


def miscalibration(topk_items: np.ndarray, k: int, history_mixes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[U] Steck's miscalibration KL(p || q~) of each top-k list's category mix q against the user's history mix
    p (rows of `history_mixes`, lmrec.ranking.calibration.history_mix); NaN where the history has no category."""
    from lmrec.ranking.calibration import kl_divergence, list_mix

    lists = _lists(topk_items, k)
    values = kl_divergence(history_mixes, list_mix(lists, matrix))
    return np.where(history_mixes.sum(axis=1) > 0, values, np.nan)


def sequence_mixes(inputs, rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[U, G] the category mix of each holdout input row in `rows` (a Sequences), as `history_mix` computes it."""
    lengths = inputs.lengths[rows]
    owner = np.repeat(np.arange(len(rows)), lengths)
    items = np.concatenate([inputs.row(r) for r in rows]) if len(rows) else np.zeros(0, np.int64)
    sums = np.zeros((len(rows), matrix.shape[1]), np.float64)
    np.add.at(sums, owner, matrix[items])
    total = sums.sum(axis=1, keepdims=True)
    return np.where(total > 0, sums / np.where(total > 0, total, 1.0), 0.0)


def group_exposure_gini(topk_items: np.ndarray, k: int, groups: np.ndarray) -> float:
    """Gini over item groups (providers such as brands: `groups [N]` group index per item) of the position-discounted
    exposure each group gets per catalogue item it has: 0 when every group's exposure is in proportion to its size,
    -> 1 when one group gets all of it."""
    lists = _lists(topk_items, k)
    real = lists != PAD
    discount = np.broadcast_to(1.0 / np.log2(np.arange(2, k + 2)), lists.shape)[real]
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    exposure = np.bincount(groups[lists[real]], weights=discount, minlength=n_groups)
    sizes = np.bincount(groups, minlength=n_groups)
    return gini(np.where(sizes > 0, exposure / np.maximum(sizes, 1), 0.0))
