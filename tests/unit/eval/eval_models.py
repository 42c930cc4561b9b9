"""Tiny scorers for the evaluation tests: each implements only `score(histories) -> [B, n_items]`."""

from __future__ import annotations

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Histories


class FixedOrder:
    """Item i scores -i: the ranking is 0, 1, 2, ... for every history."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def score(self, histories: Histories) -> torch.Tensor:
        return -torch.arange(self.n_items, dtype=torch.float32).expand(len(histories), -1)


class TableScores:
    """Scores looked up by the history's first item (tests only; lets a test pin exact scores per user)."""

    def __init__(self, rows: dict[int, np.ndarray]) -> None:
        self.rows = rows

    def score(self, histories: Histories) -> torch.Tensor:
        return torch.tensor(np.stack([self.rows[int(h[0])] for h in histories.seq]), dtype=torch.float32)


class RandomScores:
    """Uniform random scores from a seeded generator: the chance-level recommender."""

    def __init__(self, n_items: int, seed: int = 0) -> None:
        self.n_items = n_items
        self.generator = torch.Generator().manual_seed(seed)

    def score(self, histories: Histories) -> torch.Tensor:
        return torch.rand(len(histories), self.n_items, generator=self.generator)


class Recorder:
    """Random scores, and a copy of every history it was shown."""

    def __init__(self, n_items: int) -> None:
        self.inner = RandomScores(n_items)
        self.seen: list[list[int]] = []

    def score(self, histories: Histories) -> torch.Tensor:
        self.seen += [row[:n].tolist() for row, n in zip(histories.seq, histories.lengths, strict=True)]
        return self.inner.score(histories)


class Cheater:
    """Knows the holdout's targets (looked up by input history) and scores them highest: a planted leak."""

    def __init__(self, holdout: Holdout, n_items: int) -> None:
        self.n_items = n_items
        self.answers = {tuple(holdout.inputs.row(r).tolist()): holdout.targets.row(r)
                        for r in range(len(holdout))}

    def score(self, histories: Histories) -> torch.Tensor:
        scores = torch.zeros(len(histories), self.n_items)
        for b, (row, n) in enumerate(zip(histories.seq, histories.lengths, strict=True)):
            scores[b, torch.from_numpy(self.answers[tuple(row[:n].tolist())])] = 1.0
        return scores


class Repeater:
    """Scores the items of the history highest (a 'repeat what you saw' model), the rest by -index."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def score(self, histories: Histories) -> torch.Tensor:
        scores = -torch.arange(self.n_items, dtype=torch.float32).repeat(len(histories), 1) / self.n_items
        scores[torch.from_numpy(histories.to_csr(self.n_items).toarray() > 0)] = 10.0
        return scores
