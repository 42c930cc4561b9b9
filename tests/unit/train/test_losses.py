"""The loss registry: each next-item loss against hand-computed numbers, the negatives each declares, bad names."""

import math

import numpy as np
import pytest
import torch

from lmrec.errors import ConfigError
from lmrec.train.losses import LossInputs, NegativeSampler, bpr_loss, get_loss, loss_names

H = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two query vectors
TABLE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # three items


def test_registry_lists_the_losses_and_names_unknown_ones():
    assert {"ce", "sampled", "bpr", "bce"} <= set(loss_names())
    with pytest.raises(ConfigError, match="unknown loss 'hinge'.*available: bce, bpr, ce"):
        get_loss("hinge")


def test_full_softmax_by_hand_and_padding_rows_ignored():
    loss = get_loss("ce")
    assert loss.negatives == "none"
    value = loss(LossInputs(H, torch.tensor([0, -1]), TABLE))  # row 2 is PAD
    expected = -math.log(math.e / (math.e + 1 + 1))  # logits [1, 0, 0], target 0
    assert float(value) == pytest.approx(expected)


def test_bpr_and_bce_use_per_row_negatives():
    targets, negatives = torch.tensor([0, 1]), torch.tensor([[2], [0]])
    x = LossInputs(H, targets, TABLE, negatives)
    assert get_loss("bpr").negatives == get_loss("bce").negatives == "per_row"
    # both rows: positive score 1, negative score 0
    assert float(get_loss("bpr")(x)) == pytest.approx(math.log1p(math.exp(-1.0)))
    assert float(get_loss("bce")(x)) == pytest.approx(math.log1p(math.exp(-1.0)) + math.log(2))


def test_bpr_loss_by_hand():
    assert float(bpr_loss(torch.zeros(3), torch.zeros(3))) == pytest.approx(math.log(2))
    pos, neg = torch.tensor([2.0]), torch.tensor([[0.0, 2.0]])
    expected = (math.log1p(math.exp(-2.0)) + math.log(2)) / 2
    assert float(bpr_loss(pos, neg)) == pytest.approx(expected)


def test_sampler_draws_what_each_loss_declares():
    counts = np.array([8.0, 1.0, 0.0])
    torch.manual_seed(0)
    shared, log_q = NegativeSampler(get_loss("sampled"), counts, 50)(torch.tensor([0, 1]))
    assert shared.shape == (50,) and log_q.shape == (50,) and int(shared.max()) <= 1  # never an unseen item
    per_row, none = NegativeSampler(get_loss("bpr"), counts, 4)(torch.tensor([0, 1, 2]))
    assert per_row.shape == (3, 4) and none is None
    assert NegativeSampler(get_loss("ce"), counts, 4)(torch.tensor([0])) == (None, None)


@pytest.mark.parametrize("name", ["sampled", "bpr", "bce"])
def test_padding_rows_change_no_sampling_loss(name):
    """The sequence models pass PAD rows (rounded-up row counts keep GEMM shapes few): they must not count."""
    torch.manual_seed(0)
    hidden, table = torch.randn(5, 4), torch.randn(6, 4)
    targets = torch.tensor([1, 3, -1, 4, -1])
    if name == "sampled":
        negatives, log_q = torch.tensor([0, 2, 5]), torch.full((3,), -0.5)
        def only(rows):
            return LossInputs(hidden[rows], targets[rows], table, negatives, log_q)
    else:
        negatives, log_q = torch.randint(6, (5, 2)), None
        def only(rows):
            return LossInputs(hidden[rows], targets[rows], table, negatives[rows], log_q)
    loss = get_loss(name)
    kept = torch.tensor([0, 1, 3])
    assert float(loss(only(torch.arange(5)))) == pytest.approx(float(loss(only(kept))), rel=1e-6)
