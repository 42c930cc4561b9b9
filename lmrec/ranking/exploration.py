"""Exploration stages: lists that sometimes show what the model would not, so a feedback loop can learn about
items it never exposes (lmrec simulate compares them with the plain list).

- `explore:EPS` (epsilon-greedy): each of the k places is, with probability EPS, given to an item drawn uniformly
  from the rest of the candidate pool (the first `candidates` retrieved items: by default the whole catalogue
  that is left after masking), in place of the next model pick.
- `noise:SIGMA` (Thompson-style): the pool is re-ordered by score + SIGMA * std(row scores) * N(0, 1), a sample of
  an uncertain score rather than its mean.

Both draw from their own seeded generator: the same stage object gives a reproducible sequence of lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmrec.data.types import PAD, Histories
from lmrec.errors import ConfigError
from lmrec.ranking.candidates import Candidates

EXPLORE_CANDIDATES = 100_000  # the pool exploration draws from: in practice every unmasked item


@dataclass(frozen=True, eq=False)
class EpsilonGreedy:
    eps: float
    seed: int = 0
    candidates: int = EXPLORE_CANDIDATES
    name: str = "explore"
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.eps) <= 1.0:
            raise ConfigError(f"explore epsilon must be in [0, 1], got {self.eps}")
        object.__setattr__(self, "rng", np.random.default_rng(self.seed))

    def pool(self, k: int) -> int:
        return max(int(self.candidates), int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        items, scores = candidates.items, candidates.scores
        k = min(int(k), items.shape[1])
        out_items = np.full((len(items), k), PAD, np.int64)
        out_scores = np.full((len(items), k), -np.inf, np.float32)
        for row in range(len(items)):
            real = np.flatnonzero(items[row] >= 0)
            order: list[int] = []
            greedy = iter(real)
            explore = self.rng.random(k) < self.eps
            for place in range(min(k, len(real))):
                if explore[place]:
                    left = np.setdiff1d(real, order, assume_unique=True)
                    order.append(int(self.rng.choice(left)))
                else:
                    order.append(next(i for i in greedy if i not in order))
            out_items[row, : len(order)] = items[row, order]
            out_scores[row, : len(order)] = scores[row, order]
        return Candidates(out_items, out_scores)


@dataclass(frozen=True, eq=False)
class ScoreNoise:
    sigma: float
    seed: int = 0
    candidates: int = 200
    name: str = "noise"
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if float(self.sigma) < 0:
            raise ConfigError(f"noise sigma must be >= 0, got {self.sigma}")
        object.__setattr__(self, "rng", np.random.default_rng(self.seed))

    def pool(self, k: int) -> int:
        return max(int(self.candidates), 2 * int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        real = candidates.items >= 0
        values = np.where(real, candidates.scores, np.nan).astype(np.float64)
        spread = np.nan_to_num(np.nanstd(values, axis=1, keepdims=True))
        sampled = values + self.sigma * spread * self.rng.standard_normal(values.shape)
        order = np.argsort(np.where(real, -sampled, np.inf), axis=1, kind="stable")[:, : int(k)]
        return Candidates(np.take_along_axis(candidates.items, order, axis=1),
                          np.take_along_axis(candidates.scores, order, axis=1))
