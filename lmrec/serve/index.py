"""Retrieval for the service: exact scoring through the model, a FAISS inner-product index for big catalogues of
dot-product models, MMR re-ranking and cosine neighbours over item vectors.

The service never re-implements a model's scoring. Exact retrieval is `model.recommend` / `model.score`. The FAISS
path needs the model's two halves, a query vector per history and an item table with score = query @ table.T; a
model offers them as `query_vectors(histories) -> [B, D]` and `item_table() -> [N, D]` (the sequence models are
read through an adapter), and the halves are checked against `model.score` on probe histories before use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmrec.data.types import Histories
from lmrec.models.base import TopK, mask_seen

log = logging.getLogger(__name__)
QueryFn = Callable[[Histories], torch.Tensor]


@dataclass(frozen=True)
class DotProduct:
    """A model's scores as `query(histories) [B, D] @ table.T`; `table` is [N, D] float32."""

    query: QueryFn
    table: np.ndarray


def dot_product(model: Any) -> DotProduct | None:
    """The model's query/item-table halves when it has them and they reproduce `model.score`; else None."""
    parts = _parts(model)
    if parts is None:
        return None
    query, table = parts
    table = np.ascontiguousarray(table.detach().float().numpy())
    n = table.shape[0]
    probe = Histories.from_lists([[0], [min(1, n - 1), 0], list(range(min(n, 7)))])
    with torch.inference_mode():
        expected = model.score(probe).float().numpy()
        got = query(probe).float().numpy() @ table.T
    if expected.shape != got.shape or not np.allclose(expected, got, rtol=1e-4, atol=1e-4):
        log.warning("%s: query @ item table does not reproduce score(); using exact scoring", type(model).__name__)
        return None
    return DotProduct(query, table)


def _parts(model: Any) -> tuple[QueryFn, torch.Tensor] | None:
    if callable(getattr(model, "query_vectors", None)) and callable(getattr(model, "item_table", None)):
        return model.query_vectors, model.item_table()
    module = getattr(model, "module_", None)
    if module is None or not hasattr(module, "tower") or not hasattr(module, "net"):
        return None
    from lmrec.models._scoring import check_items
    from lmrec.models.sequential import right_align

    with torch.inference_mode():
        table = module.tower()  # [N, D]
    max_len = model.config.max_len

    def query(histories: Histories) -> torch.Tensor:
        check_items(histories, model.n_items_)
        seq = torch.from_numpy(right_align(histories, max_len))
        with torch.inference_mode():
            return module.net(seq, table)[:, -1]  # [B, D], as SequentialRecommender.score

    return query, table


def padding_invariant(model: Any, rows: list[np.ndarray]) -> bool:
    """Whether scoring histories of different lengths in one padded batch gives each the scores it gets alone
    (checked on probe histories; a GRU over left padding fails, masked attention and per-row models pass)."""
    rows = [np.asarray(r, dtype=np.int64) for r in rows if len(r)]
    if len({len(r) for r in rows}) < 2:
        return False
    with torch.inference_mode():
        together = model.score(Histories.from_lists(rows)).float()
        alone = torch.cat([model.score(Histories.from_lists([r])).float() for r in rows])
    return bool(torch.allclose(together, alone, rtol=1e-4, atol=1e-5))


def item_vectors(model: Any, parts: DotProduct | None = None) -> np.ndarray | None:
    """L2-normalised item vectors [N, T] for similarity and diversity: the model's text vectors, else an item
    table it exposes (`item_vectors_`, or the dot-product table), else None."""
    vectors = getattr(model, "text_vectors", None)
    if vectors is None:
        dense = getattr(model, "item_vectors_", None)
        vectors = dense if isinstance(dense, torch.Tensor | np.ndarray) else None
    if vectors is None and parts is not None:
        vectors = parts.table
    if vectors is None:
        return None
    matrix = vectors.detach().float().numpy() if isinstance(vectors, torch.Tensor) else np.asarray(vectors)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.where(norms > 1e-12, matrix / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


class FaissIndex:
    """Exact inner-product search (IndexFlatIP) over a dot-product model's item table."""

    def __init__(self, table: np.ndarray) -> None:
        try:
            import faiss
        except ImportError:  # pragma: no cover - depends on the install
            raise ImportError("the FAISS index needs faiss: pip install 'lmrec[serve]' (or faiss-cpu)") from None
        self.index = faiss.IndexFlatIP(table.shape[1])
        self.index.add(np.ascontiguousarray(table, dtype=np.float32))
        self.n_items = table.shape[0]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [B, k], item indices [B, k]) best first; k is capped at the catalogue size."""
        k = max(1, min(int(k), self.n_items))
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids


@dataclass(frozen=True)
class Exclusions:
    """Items a request removes from one history's results: a boolean keep-mask [N] and/or explicit indices."""

    keep: np.ndarray | None = None
    blocked: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return self.keep is None and (self.blocked is None or not len(self.blocked))


