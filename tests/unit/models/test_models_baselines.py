"""Hand-computed checks for Pop, ItemKNN (RecBole semantics) and EASE."""

import math

import numpy as np
import pytest
import torch

from lmrec.data.types import PAD, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models.baselines import EASE, ItemKNN, Pop, cosine_topk


def interactions(rows: list[list[int]], n_items: int) -> Interactions:
    users = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    items = np.concatenate([np.asarray(r, np.int64) for r in rows])
    return Interactions(users, items, np.arange(len(items), dtype=np.int64), len(rows), n_items)


# users {0,1}, {0,1,2}, {1}: item columns i0=[1,1,0], i1=[1,1,1], i2=[0,1,0]
TRIANGLE = interactions([[0, 1], [0, 1, 2], [1]], 3)
S01, S02, S12 = 2 / math.sqrt(6), 1 / math.sqrt(2), 1 / math.sqrt(3)


def test_pop_scores_counts_and_breaks_ties_by_index():
    model = Pop().fit(interactions([[2, 0], [2, 1], [0]], 4))
    scores = model.score(Histories.from_lists([[3], []]))
    assert scores.shape == (2, 4)
    assert torch.allclose(scores[0], scores[1])
    assert torch.allclose(scores[0].round(), torch.tensor([2.0, 1.0, 2.0, 0.0]))
    assert model.recommend(Histories.from_lists([[]]), 4).items.tolist() == [[0, 2, 1, 3]]


def test_pop_recommend_masks_history():
    model = Pop().fit(interactions([[2, 0], [2, 1], [0]], 4))
    assert model.recommend(Histories.from_lists([[0]]), 2).items.tolist() == [[2, 1]]


def test_cosine_topk_keeps_the_k_best_neighbours_of_each_target_column():
    w = cosine_topk(TRIANGLE.to_csr(), k=1, shrink=0.0).toarray()
    expected = np.zeros((3, 3))
    expected[1, 0] = S01  # target 0: best neighbour 1
    expected[0, 1] = S01  # target 1: best neighbour 0
    expected[0, 2] = S02  # target 2: best neighbour 0
    np.testing.assert_allclose(w, expected, rtol=1e-5)


def test_cosine_topk_shrink_and_full_k():
    w = cosine_topk(TRIANGLE.to_csr(), k=5, shrink=1.0).toarray()
    assert w[0, 1] == pytest.approx(2 / (math.sqrt(6) + 1), rel=1e-5)
    assert w[2, 1] == pytest.approx(1 / (math.sqrt(3) + 1), rel=1e-5)
    assert np.all(np.diag(w) == 0)
    np.testing.assert_allclose(w, w.T, rtol=1e-6)  # k >= n keeps everything: symmetric


def test_cosine_topk_blocks_do_not_change_the_result():
    rng = np.random.default_rng(0)
    inter = interactions([sorted(rng.choice(30, 8, replace=False).tolist()) for _ in range(25)], 30)
    a = cosine_topk(inter.to_csr(), k=4, shrink=2.0, block_size=7)
    b = cosine_topk(inter.to_csr(), k=4, shrink=2.0, block_size=1000)
    assert (a != b).nnz == 0
    assert (np.diff(a.tocsc().indptr) <= 4).all()


def test_itemknn_scores_sum_the_history_rows_of_w():
    model = ItemKNN(ItemKNN.Config(k=1)).fit(TRIANGLE)
    scores = model.score(Histories.from_lists([[1], [0], [2], [0, 1]]))
    np.testing.assert_allclose(scores[0], [S01, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(scores[1], [0, S01, S02], rtol=1e-5)
    np.testing.assert_allclose(scores[2], [0, 0, 0])  # item 2 is nobody's nearest neighbour (column top-k)
    np.testing.assert_allclose(scores[3], [S01, S01, S02], rtol=1e-5)


def test_itemknn_config_is_checked():
    with pytest.raises(ConfigError):
        ItemKNN.Config(k=0)


def test_ease_two_items_by_hand():
    # a = 3 users with item 0, b = 2 with item 1, c = 2 with both; lambda = 1 -> B01 = c/(a+1), B10 = c/(b+1)
    model = EASE(EASE.Config(reg_weight=1.0)).fit(interactions([[0, 1], [0], [0, 1]], 2))
    scores = model.score(Histories.from_lists([[0], [1], [0, 1]]))
    np.testing.assert_allclose(scores, [[0, 0.5], [2 / 3, 0], [2 / 3, 0.5]], rtol=1e-5)


def test_ease_weights_have_zero_diagonal_and_refuse_huge_catalogues():
    model = EASE().fit(TRIANGLE)
    assert torch.all(torch.diagonal(model.weights_) == 0)
    with pytest.raises(DataError):
        EASE(EASE.Config(max_items=2)).fit(TRIANGLE)
    with pytest.raises(ConfigError):
        EASE.Config(reg_weight=0)


@pytest.mark.parametrize("cls", [ItemKNN, EASE])
def test_empty_history_falls_back_to_popularity(cls):
    model = cls().fit(TRIANGLE)
    scores = model.score(Histories(np.array([[PAD], [0]]), np.array([0, 1])))
    np.testing.assert_allclose(scores[0], [2 / 3, 1.0, 1 / 3], rtol=1e-6)
