"""Batched helpers the built-in models share: histories as matrices, item counts, empty-history fallback."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from lmrec.data.types import Histories, Interactions
from lmrec.errors import DataError


def check_items(histories: Histories, n_items: int) -> None:
    """DataError naming the first history item outside the model's item space."""
    items = histories.seq[histories.mask]
    bad = items[(items < 0) | (items >= n_items)]
    if len(bad):
        raise DataError(f"history holds item index {int(bad[0])}, outside the model's {n_items} items")


def history_csr(histories: Histories, n_items: int) -> sparse.csr_matrix:
    """[B, n_items] binary float32 scipy matrix of the items each history contains."""
    check_items(histories, n_items)
    return histories.to_csr(n_items)


def history_dense(histories: Histories, n_items: int, weights: np.ndarray | None = None) -> torch.Tensor:
    """[B, n_items] float32 tensor: 1 (or the position's weight [B, L]) for each item a history contains."""
    check_items(histories, n_items)
    mask = histories.mask
    out = torch.zeros(len(histories), n_items, dtype=torch.float32)
    rows = np.broadcast_to(np.arange(len(histories))[:, None], histories.seq.shape)[mask]
    values = torch.ones(len(rows)) if weights is None else torch.from_numpy(weights[mask].astype(np.float32))
    # repeated items keep one weight (the last written); histories rarely repeat in these models' data
    out[torch.from_numpy(rows), torch.from_numpy(histories.seq[mask])] = values
    return out


def item_counts(train: Interactions) -> torch.Tensor:
    """[n_items] float32 number of training events per item."""
    return torch.from_numpy(np.bincount(train.item, minlength=train.n_items).astype(np.float32))


def popularity_fallback(scores: torch.Tensor, histories: Histories, counts: torch.Tensor) -> torch.Tensor:
    """Replace the rows of empty histories by popularity (scaled to [0, 1]); returns `scores`."""
    empty = np.flatnonzero(histories.lengths == 0)
    if len(empty):
        scores[torch.from_numpy(empty)] = counts / counts.max().clamp(min=1.0)
    return scores


def recency_weights(histories: Histories, decay: float) -> torch.Tensor:
    """[B, L] float32: decay**j for the item j positions before the last of each history, 0 at padding."""
    age = histories.lengths[:, None] - 1 - np.arange(histories.seq.shape[1])[None, :]  # 0 = most recent
    return torch.from_numpy(np.where(histories.mask, decay ** np.maximum(age, 0), 0.0).astype(np.float32))


def text_profiles(vectors: torch.Tensor, histories: Histories, decay: float) -> torch.Tensor:
    """[B, T] unit-length recency-weighted means of each history's item vectors `vectors [N, T]` (zero rows for
    empty histories): lm-content's user profile."""
    weights = recency_weights(histories, decay).to(vectors.device)
    index = torch.from_numpy(np.clip(histories.seq, 0, None)).to(vectors.device)
    return torch.nn.functional.normalize((weights.unsqueeze(-1) * vectors[index]).sum(1), dim=1)
