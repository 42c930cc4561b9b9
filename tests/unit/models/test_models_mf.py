"""BPR-MF: negative sampling, fold-in algebra, training through the Trainer, persistence of both tables."""

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models.base import load_model
from lmrec.models.mf import BPR, BPRConfig, sample_negatives
from lmrec.testing.toy import block_data
from lmrec.train.trainer import TrainConfig

FAST = BPRConfig(dim=8, train=TrainConfig(epochs=30, batch_size=32, lr=0.02, weight_decay=1e-2, threads=1))


def test_negatives_are_never_the_users_positives():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(3), 1000)
    keys = np.sort(np.array([0 * 5 + 0, 0 * 5 + 1, 0 * 5 + 2, 0 * 5 + 3, 1 * 5 + 4, 2 * 5 + 0]))
    neg = sample_negatives(rng, users, keys, 5, k=2)
    assert neg.shape == (3000, 2)
    assert (neg[users == 0] == 4).all()  # user 0 owns items 0-3, only 4 is left
    assert not (neg[users == 1] == 4).any() and not (neg[users == 2] == 0).any()
    assert set(np.unique(neg[users == 1])) == {0, 1, 2, 3}


def _model_with_items(q: torch.Tensor, **config) -> BPR:
    model = BPR(BPRConfig(dim=q.shape[1], **config))
    model._set_state({"user": torch.zeros(1, q.shape[1]), "item": q, "counts": torch.ones(q.shape[0])})
    model.n_items_ = q.shape[0]
    return model


def test_mean_fold_in_averages_history_factors():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    model = _model_with_items(q, fold_in="mean")
    scores = model.score(Histories.from_lists([[0, 1]]))
    user = torch.tensor([0.5, 1.0])
    assert torch.allclose(scores[0], q @ user)


def test_ridge_fold_in_solves_the_regularised_least_squares():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    model = _model_with_items(q, fold_in="ridge", fold_in_reg=0.5)
    x = torch.tensor([1.0, 0.0, 1.0])
    gram = q.T @ q  # [[2, 1], [1, 5]], trace 7 -> lambda = 0.5 * 7 / 2
    user = torch.linalg.solve(gram + 1.75 * torch.eye(2), q.T @ x)
    assert torch.allclose(model.score(Histories.from_lists([[0, 2]]))[0], q @ user, atol=1e-6)


def test_fit_records_a_log_and_keeps_the_best_validation_epoch():
    toy = block_data()
    model = BPR(FAST).fit(toy.split.train, valid=toy.split.valid)
    log = model.fit_log_
    assert 1 <= log["best_epoch"] <= len(log["epochs"]) <= 30
    assert log["best_valid"] == max(e["valid"] for e in log["epochs"])
    assert model.module_.user.weight.shape == (toy.dataset.n_users, 8)


def test_save_load_keeps_user_and_item_factors(tmp_path):
    toy = block_data()
    model = BPR(FAST).fit(toy.split.train)
    model.save(tmp_path)
    loaded = load_model(tmp_path)
    assert torch.equal(loaded.module_.user.weight, model.module_.user.weight)
    assert torch.equal(loaded.score(toy.queries), model.score(toy.queries))


def test_bad_config_and_empty_training_data():
    with pytest.raises(ConfigError):
        BPRConfig(dim=0)
    empty = Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 1, 3)
    with pytest.raises(DataError):
        BPR(FAST).fit(empty)