def retrieve(model: Any, histories: Histories, k: int, *, exclude_seen: bool = True,
             exclusions: Exclusions | None = None, index: FaissIndex | None = None,
             parts: DotProduct | None = None) -> TopK:
    """Top-k for a batch of histories after masking; -inf entries (fewer than k items left) are dropped by the
    caller. Without exclusions and index this is exactly `model.recommend`."""
    exclusions = exclusions or Exclusions()
    if index is not None and parts is not None and exclusions.keep is None:
        return _faiss_topk(index, parts, histories, k, exclude_seen, exclusions.blocked)
    if exclusions.empty:
        return model.recommend(histories, k, exclude_seen=exclude_seen)
    with torch.inference_mode():
        scores = model.score(histories).float().clone()  # never mask a model's cached tensor
        if exclude_seen:
            scores = mask_seen(scores, histories)
        if exclusions.keep is not None:
            scores[:, torch.from_numpy(~exclusions.keep)] = float("-inf")
        if exclusions.blocked is not None and len(exclusions.blocked):
            scores[:, torch.from_numpy(exclusions.blocked)] = float("-inf")
        top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return TopK(top.indices.numpy(), top.values.numpy())


def _faiss_topk(index: FaissIndex, parts: DotProduct, histories: Histories, k: int, exclude_seen: bool,
                blocked: np.ndarray | None) -> TopK:
    """Over-fetch by the number of items that may be masked, so the result equals exact top-k."""
    with torch.inference_mode():
        queries = parts.query(histories).float().numpy()
    n_blocked = 0 if blocked is None else len(blocked)
    fetch = k + n_blocked + (int(histories.lengths.max(initial=0)) if exclude_seen else 0)
    scores, ids = index.search(queries, fetch)
    items = np.full((len(histories), min(k, index.n_items)), -1, dtype=np.int64)
    values = np.full(items.shape, -np.inf, dtype=np.float32)
    for row in range(len(histories)):
        drop = set() if blocked is None else set(blocked.tolist())
        if exclude_seen:
            drop |= set(histories.seq[row, : histories.lengths[row]].tolist())
        keep = [j for j, item in enumerate(ids[row]) if item >= 0 and item not in drop][: items.shape[1]]
        items[row, : len(keep)] = ids[row, keep]
        values[row, : len(keep)] = scores[row, keep]
    return TopK(items, values)


def mmr(candidates: np.ndarray, relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Maximal marginal relevance: greedily pick argmax lam * rel - (1 - lam) * max cosine to the picked items.
    Relevance is min-max scaled over the candidates so both terms live on [0, 1]; returns positions into
    `candidates`, best first."""
    k = min(int(k), len(candidates))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    spread = float(relevance.max() - relevance.min())
    rel = (relevance - relevance.min()) / spread if spread > 0 else np.ones_like(relevance)
    cand = vectors[candidates]  # [M, T]
    closest = np.zeros(len(candidates), dtype=np.float32)
    taken = np.zeros(len(candidates), dtype=bool)
    order = np.empty(k, dtype=np.int64)
    for step in range(k):
        value = lam * rel - (1.0 - lam) * closest
        value[taken] = -np.inf
        pick = int(np.argmax(value))
        order[step], taken[pick] = pick, True
        closest = np.maximum(closest, cand @ cand[pick])
    return order


def similar(vectors: np.ndarray, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k items closest to `item` by cosine (itself excluded): (indices, cosines), best first."""
    sims = vectors @ vectors[item]  # [N]
    sims[item] = -np.inf
    k = min(int(k), len(sims) - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]
