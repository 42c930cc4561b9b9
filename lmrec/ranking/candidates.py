"""The values that flow through the ranking pipeline: candidate lists, and the items a request excludes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmrec.data.types import PAD, Histories
from lmrec.models.base import TopK, mask_seen


@dataclass(frozen=True)
class Candidates:
    """Ranked candidates per history, best first: `items [B, M]` (PAD = -1 where a list is short) and
    `scores [B, M]` float32 (-inf where PAD)."""

    items: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def head(self, k: int) -> Candidates:
        return Candidates(self.items[:, :k], self.scores[:, :k])

    def as_topk(self) -> TopK:
        return TopK(self.items, self.scores)

    @classmethod
    def from_topk(cls, top: TopK) -> Candidates:
        items = np.asarray(top.items, dtype=np.int64)
        scores = np.asarray(top.scores, dtype=np.float32)
        return cls(np.where(np.isfinite(scores), items, PAD), np.where(np.isfinite(scores), scores, -np.inf))


@dataclass(frozen=True)
class Exclusions:
    """Items a request removes from every history's results: a boolean keep-mask [N] and/or explicit indices."""

    keep: np.ndarray | None = None
    blocked: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return self.keep is None and (self.blocked is None or not len(self.blocked))

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        """-inf on every excluded column of `scores [B, N]` (in place; returns it)."""
        if self.keep is not None:
            scores[:, torch.from_numpy(~self.keep).to(scores.device)] = float("-inf")
        if self.blocked is not None and len(self.blocked):
            scores[:, torch.from_numpy(np.asarray(self.blocked, dtype=np.int64)).to(scores.device)] = float("-inf")
        return scores

    def count(self) -> int:
        """How many items this may remove (an upper bound, for over-fetching from an index)."""
        blocked = 0 if self.blocked is None else len(self.blocked)
        return blocked + (0 if self.keep is None else int((~self.keep).sum()))


def top_candidates(scores: torch.Tensor, histories: Histories, n: int, *, exclude_seen: bool = True,
                   exclusions: Exclusions | None = None) -> Candidates:
    """The `n` best of dense `scores [B, N]` after masking (seen items, exclusions); `scores` is masked in place,
    so pass a copy of a model's cached tensor."""
    if exclude_seen:
        mask_seen(scores, histories)
    if exclusions is not None and not exclusions.empty:
        exclusions.apply(scores)
    top = torch.topk(scores, min(n, scores.shape[1]), dim=1)
    values = top.values.float().cpu().numpy()
    items = np.where(np.isneginf(values), PAD, top.indices.cpu().numpy())
    return Candidates(items.astype(np.int64), values)
