"""Classic non-neural baselines: popularity, item-based kNN (cosine with shrinkage), EASE (closed form).

All three score a batch of histories with one matrix product, [B, n_items] = history matrix [B, n_items] x
item weights; an empty history falls back to popularity so every model answers a cold user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy import sparse

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import history_csr, history_dense, item_counts, popularity_fallback
from lmrec.models.base import BaseRecommender
from lmrec.models.registry import register
from lmrec.train.trainer import Progress


@dataclass(frozen=True)
class PopConfig:
    """Popularity has nothing to tune."""


@register("pop")
class Pop(BaseRecommender):
    """Most-interacted items first, the same list for every history (before masking seen items).

    Ties in the count are broken by the lower item index (torch.topk on equal values is not guaranteed to be
    stable, so an index offset below half a count makes the order explicit; exact below 2**22 events).
    """

    Config = PopConfig
    personalised: ClassVar[bool] = False

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> Pop:
        counts = item_counts(train).double()
        tie_break = torch.arange(train.n_items, dtype=torch.float64) / (2.0 * max(train.n_items, 1))
        self.scores_ = (counts - tie_break).float()  # [N]
        self.n_items_ = train.n_items
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        history_csr(histories, self.n_items_)  # validates item indices
        return self.scores_.expand(len(histories), -1).clone()  # [B, N]

    def _state(self) -> dict[str, torch.Tensor]:
        return {"scores": self.scores_}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.scores_ = tensors["scores"]


@dataclass(frozen=True)
class ItemKNNConfig:
    k: int = 100  # neighbours kept per item (RecBole default)
    shrink: float = 0.0  # added to the cosine denominator (RecBole default)
    block_size: int = 1024  # items per block when computing similarities (memory bound, not results)

    def __post_init__(self) -> None:
        if self.k < 1 or self.shrink < 0 or self.block_size < 1:
            raise ConfigError(f"itemknn needs k >= 1, shrink >= 0, block_size >= 1; got {self}")


@register("itemknn")
class ItemKNN(BaseRecommender):
    """Item-based kNN on the binary user-item matrix, as RecBole 1.2.1's ItemKNN computes it.

    sim(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrink + 1e-6) over item columns; for every target item j only its
    k most similar items i keep an edge i -> j, so W [N, N] has at most k non-zeros per column.
    score(h, j) = sum over history items i of W[i, j] (no row or column renormalisation).
    """

    Config = ItemKNNConfig

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> ItemKNN:
        self.similarity_ = cosine_topk(
            train.to_csr(), self.config.k, self.config.shrink, self.config.block_size
        )
        self.counts_ = item_counts(train)
        self.n_items_ = train.n_items
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        scores = (history_csr(histories, self.n_items_) @ self.similarity_).toarray()  # [B, N]
        return popularity_fallback(torch.from_numpy(np.asarray(scores, np.float32)), histories, self.counts_)

    def _state(self) -> dict[str, torch.Tensor]:
        w = self.similarity_
        return {
            "w_data": torch.from_numpy(w.data),
            "w_indices": torch.from_numpy(w.indices.astype(np.int64)),
            "w_indptr": torch.from_numpy(w.indptr.astype(np.int64)),
            "counts": self.counts_,
        }

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        n = self.n_items_
        self.similarity_ = sparse.csr_matrix(
            (tensors["w_data"].numpy(), tensors["w_indices"].numpy(), tensors["w_indptr"].numpy()),
            shape=(n, n),
        )
        self.counts_ = tensors["counts"]


def cosine_topk(
    matrix: sparse.csr_matrix, k: int, shrink: float, block_size: int = 1024
) -> sparse.csr_matrix:
    """[N, N] float32 CSR: column j holds the k items most cosine-similar to item j (self and zeros excluded).

    Columns of `matrix` [U, N] are the item vectors. Computed in blocks of target items so memory stays at
    O(block_size x N); ties at the k-th place keep the lower item index.
    """
    matrix = matrix.astype(np.float64).tocsr()
    n_items = matrix.shape[1]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    by_item = matrix.T.tocsr()  # [N, U]
    rows, cols, vals = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for start in range(0, n_items, block_size):
        block = (by_item[start : start + block_size] @ matrix).tocoo()  # [b, N] co-occurrence
        target, neighbour = block.row.astype(np.int64) + start, block.col.astype(np.int64)
        value = block.data / (norms[target] * norms[neighbour] + shrink + 1e-6)
        keep = (target != neighbour) & (value != 0)
        target, neighbour, value = target[keep], neighbour[keep], value[keep]
        order = np.lexsort((neighbour, -value, target))  # by target, best first, ties by index
        target, neighbour, value = target[order], neighbour[order], value[order]
        first = np.searchsorted(target, target, side="left")
        top = np.arange(len(target)) - first < k
        rows.append(neighbour[top])
        cols.append(target[top])
        vals.append(value[top])
    weights = sparse.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )
    weights.sort_indices()
    return weights


@dataclass(frozen=True)
class EASEConfig:
    reg_weight: float = 250.0  # lambda on the diagonal of the Gram matrix (RecBole default)
    max_items: int = 40_000  # the closed form inverts a dense N x N matrix; refuse larger catalogues

    def __post_init__(self) -> None:
        if self.reg_weight <= 0:
            raise ConfigError(f"ease reg_weight must be > 0, got {self.reg_weight}")


@register("ease")
class EASE(BaseRecommender):
    """EASE (Steck 2019), closed form: B = I - P / diag(P), P = (X^T X + lambda I)^-1, diag(B) = 0."""

    Config = EASEConfig

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> EASE:
        n = train.n_items
        if n > self.config.max_items:
            raise DataError(f"ease: {n} items need a dense {n}x{n} inverse; raise max_items or use itemknn")
        x = train.to_csr().astype(np.float64)
        gram = (x.T @ x).toarray()  # [N, N]
        gram[np.diag_indices(n)] += self.config.reg_weight
        p = np.linalg.inv(gram)
        b = p / (-np.diag(p))[None, :]  # column j divided by -P_jj
        b[np.diag_indices(n)] = 0.0
        self.weights_ = torch.from_numpy(b.astype(np.float32))  # [N, N]
        self.counts_ = item_counts(train)
        self.n_items_ = n
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        scores = history_dense(histories, self.n_items_) @ self.weights_  # [B, N]
        return popularity_fallback(scores, histories, self.counts_)

    def _state(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights_, "counts": self.counts_}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.weights_, self.counts_ = tensors["weights"], tensors["counts"]
