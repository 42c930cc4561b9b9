"""Item-side exposure fairness: a re-ranking stage that gives each item group (long tail vs head, or providers
such as brands) a share of every list close to its share of the catalogue, traded against relevance.

    groups = popularity_groups(train_counts)             # 0 = head (top 20 % of items by events), 1 = tail
    stage = FairExposure(0.5, groups, names=("head", "tail"))

Greedy proportional representation: after s picks a group g is owed t_g * (s + 1) - n_g items (t_g its
catalogue share, n_g the picks so far); each step picks argmax (1 - lam) * rel(i) + lam * min(1, owed(g(i))+).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.ranking.candidates import Candidates
from lmrec.ranking.greedy import greedy_rerank

FAIR_CANDIDATES = 200
HEAD_FRACTION = 0.2  # the short head: the most popular fifth of the catalogue (Abdollahpouri et al., 2019)


def popularity_groups(counts: np.ndarray, head_fraction: float = HEAD_FRACTION) -> np.ndarray:
    """[N] int64: 0 for the `head_fraction` most popular items (by training events, ties by index), 1 for the
    rest (the long tail)."""
    n_head = int(round(head_fraction * len(counts)))
    groups = np.ones(len(counts), np.int64)
    groups[np.argsort(-np.asarray(counts), kind="stable")[:n_head]] = 0
    return groups


def field_groups(values: Sequence[frozenset[str]]) -> tuple[np.ndarray, tuple[str, ...]]:
    """([N] group per item, names) from a categorical field: an item's first value in sorted order (a provider
    such as a brand is single-valued), "(none)" when it has none."""
    firsts = [min(v) if v else "(none)" for v in values]
    names = tuple(sorted(set(firsts)))
    index = {name: g for g, name in enumerate(names)}
    return np.asarray([index[f] for f in firsts], np.int64), names


@dataclass(frozen=True, eq=False)
class FairExposure:
    """The re-ranking stage `fair:LAMBDA` (head vs tail) or `fair:LAMBDA:FIELD` (provider groups)."""

    lam: float
    groups: np.ndarray  # [N] group index per item
    names: tuple[str, ...] = ("head", "tail")
    candidates: int = FAIR_CANDIDATES
    name: str = "fair"
    shares: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.lam) <= 1.0:
            raise ConfigError(f"fair lambda must be in [0, 1], got {self.lam}")
        counts = np.bincount(self.groups, minlength=len(self.names)).astype(np.float64)
        object.__setattr__(self, "shares", counts / max(counts.sum(), 1.0))

    def pool(self, k: int) -> int:
        return max(int(self.candidates), 2 * int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        onehot = np.eye(len(self.names), dtype=np.float64)[self.groups]  # [N, G]
        lam = float(self.lam)

        def objective(rows: slice, picked: np.ndarray, step: int, feats: np.ndarray):
            owed = np.clip(self.shares * (step + 1) - picked, 0.0, 1.0)  # [B, G]
            return 1.0 - lam, lam * (feats * owed[:, None, :]).sum(axis=2)

        return greedy_rerank(candidates, k, objective, onehot)
