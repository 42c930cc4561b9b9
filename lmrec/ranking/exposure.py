"""Item-side exposure fairness: a re-ranking stage that gives each item group (long tail vs head, or providers
such as brands) a share of every list close to its share of the catalogue, traded against relevance.

    groups = popularity_groups(train_counts)             # 0 = head (top 20 % of items by events), 1 = tail
    stage = FairExposure(0.5, groups, names=("head", "tail"))

Greedy proportional representation: after s picks a group g is owed t_g * (s + 1) - n_g items (t_g its
catalogue share, n_g the picks so far); each step picks argmax (1 - lam) * rel(i) + lam * min(1, owed(g(i))+).
That works for a few groups; for many (providers), `AmortizedExposure` counts exposure across lists instead.
"""

from __future__ import annotations

import threading
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
    """The re-ranking stage `fair:LAMBDA`: the head and the tail each get their catalogue share of every list."""

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


@dataclass(frozen=True, eq=False)
class AmortizedExposure:
    """The re-ranking stage `fair:LAMBDA:FIELD` for many groups (providers such as brands): a ten-item list cannot
    give hundreds of providers their share, so exposure is counted across lists, in the order they are ranked (the
    users of an evaluation, the requests of a service), and each list favours the providers that are behind their
    catalogue share so far: argmax (1 - lam) * rel(i) + lam * deficit(g(i)), deficit = how far (0..1) the group's
    position-discounted exposure lies below its share of all exposure given. Rows of a batch share the counts of
    the batch's start (chunks of `chunk` rows); the counts persist in the stage object."""

    lam: float
    groups: np.ndarray  # [N] group index per item
    names: tuple[str, ...]
    candidates: int = FAIR_CANDIDATES
    chunk: int = 64
    name: str = "fair"
    shares: np.ndarray = field(init=False)
    exposure: np.ndarray = field(init=False)  # [G] position-discounted exposure given so far
    lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.lam) <= 1.0:
            raise ConfigError(f"fair lambda must be in [0, 1], got {self.lam}")
        counts = np.bincount(self.groups, minlength=len(self.names)).astype(np.float64)
        object.__setattr__(self, "shares", counts / max(counts.sum(), 1.0))
        object.__setattr__(self, "exposure", np.zeros(len(self.names), np.float64))
        object.__setattr__(self, "lock", threading.Lock())

    def pool(self, k: int) -> int:
        return max(int(self.candidates), 2 * int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        onehot = np.eye(len(self.names), dtype=np.float64)[self.groups]  # [N, G]
        discount = 1.0 / np.log2(np.arange(2, int(k) + 2))
        parts = []
        for start in range(0, len(candidates), self.chunk):
            part = Candidates(candidates.items[start:start + self.chunk], candidates.scores[start:start + self.chunk])
            with self.lock:
                given = self.exposure.copy()
            parts.append(greedy_rerank(part, k, self._objective(given, float(discount.mean())), onehot))
            picked = parts[-1].items
            real = picked >= 0
            gained = np.bincount(self.groups[picked[real]], weights=np.broadcast_to(discount[: picked.shape[1]],
                                                                                    picked.shape)[real],
                                 minlength=len(self.names))
            with self.lock:
                np.add(self.exposure, gained, out=self.exposure)  # in place: the field itself is frozen
        if not parts:
            return candidates.head(k)
        return Candidates(np.concatenate([p.items for p in parts]), np.concatenate([p.scores for p in parts]))

    def _objective(self, given: np.ndarray, step_exposure: float):
        lam = float(self.lam)

        def objective(rows: slice, picked: np.ndarray, step: int, feats: np.ndarray):
            now = given[None, :] + step_exposure * picked  # [B, G]
            target = self.shares[None, :] * now.sum(axis=1, keepdims=True)
            deficit = np.where(target > 0, np.clip((target - now) / np.where(target > 0, target, 1.0), 0.0, 1.0),
                               1.0)
            return 1.0 - lam, lam * (feats * deficit[:, None, :]).sum(axis=2)

        return objective
