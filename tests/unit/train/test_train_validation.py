"""validation_ndcg against hand-computed numbers."""

import math

import numpy as np
import pytest

from lmrec.data.split import Holdout
from lmrec.data.types import Sequences
from lmrec.models.base import TopK
from lmrec.train.validation import validation_ndcg


class Fixed:
    """recommend() returns the same ranking 0, 1, 2, ... for every history."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, bool]] = []

    def recommend(self, histories, k, *, exclude_seen=True):
        self.calls.append((len(histories), k, exclude_seen))
        items = np.tile(np.arange(k), (len(histories), 1))
        return TopK(items, -items.astype(float))


def holdout(targets: list[list[int]]) -> Holdout:
    return Holdout(
        np.arange(len(targets)), Sequences.from_lists([[9]] * len(targets)), Sequences.from_lists(targets)
    )


def test_single_targets_by_hand():
    model = Fixed()
    value = validation_ndcg(model, holdout([[0], [2], [7], [20]]), k=10, batch_size=3)
    expected = (1.0 + 1 / math.log2(4) + 1 / math.log2(9) + 0.0) / 4
    assert value == pytest.approx(expected)
    assert model.calls == [(3, 10, True), (1, 10, True)]


def test_multiple_targets_use_ideal_dcg():
    # targets {1, 5} at ranks 2 and 6; ideal puts two hits at ranks 1, 2
    value = validation_ndcg(Fixed(), holdout([[5, 1]]), k=10)
    expected = (1 / math.log2(3) + 1 / math.log2(7)) / (1 + 1 / math.log2(3))
    assert value == pytest.approx(expected)
    assert validation_ndcg(Fixed(), holdout([]), k=10) == 0.0
