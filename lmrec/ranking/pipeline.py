"""One ranking pipeline for evaluation and serving: candidates -> scores -> mask -> top-k -> re-ranking stages.

    pipeline = RankingPipeline.for_model(model, stages=(MMR(0.7, vectors),))
    top = pipeline.rank(histories, k=10, exclusions=Exclusions(blocked=np.array([3])))

Retrieval is the only part that differs by model: a scorer is ranked exactly from its dense scores, a top-k-only
ranker from its own lists, and the service may plug in a vector index (FAISS) for dot-product models. Everything
after retrieval (masking, the pool each stage needs, the stages, the cut to k) is this one code path, and
evaluation calls `select` on the dense scores it already holds, so a re-ranker measured offline is exactly the
one the service runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from lmrec.data.types import PAD, Histories
from lmrec.models.base import TopK
from lmrec.models.capabilities import DotProductScoring, ItemVectors, Scorer, supports
from lmrec.ranking.candidates import Candidates, Exclusions, top_candidates
from lmrec.ranking.stages import Stage


class Retriever(Protocol):
    """The first `n` candidates per history after masking seen items (when asked) and the exclusions."""

    def retrieve(self, histories: Histories, n: int, *, exclude_seen: bool, exclusions: Exclusions) -> Candidates:
        ...


@dataclass(frozen=True, eq=False)
class ScoreRetriever:
    """Exact: every item scored by `model.score`, masked, best `n` kept."""

    model: Any

    def retrieve(self, histories: Histories, n: int, *, exclude_seen: bool, exclusions: Exclusions) -> Candidates:
        with torch.inference_mode():
            scores = self.model.score(histories).float().clone()  # never mask a model's cached tensor
            return top_candidates(scores, histories, n, exclude_seen=exclude_seen, exclusions=exclusions)


@dataclass(frozen=True, eq=False)
class TopKRetriever:
    """A model that only returns lists: over-fetch by what exclusions may remove, then drop the excluded."""

    model: Any

    def retrieve(self, histories: Histories, n: int, *, exclude_seen: bool, exclusions: Exclusions) -> Candidates:
        fetch = n + exclusions.count()
        found = Candidates.from_topk(self.model.recommend(histories, fetch, exclude_seen=exclude_seen))
        return drop_excluded(found, exclusions, n)


def drop_excluded(found: Candidates, exclusions: Exclusions, n: int, histories: Histories | None = None
                  ) -> Candidates:
    """`found` without excluded items (and the history's own items when `histories` is given), first `n` kept."""
    drop = found.items < 0
    if exclusions.keep is not None:
        drop |= ~exclusions.keep[np.where(drop, 0, found.items)]
    if exclusions.blocked is not None and len(exclusions.blocked):
        drop |= np.isin(found.items, exclusions.blocked)
    if histories is not None:
        drop |= _in_history(found.items, histories)
    if not drop[:, :n].any():  # the common case: nothing to remove from the first n
        return found.head(n)
    order = np.argsort(drop, axis=1, kind="stable")[:, :n]  # kept entries first, in their ranked order
    items = np.where(np.take_along_axis(drop, order, axis=1), PAD, np.take_along_axis(found.items, order, axis=1))
    scores = np.where(items >= 0, np.take_along_axis(found.scores, order, axis=1), -np.inf).astype(np.float32)
    return Candidates(items.astype(np.int64), scores)


def _in_history(items: np.ndarray, histories: Histories) -> np.ndarray:
    """[B, M] bool: items[b, m] is in history b. One broadcast comparison for request-sized batches, a row at a time
    beyond that (a long history against a long candidate list)."""
    seen = np.where(histories.mask, histories.seq, PAD - 1)  # padding never equals an item or PAD
    if items.size * seen.shape[1] <= 4_000_000:
        return (items[:, :, None] == seen[:, None, :]).any(axis=2)
    return np.stack([np.isin(items[row], seen[row]) for row in range(len(items))])


class RankingPipeline:
    """Retrieval, then the re-ranking stages, then the cut to k."""

    def __init__(self, retriever: Retriever, stages: Sequence[Stage] = ()) -> None:
        self.retriever = retriever
        self.stages = tuple(stages)

    @classmethod
    def for_model(cls, model: Any, stages: Sequence[Stage] = ()) -> RankingPipeline:
        """Exact retrieval for a scorer, list retrieval for a top-k-only ranker."""
        retriever: Retriever = ScoreRetriever(model) if supports(model, Scorer) else TopKRetriever(model)
        return cls(retriever, stages)

    def pool(self, k: int) -> int:
        """Candidates to retrieve for a final top k: what the hungriest stage needs."""
        return max([int(k), *(stage.pool(k) for stage in self.stages)])

    def rank(self, histories: Histories, k: int, *, exclude_seen: bool = True,
             exclusions: Exclusions | None = None) -> TopK:
        """Top-k per history, best first; PAD (-1) with score -inf where fewer than k items are left."""
        exclusions = exclusions or Exclusions()
        found = self.retriever.retrieve(histories, self.pool(k), exclude_seen=exclude_seen, exclusions=exclusions)
        return self.finish(found, k, histories).as_topk()

    def select(self, scores: torch.Tensor, histories: Histories, k: int, *, exclude_seen: bool = True,
               exclusions: Exclusions | None = None) -> Candidates:
        """The same as `rank` from dense scores already computed ([B, N], masked in place)."""
        found = top_candidates(scores, histories, self.pool(k), exclude_seen=exclude_seen, exclusions=exclusions)
        return self.finish(found, k, histories)

    def finish(self, found: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        """The stages in order (each sees the histories), then the first k."""
        for stage in self.stages:
            found = stage.rerank(found, k, histories)
        return found.head(k)


def similarity_vectors(model: Any) -> np.ndarray | None:
    """L2-normalised item vectors [N, T] for similarity and diversity: the model's own item vectors (text vectors
    of a text model), else its dot-product item table, else None."""
    if supports(model, ItemVectors):
        matrix = np.asarray(model.item_vectors(), dtype=np.float32)
    elif supports(model, DotProductScoring):
        matrix = model.item_table().detach().float().cpu().numpy()
    else:
        return None
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.where(norms > 1e-12, matrix / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


__all__ = ["Candidates", "Exclusions", "RankingPipeline", "Retriever", "ScoreRetriever", "TopKRetriever",
           "drop_excluded", "similarity_vectors"]
