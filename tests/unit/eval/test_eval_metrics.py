"""Each metric against numbers worked out by hand (the comments show the arithmetic)."""

import math

import numpy as np
import pytest

from lmrec.metrics import auc, average_precision, hit_rate, mrr, ndcg, precision, recall

T, F = True, False
# u0: one target, found at position 3.  u1: three targets, found at positions 1 and 3.
# u2: two targets, none found.          u3: one target, found at position 2.
HITS = np.array([[F, F, T, F, F], [T, F, T, F, F], [F, F, F, F, F], [F, T, F, F, F]])
N_TARGETS = np.array([1, 3, 2, 1])


def test_hit_rate():
    assert hit_rate(HITS, N_TARGETS, 5).tolist() == [1.0, 1.0, 0.0, 1.0]
    assert hit_rate(HITS, N_TARGETS, 2).tolist() == [0.0, 1.0, 0.0, 1.0]


def test_recall():
    np.testing.assert_allclose(recall(HITS, N_TARGETS, 5), [1.0, 2 / 3, 0.0, 1.0])
    np.testing.assert_allclose(recall(HITS, N_TARGETS, 2), [0.0, 1 / 3, 0.0, 1.0])


def test_precision_divides_by_k():
    np.testing.assert_allclose(precision(HITS, N_TARGETS, 5), [0.2, 0.4, 0.0, 0.2])
    np.testing.assert_allclose(precision(HITS, N_TARGETS, 2), [0.0, 0.5, 0.0, 0.5])


def test_ndcg():
    # u0: 1/log2(4) = 0.5
    # u1: DCG = 1 + 1/log2(4) = 1.5; IDCG (3 ideal hits) = 1 + 1/log2(3) + 0.5 = 2.1309298
    # u3: 1/log2(3) = 0.6309298
    np.testing.assert_allclose(ndcg(HITS, N_TARGETS, 5), [0.5, 1.5 / 2.1309298, 0.0, 0.6309298], atol=1e-7)
    # k=2, u1: DCG = 1, IDCG = min(3, 2) = 2 ideal hits = 1 + 0.6309298
    np.testing.assert_allclose(ndcg(HITS, N_TARGETS, 2), [0.0, 1 / 1.6309298, 0.0, 0.6309298], atol=1e-7)


def test_ndcg_perfect_list_is_one():
    assert ndcg(np.array([[T, T, F]]), np.array([2]), 3).tolist() == [1.0]
    assert ndcg(np.array([[T, T, T]]), np.array([5]), 3).tolist() == [1.0]  # ideal capped at k hits


def test_mrr():
    np.testing.assert_allclose(mrr(HITS, N_TARGETS, 5), [1 / 3, 1.0, 0.0, 0.5])
    np.testing.assert_allclose(mrr(HITS, N_TARGETS, 2), [0.0, 1.0, 0.0, 0.5])


def test_average_precision():
    # u0: P@3 = 1/3, one target -> 1/3.  u1: (P@1 + P@3) / 3 = (1 + 2/3) / 3 = 5/9.  u3: P@2 / 1 = 1/2
    np.testing.assert_allclose(average_precision(HITS, N_TARGETS, 5), [1 / 3, 5 / 9, 0.0, 0.5])
    # k=2, u1: P@1 / min(3, 2) = 1/2
    np.testing.assert_allclose(average_precision(HITS, N_TARGETS, 2), [0.0, 0.5, 0.0, 0.5])


def test_user_without_targets_scores_zero():
    hits, n = np.zeros((1, 3), bool), np.array([0])
    for fn in (hit_rate, recall, precision, ndcg, mrr, average_precision):
        assert fn(hits, n, 3).tolist() == [0.0]


def test_bad_k_or_shapes_raise():
    with pytest.raises(ValueError):
        ndcg(HITS, N_TARGETS, 6)
    with pytest.raises(ValueError):
        ndcg(HITS, N_TARGETS, 0)
    with pytest.raises(ValueError):
        recall(HITS, N_TARGETS[:2], 3)


def test_auc_single_target():
    # 5 candidates, one target: rank 0 beats all 4 -> 1; rank 4 beats none -> 0; rank 2 -> 2/4
    np.testing.assert_allclose(auc(np.array([0.0, 4.0, 2.0]), np.array([1, 1, 1]), np.array([5, 5, 5])),
                               [1.0, 0.0, 0.5])


def test_auc_several_targets_and_ties():
    # u0: targets at ranks 0 and 1 of 4 -> both above both non-targets -> 1
    # u1: order (non, target, non, target): 4 pairs, only target@1 beats one non-target -> 1/4
    # u2: one target tied with one other candidate among 4 -> rank 0 + 0.5 = 1.5 of 3 pairs -> 1 - 1.5/3 = 0.5
    ranks = np.array([0.0, 1.0, 1.0, 3.0, 1.5])
    np.testing.assert_allclose(auc(ranks, np.array([2, 2, 1]), np.array([4, 4, 4])), [1.0, 0.25, 0.5])


def test_auc_undefined_without_negatives():
    out = auc(np.array([0.0, 1.0]), np.array([2]), np.array([2]))
    assert math.isnan(out[0])
