"""Blending score sources on one scale: per-history z-scores, weights searched on a simplex grid for the best
validation NDCG@10. The ensemble weighs whole models this way; a sequence model weighs its own net against its
text-similarity and popularity priors the same way (lmrec/models/sequence/priors.py)."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from lmrec.data.types import Histories, Sequences
from lmrec.metrics import hit_matrix, ndcg
from lmrec.models.base import mask_seen


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """Per-row z-score [B, N] -> [B, N]; a constant row becomes zeros."""
    scores = scores.float()
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True, correction=0)
    return (scores - mean) / torch.where(std > 1e-12, std, torch.ones_like(std))


def simplex(parts: int, grid: int) -> list[np.ndarray]:
    """Every weight vector with entries in {0, 1/grid, ..., 1} summing to 1, the most even first."""
    points = [np.asarray(c, np.float64) / grid for c in itertools.product(range(grid + 1), repeat=parts)
              if sum(c) == grid]
    return sorted(points, key=lambda w: float(np.square(w - 1.0 / parts).sum()))


def search_weights(scores: torch.Tensor, histories: Histories, targets: Sequences, names: tuple[str, ...],
                   grid: int) -> tuple[np.ndarray, dict]:
    """The simplex-grid weights of `scores [P, B, N]` (z-scored parts) with the best NDCG@10 of `targets`, every
    history item masked (ties: the earlier, more even grid point); returns (weights [P], search log)."""
    seen = mask_seen(torch.zeros(scores.shape[1:]), histories).isinf()  # [B, N], once for every grid point
    candidates = simplex(len(scores), grid)
    results = []
    for weights in candidates:
        combined = torch.einsum("p,pbn->bn", torch.from_numpy(weights).float(), scores).masked_fill_(
            seen, float("-inf"))
        ranked = torch.topk(combined, min(10, combined.shape[1]), dim=1).indices.numpy()
        results.append(float(ndcg(hit_matrix(ranked, targets.indptr, targets.items, 10), targets.lengths,
                                  10).mean()))
    best = int(np.argmax(results))
    singles = {name: results[next(i for i, w in enumerate(candidates) if w[p] == 1.0)]
               for p, name in enumerate(names)}
    return candidates[best], {"valid_ndcg@10": round(results[best], 5), "valid_users": scores.shape[1],
                              "grid_points": len(candidates),
                              "single_part_valid_ndcg@10": {k: round(v, 5) for k, v in singles.items()}}


def sample_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """All of range(n), or a sorted seeded sample of `limit` of them."""
    rows = np.arange(n)
    return rows if n <= limit else np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
