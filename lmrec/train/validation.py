"""Model selection for early stopping: NDCG@k on a validation holdout, full ranking, seen items masked."""

from __future__ import annotations

import numpy as np

from lmrec.data.split import Holdout
from lmrec.metrics import hit_matrix, ndcg


def validation_ndcg(model, holdout: Holdout, k: int = 10, batch_size: int = 512) -> float:
    """Mean NDCG@k over the holdout's users (`lmrec.metrics.ndcg`: binary relevance, ideal DCG over
    min(#targets, k) hits).

    `model` is anything with `recommend(histories, k, exclude_seen=True)`; inputs are `holdout.inputs`.
    """
    if len(holdout) == 0:
        return 0.0
    total = 0.0
    for start in range(0, len(holdout), batch_size):
        rows = np.arange(start, min(start + batch_size, len(holdout)))
        ranked = model.recommend(holdout.histories(rows), k, exclude_seen=True).items  # [b, <=k]
        targets = holdout.targets.take(rows)
        total += float(ndcg(hit_matrix(ranked, targets.indptr, targets.items, k), targets.lengths, k).sum())
    return total / len(holdout)
