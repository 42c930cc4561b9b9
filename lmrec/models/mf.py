"""BPR matrix factorisation, trained by the shared Trainer, queried by history through a closed-form fold-in.

A history is the query (DESIGN principle 2), but BPR-MF learns one vector per *training user*. Scoring
therefore folds the history in: the user vector is the ridge-regression fit of "1 on history items, 0
elsewhere" onto the item factors, u = (Q^T Q + lambda I)^-1 Q^T x, which is batched, closed form and the same
for trained, cold and live users. The trained user table is kept (`module_.user`) so the fold-in can be
compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import history_dense, item_counts, popularity_fallback
from lmrec.models.registry import register
from lmrec.models.torch_base import TorchRecommender
from lmrec.train.batches import PairBatch
from lmrec.train.losses import LossInputs, get_loss
from lmrec.train.trainer import Progress, TrainConfig


class MatrixFactorization(nn.Module):
    """score(u, i) = <p_u, q_i>; pure tensor math."""

    def __init__(
        self, n_users: int, n_items: int, dim: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user.weight, generator=generator)
        nn.init.xavier_normal_(self.item.weight, generator=generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users [B], items [B, K] -> scores [B, K]."""
        return torch.einsum("bd,bkd->bk", self.user(users), self.item(items))


def _bpr_train_config() -> TrainConfig:
    # RecBole uses lr 1e-3 and no weight decay; on ml-100k that plateaus early (valid NDCG@10 ~0.048-0.050).
    # lr 5e-3 with a little L2 (Adam weight_decay 1e-5) converges in ~20 epochs and suits the ridge fold-in.
    return TrainConfig(epochs=200, batch_size=2048, lr=5e-3, weight_decay=1e-5, patience=10)


@dataclass(frozen=True)
class BPRConfig:
    dim: int = 64
    negatives: int = 1  # uniform negatives per positive, never one of the user's training items
    fold_in: Literal["ridge", "mean"] = "ridge"
    fold_in_reg: float = 1.0  # ridge lambda relative to the mean eigenvalue of Q^T Q
    train: TrainConfig = field(default_factory=_bpr_train_config)

    def __post_init__(self) -> None:
        if self.dim < 1 or self.negatives < 1 or self.fold_in_reg < 0:
            raise ConfigError(f"bpr needs dim >= 1, negatives >= 1, fold_in_reg >= 0; got {self}")


# Small-data settings so BPR converges on the toy set within seconds (the contract suite).
BPR_TINY = {"dim": 8, "train": {"epochs": 30, "batch_size": 32, "lr": 0.02, "weight_decay": 1e-2, "patience": 30,
                                "threads": 1}}


@register("bpr", tiny=BPR_TINY)
class BPR(TorchRecommender):
    """BPR-MF (Rendle et al. 2009) with pairwise log-sigmoid loss and uniform negatives."""

    Config = BPRConfig

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> BPR:
        cfg = self.config
        if len(train) == 0:
            raise DataError("bpr: no training interactions")
        generator = torch.Generator().manual_seed(cfg.train.seed)
        self.module_ = MatrixFactorization(train.n_users, train.n_items, cfg.dim, generator)
        self.counts_ = item_counts(train)
        self.n_items_ = train.n_items
        pairs = np.unique(train.user.astype(np.int64) * train.n_items + train.item)  # distinct (user, item)
        users, items = pairs // train.n_items, pairs % train.n_items

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(pairs))
            negatives = sample_negatives(rng, users[order], pairs, train.n_items, cfg.negatives)  # [E, K]
            for start in range(0, len(order), cfg.train.batch_size):
                pick = order[start : start + cfg.train.batch_size]
                yield PairBatch(torch.from_numpy(users[pick]), torch.from_numpy(items[pick]),
                                torch.from_numpy(negatives[start : start + cfg.train.batch_size]))

        self.fit_log_ = self._train(self.module_, batches, _loss, config=cfg.train, valid=valid,
                                    progress=progress).to_dict()
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        with torch.no_grad():
            q = self.module_.item.weight.detach().cpu()  # [N, D]
            users = self.fold_in(history_dense(histories, self.n_items_), q)  # [B, D]
            scores = users @ q.T  # [B, N]
        return popularity_fallback(scores, histories, self.counts_)

    def fold_in(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """User vectors [B, D] for binary history rows x [B, N] given item factors q [N, D]."""
        summed = x @ q  # [B, D]
        if self.config.fold_in == "mean":
            return summed / x.sum(dim=1, keepdim=True).clamp(min=1.0)
        gram = q.T @ q  # [D, D]
        lam = self.config.fold_in_reg * torch.trace(gram) / gram.shape[0]
        eye = torch.eye(gram.shape[0], dtype=gram.dtype)
        return torch.linalg.solve(gram + lam * eye, summed.T).T

    def _state(self) -> dict[str, torch.Tensor]:
        return {"user": self.module_.user.weight, "item": self.module_.item.weight, "counts": self.counts_}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        (n_users, dim), n_items = tensors["user"].shape, tensors["item"].shape[0]
        self.module_ = MatrixFactorization(n_users, n_items, dim)
        self.module_.load_state_dict({"user.weight": tensors["user"], "item.weight": tensors["item"]})
        self.module_.eval()
        self.counts_ = tensors["counts"]


def _loss(module: nn.Module, batch: PairBatch) -> torch.Tensor:
    """The registered "bpr" loss on (user vector, positive, the user's sampled negatives)."""
    return get_loss("bpr")(LossInputs(module.user(batch.users), batch.positives, module.item.weight,
                                      batch.negatives))


def sample_negatives(
    rng: np.random.Generator,
    users: np.ndarray,
    positive_keys: np.ndarray,
    n_items: int,
    k: int,
    rounds: int = 10,
) -> np.ndarray:
    """[E, k] uniform items that are not the user's positives (`positive_keys`: sorted user * n_items + item).

    Vectorised rejection sampling; draws still colliding after `rounds` retries (users owning most of the
    catalogue) are drawn exactly from the user's complement. A user who owns every item gets arbitrary items.
    """
    negatives = rng.integers(0, n_items, size=(len(users), k))
    clash = _clashes(users, negatives, positive_keys, n_items)
    for _ in range(rounds):
        if not clash.any():
            return negatives
        negatives[clash] = rng.integers(0, n_items, size=int(clash.sum()))
        clash = _clashes(users, negatives, positive_keys, n_items)
    rows, cols = np.nonzero(clash)
    for user in np.unique(users[rows]):
        owned = positive_keys[(positive_keys >= user * n_items) & (positive_keys < (user + 1) * n_items)]
        free = np.setdiff1d(np.arange(n_items), owned - user * n_items)
        pick = users[rows] == user
        if len(free):
            negatives[rows[pick], cols[pick]] = rng.choice(free, size=int(pick.sum()))
    return negatives


def _clashes(users: np.ndarray, negatives: np.ndarray, positive_keys: np.ndarray, n_items: int) -> np.ndarray:
    if len(positive_keys) == 0:
        return np.zeros(negatives.shape, bool)
    keys = users[:, None] * n_items + negatives  # [E, k]
    position = np.minimum(np.searchsorted(positive_keys, keys), len(positive_keys) - 1)
    return positive_keys[position] == keys
