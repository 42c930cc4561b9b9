"""Rating baselines for explicit feedback: `bias` (mean + user bias + item bias) and `mf-rating` (the same plus
<p_u, q_i>, biased matrix factorisation), both fitted by alternating least squares on the training ratings.

They know users by their training rows (`Histories.users`), not by a history: a user without training ratings
gets the mean plus item biases. `score` ranks by predicted rating, which is a weak top-N ranker; they are here
as the RMSE/MAE yardstick for rating heads (`sasrec-mtl`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import history_csr
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import RatingPredictor
from lmrec.models.registry import register
from lmrec.train.trainer import Progress


@dataclass(frozen=True)
class RatingConfig:
    dim: int = 0  # latent factors; 0 = biases only
    reg_bias: float = 10.0  # ridge on the biases (pseudo-ratings at the mean)
    reg: float = 10.0  # ridge on the factors
    iterations: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 0 or self.reg_bias < 0 or self.reg < 0 or self.iterations < 1:
            raise ConfigError(f"rating baselines need dim >= 0, regs >= 0, iterations >= 1; got {self}")


class RatingBaseline(BaseRecommender, RatingPredictor):
    """mean + b_u + b_i (+ <p_u, q_i> when dim > 0), ALS on the training ratings."""

    Config = RatingConfig
    personalised: ClassVar[bool] = False  # the history itself is not read; the user's training row is
    config: RatingConfig

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> RatingBaseline:
        if train.value is None or len(train) == 0:
            raise DataError(f"{self.name} needs explicit ratings (a rating column) in the training interactions")
        cfg = self.config
        users, items, values = train.user, train.item, train.value.astype(np.float64)
        n_users, n_items = train.n_users, train.n_items
        mean = float(values.mean())
        b_u, b_i = np.zeros(n_users), np.zeros(n_items)
        rng = np.random.default_rng(cfg.seed)
        p = rng.normal(0, 0.1, (n_users, cfg.dim))
        q = rng.normal(0, 0.1, (n_items, cfg.dim))
        for _ in range(cfg.iterations):
            dot = (p[users] * q[items]).sum(1) if cfg.dim else 0.0
            b_i = _ridge_mean(values - mean - b_u[users] - dot, items, n_items, cfg.reg_bias)
            b_u = _ridge_mean(values - mean - b_i[items] - dot, users, n_users, cfg.reg_bias)
            if cfg.dim:
                residual = values - mean - b_u[users] - b_i[items]
                p = _solve_rows(users, items, n_users, residual, q, cfg.reg)
                q = _solve_rows(items, users, n_items, residual, p, cfg.reg)
        self.n_items_ = n_items
        self.mean_ = mean
        self.user_bias_, self.item_bias_ = torch.from_numpy(b_u).float(), torch.from_numpy(b_i).float()
        self.p_, self.q_ = torch.from_numpy(p).float(), torch.from_numpy(q).float()
        return self

    def predict_ratings(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        self._check_fitted()
        items = np.asarray(items, np.int64)
        if len(items) != len(histories) or (len(items) and (items.min() < 0 or items.max() >= self.n_items_)):
            raise DataError(f"items must be one known item index per history ({len(histories)})")
        users, known = self._users(histories)
        out = self.mean_ + self.item_bias_[items].numpy()
        rows = np.flatnonzero(known)
        out[rows] += self.user_bias_[users[rows]].numpy() + (self.p_[users[rows]] * self.q_[items[rows]]).sum(1).numpy()
        return out.astype(np.float32)

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        history_csr(histories, self.n_items_)  # validates item indices
        users, known = self._users(histories)
        scores = (self.mean_ + self.item_bias_).expand(len(histories), -1).clone()
        rows = torch.from_numpy(np.flatnonzero(known))
        if len(rows):
            index = torch.from_numpy(users[known])
            scores[rows] += self.user_bias_[index][:, None] + self.p_[index] @ self.q_.T
        return scores

    def _users(self, histories: Histories) -> tuple[np.ndarray, np.ndarray]:
        if histories.users is None:
            return np.full(len(histories), -1), np.zeros(len(histories), bool)
        users = np.asarray(histories.users, np.int64)
        return users, (users >= 0) & (users < len(self.user_bias_))

    def _state(self) -> dict[str, torch.Tensor]:
        return {"mean": torch.tensor([self.mean_]), "user_bias": self.user_bias_, "item_bias": self.item_bias_,
                "p": self.p_, "q": self.q_}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.mean_ = float(tensors["mean"][0])
        self.user_bias_, self.item_bias_ = tensors["user_bias"], tensors["item_bias"]
        self.p_, self.q_ = tensors["p"], tensors["q"]


def _ridge_mean(residual: np.ndarray, index: np.ndarray, size: int, reg: float) -> np.ndarray:
    """Per-index ridge mean of the residuals: sum / (count + reg)."""
    return np.bincount(index, residual, minlength=size) / (np.bincount(index, minlength=size) + reg)


def _solve_rows(index: np.ndarray, other_index: np.ndarray, size: int, residual: np.ndarray, other: np.ndarray,
                reg: float) -> np.ndarray:
    """ALS half-step: for each of `size` rows (users or items), ridge-regress the residuals of its ratings
    (`index` names each rating's row, `other_index` its column) on the other side's factors."""
    dim = other.shape[1]
    out = np.zeros((size, dim))
    order = np.argsort(index, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(index, minlength=size))])
    eye = reg * np.eye(dim)
    for r in range(size):
        where = order[indptr[r]:indptr[r + 1]]
        if not len(where):
            continue
        factors = other[other_index[where]]
        out[r] = np.linalg.solve(factors.T @ factors + eye, factors.T @ residual[where])
    return out


register("bias", tiny={"iterations": 5, "reg_bias": 1.0},
         summary="rating baseline: mean + user bias + item bias (ALS)")(RatingBaseline)
register("mf-rating", defaults={"dim": 32}, tiny={"dim": 4, "iterations": 5, "reg_bias": 1.0, "reg": 1.0},
         summary="biased matrix factorisation on ratings (ALS): the RMSE yardstick")(RatingBaseline)
