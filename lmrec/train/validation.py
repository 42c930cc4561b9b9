"""Model selection for early stopping: NDCG@k on a validation holdout, full ranking, seen items masked."""

from __future__ import annotations

import numpy as np

from lmrec.data.split import Holdout


def validation_ndcg(model, holdout: Holdout, k: int = 10, batch_size: int = 512) -> float:
    """Mean NDCG@k over the holdout's users; binary relevance, ideal DCG over min(#targets, k) hits.

    `model` is anything with `recommend(histories, k, exclude_seen=True)`; inputs are `holdout.inputs`.
    """
    if len(holdout) == 0:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for start in range(0, len(holdout), batch_size):
        rows = np.arange(start, min(start + batch_size, len(holdout)))
        ranked = model.recommend(holdout.inputs.histories(rows), k, exclude_seen=True).items  # [b, <=k]
        targets = holdout.targets.take(rows)
        total += float(ndcg_rows(ranked, targets.indptr, targets.items, discounts).sum())
    return total / len(holdout)


def ndcg_rows(ranked: np.ndarray, indptr: np.ndarray, items: np.ndarray, discounts: np.ndarray) -> np.ndarray:
    """Per-row NDCG of `ranked [b, k]` against ragged target lists (CSR `indptr`, `items`)."""
    n_targets = np.diff(indptr)
    row_of = np.repeat(np.arange(len(ranked)), n_targets)
    width = int(items.max(initial=0)) + 1
    keys = row_of * width + items
    cand = np.arange(len(ranked))[:, None] * width + ranked
    hits = np.isin(cand, keys) & (ranked < width) & (ranked >= 0)  # [b, k]
    dcg = (hits * discounts[: ranked.shape[1]]).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_targets, len(discounts))]
    return np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)
