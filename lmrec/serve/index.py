"""Retrieval for the service: a FAISS inner-product index for big catalogues of dot-product models, plugged into
the one ranking pipeline (lmrec.ranking) as its retriever, and cosine neighbours over item vectors.

The service never re-implements a model's scoring. Exact retrieval is `model.score` through the pipeline. The
FAISS path needs the model's two halves (`DotProductScoring`: a user vector per history and an item table with
score = user @ table.T); they are checked against `model.score` on probe histories before use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmrec.data.types import Histories
from lmrec.models.capabilities import DotProductScoring, supports
from lmrec.ranking import Candidates, Exclusions, Retriever, ScoreRetriever
from lmrec.ranking.candidates import top_candidates
from lmrec.ranking.pipeline import drop_excluded

log = logging.getLogger(__name__)
QueryFn = Callable[[Histories], torch.Tensor]


@dataclass(frozen=True)
class DotProduct:
    """A model's scores as `query(histories) [B, D] @ table.T`; `table` is [N, D] float32."""

    query: QueryFn
    table: np.ndarray


def dot_product(model: Any) -> DotProduct | None:
    """The model's user-vector / item-table halves when it declares them and they reproduce `model.score`."""
    if not supports(model, DotProductScoring):
        return None
    with torch.inference_mode():
        held = model.item_table()  # [N, D]: computed once per snapshot, not per request
    table = np.ascontiguousarray(held.detach().float().cpu().numpy())

    def query(histories: Histories) -> torch.Tensor:
        return model.user_vectors(histories, held)

    n = table.shape[0]
    probe = Histories.from_lists([[0], [min(1, n - 1), 0], list(range(min(n, 7)))])
    with torch.inference_mode():
        expected = model.score(probe).float().cpu().numpy()
        got = query(probe).float().cpu().numpy() @ table.T
    if expected.shape != got.shape or not np.allclose(expected, got, rtol=1e-4, atol=1e-4):
        log.warning("%s: user vectors @ item table do not reproduce score(); using exact scoring",
                    type(model).__name__)
        return None
    return DotProduct(query, table)


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


INDEX_KINDS = ("flat", "hnsw", "ivf")


class FaissIndex:
    """Inner-product search over a dot-product model's item table.

    flat   exact (IndexFlatIP): results equal exact scoring
    hnsw   approximate graph search (IndexHNSWFlat, inner product; `hnsw_m` links, `ef_search` breadth)
    ivf    approximate inverted lists (IndexIVFFlat over k-means cells; `nlist` cells, `nprobe` searched)
    The approximate kinds trade recall for speed on catalogues in the millions; bench/ann_recall.py measures
    recall@10 against exact search and the speed-up."""

    def __init__(self, table: np.ndarray, kind: str = "flat", *, hnsw_m: int = 32, ef_search: int = 128,
                 nlist: int | None = None, nprobe: int = 64) -> None:
        try:
            import faiss
        except ImportError:  # pragma: no cover - depends on the install
            raise ImportError("the FAISS index needs faiss: pip install 'lmrec[serve]' (or faiss-cpu)") from None
        if kind not in INDEX_KINDS:
            raise ValueError(f"index kind {kind!r} is not one of {list(INDEX_KINDS)}")
        table = np.ascontiguousarray(table, dtype=np.float32)
        n, dim = table.shape
        self.kind, self.n_items = kind, n
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = max(40, 2 * int(hnsw_m))
            self.index.hnsw.efSearch = int(ef_search)
        else:
            cells = int(nlist or max(1, min(n // 39, int(np.sqrt(n)))))  # faiss wants >= 39 points per cell
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
            self.index.train(table)
            self.index.nprobe = min(int(nprobe), cells)
        self.index.add(table)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(inner products [B, k], item indices [B, k]) best first; k is capped at the catalogue size (an
        approximate index may return fewer hits, as index -1)."""
        k = max(1, min(int(k), self.n_items))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


@dataclass(frozen=True, eq=False)
class FaissRetriever:
    """The pipeline's retriever over a FAISS index: over-fetch by the items that may be masked, so the result
    equals exact retrieval; a category keep-mask (which may remove most items) falls back to exact scoring."""

    index: FaissIndex
    parts: DotProduct
    exact: Retriever

    def retrieve(self, histories: Histories, n: int, *, exclude_seen: bool, exclusions: Exclusions) -> Candidates:
        if exclusions.keep is not None:
            return self.exact.retrieve(histories, n, exclude_seen=exclude_seen, exclusions=exclusions)
        with torch.inference_mode():
            queries = self.parts.query(histories).float().cpu().numpy()
        fetch = n + exclusions.count() + (int(histories.lengths.max(initial=0)) if exclude_seen else 0)
        scores, ids = self.index.search(queries, fetch)
        found = Candidates(ids.astype(np.int64), np.where(ids >= 0, scores, -np.inf).astype(np.float32))
        return drop_excluded(found, exclusions, n, histories if exclude_seen else None)


@dataclass(frozen=True, eq=False)
class DotProductRetriever:
    """Exact retrieval from a dot-product model's halves, `query(histories) @ table.T` over every item: what
    `model.score` computes (checked by `dot_product`), with the user vectors free to come from a cache."""

    parts: DotProduct

    def retrieve(self, histories: Histories, n: int, *, exclude_seen: bool, exclusions: Exclusions) -> Candidates:
        with torch.inference_mode():
            queries = self.parts.query(histories).float().cpu()
            scores = queries @ torch.from_numpy(self.parts.table).T
            return top_candidates(scores, histories, n, exclude_seen=exclude_seen, exclusions=exclusions)


def retriever_for(model: Any, index: FaissIndex | None, parts: DotProduct | None, *,
                  from_parts: bool = False) -> Retriever:
    """FAISS when an index was built for the model, else exact scoring: by `model.score`, or by the model's
    dot-product halves when `from_parts` (their user vectors are cached across requests)."""
    exact = DotProductRetriever(parts) if from_parts and parts is not None else ScoreRetriever(model)
    return exact if index is None or parts is None else FaissRetriever(index, parts, exact)


def similar(vectors: np.ndarray, item: int, k: int, keep: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The k items closest to `item` by cosine (itself and items outside `keep [N]` excluded): (indices,
    cosines), best first."""
    sims = vectors @ vectors[item]  # [N]
    sims[item] = -np.inf
    if keep is not None:
        sims[~keep[: len(sims)]] = -np.inf
    k = min(int(k), int(np.isfinite(sims).sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]
