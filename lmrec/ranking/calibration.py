"""Calibrated recommendations (Steck, RecSys 2018): a list whose category mix matches the mix of the user's
history, so a user who watches 70 % drama and 30 % comedy is not shown only drama.

    stage = Calibrated(0.5, category_matrix(catalog.category_sets("genre")))

The greedy step picks argmax (1 - lam) * rel(i) - lam * KL(p || q~(S + i)), where p is the history's category
distribution, q the list's, q~ = (1 - alpha) q + alpha p (alpha = 0.01 keeps the divergence finite), and rel the
retrieval score min-max scaled over the row's candidates. Both mixes weight an item's categories equally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.ranking.candidates import Candidates
from lmrec.ranking.greedy import greedy_rerank

CALIBRATION_CANDIDATES = 200  # candidates the calibrated list is chosen from (at least 2k)
ALPHA = 0.01


def category_matrix(categories: Sequence[frozenset[str]]) -> np.ndarray:
    """[N, G] float64: row i spreads item i's weight 1 evenly over its categories (a zero row: no category)."""
    names = sorted({c for cats in categories for c in cats})
    if not names:
        raise ConfigError("calibration needs item categories; the catalogue's categorical field is empty")
    column = {c: j for j, c in enumerate(names)}
    out = np.zeros((len(categories), len(names)), np.float64)
    for i, cats in enumerate(categories):
        for c in cats:
            out[i, column[c]] = 1.0 / len(cats)
    return out


def history_mix(histories: Histories, matrix: np.ndarray) -> np.ndarray:
    """[B, G] each history's category distribution (rows of zeros where no history item has a category)."""
    seq = np.where(histories.mask, histories.seq, 0)
    weights = matrix[seq] * histories.mask[..., None]  # [B, L, G]
    return _normalised(weights.sum(axis=1))


def list_mix(items: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[B, G] the category distribution of each ranked list `items [B, K]` (PAD ignored)."""
    real = items >= 0
    return _normalised((matrix[np.where(real, items, 0)] * real[..., None]).sum(axis=1))


def kl_divergence(p: np.ndarray, q: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """KL(p || (1 - alpha) q + alpha p) over the last axis; p, q distributions (broadcastable)."""
    mixed = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / np.where(mixed > 0, mixed, 1.0)), 0.0)
    return terms.sum(axis=-1)


@dataclass(frozen=True, eq=False)
class Calibrated:
    """The re-ranking stage `calibrated:LAMBDA` (lam 0: the retriever's order; 1: the closest mix)."""

    lam: float
    matrix: np.ndarray  # [N, G] from category_matrix
    candidates: int = CALIBRATION_CANDIDATES
    name: str = "calibrated"

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.lam) <= 1.0:
            raise ConfigError(f"calibrated lambda must be in [0, 1], got {self.lam}")

    def pool(self, k: int) -> int:
        return max(int(self.candidates), 2 * int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        if histories is None:
            raise ConfigError("calibrated re-ranking needs the histories the candidates were retrieved for")
        target = history_mix(histories, self.matrix)  # [B, G]
        weight = np.where(target.sum(axis=1, keepdims=True) > 0, float(self.lam), 0.0)  # no mix: relevance only

        def objective(rows: slice, picked: np.ndarray, step: int, feats: np.ndarray):
            added = _normalised((picked[:, None, :] + feats) / (step + 1))  # [B, M, G]
            return 1.0 - weight[rows], -weight[rows] * kl_divergence(target[rows][:, None, :], added)

        return greedy_rerank(candidates, k, objective, self.matrix)


def _normalised(weights: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=-1, keepdims=True)
    return np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0)
