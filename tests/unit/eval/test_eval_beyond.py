"""Beyond-accuracy measures against hand-checked numbers.

Lists (k=3, n_items=5): user 0 gets [0, 1] (a short list), user 1 gets [1, 2, 3]. Item 4 is never recommended.
Training counts [4, 2, 1, 1, 0] (8 interactions).
"""

import math

import numpy as np
import pytest

from lmrec.data.types import PAD, Interactions
from lmrec.eval import beyond

LISTS = np.array([[0, 1, PAD], [1, 2, 3]])
COUNTS = np.array([4, 2, 1, 1, 0])


def test_item_counts_from_train():
    users, items = np.array([0, 0, 1, 1, 2, 2, 0, 1]), np.array([0, 1, 0, 1, 0, 2, 3, 0])
    train = Interactions(users, items, np.zeros(8, int), n_users=3, n_items=5)
    assert beyond.item_counts(train).tolist() == COUNTS.tolist()


def test_coverage():
    assert beyond.coverage(LISTS, 5, 3) == 0.8  # items 0, 1, 2, 3 of 5
    assert beyond.coverage(LISTS, 5, 1) == 0.4  # items 0 and 1


def test_gini():
    # recommendation counts [1, 2, 1, 1, 0] -> sorted [0, 1, 1, 1, 2], weights 2i-n-1 = [-4, -2, 0, 2, 4]
    # sum = -2 + 0 + 2 + 8 = 8; G = 8 / (5 * 5) = 0.32
    assert beyond.recommendation_gini(LISTS, 5, 3) == pytest.approx(0.32)
    assert beyond.gini(np.array([3, 3, 3])) == 0.0
    assert beyond.gini(np.array([0, 0, 0, 7])) == pytest.approx(0.75)  # (n - 1) / n
    assert beyond.gini(np.zeros(4)) == 0.0


def test_novelty():
    # shares 4/8, 2/8, 1/8, 1/8 and item 4 treated as seen once -> -log2: 1, 2, 3, 3, 3
    # user 0: (1 + 2) / 2 = 1.5; user 1: (2 + 3 + 3) / 3 = 8/3
    np.testing.assert_allclose(beyond.novelty(LISTS, 3, COUNTS), [1.5, 8 / 3])
    assert beyond.novelty(np.array([[4]]), 1, COUNTS).tolist() == [3.0]


def test_average_popularity():
    # user 0: (4 + 2) / 2 = 3; user 1: (2 + 1 + 1) / 3 = 4/3
    np.testing.assert_allclose(beyond.average_popularity(LISTS, 3, COUNTS), [3.0, 4 / 3])


def test_ild_over_vectors():
    vectors = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0, 0]], dtype=float)
    # user 0: items 0, 1 orthogonal -> 1
    # user 1: (1,2) 1 - 1/sqrt(2); (1,3) 1 - 0; (2,3) 1 + 1/sqrt(2) -> mean 1
    np.testing.assert_allclose(beyond.intra_list_diversity(LISTS, 3, item_vectors=vectors), [1.0, 1.0])
    # user 1 at k=2: only the pair (1, 2)
    np.testing.assert_allclose(beyond.intra_list_diversity(LISTS, 2, item_vectors=vectors),
                               [1.0, 1 - 1 / math.sqrt(2)])


def test_ild_over_categories():
    cats = [frozenset("a"), frozenset("ab"), frozenset("b"), frozenset("c"), frozenset()]
    # user 0: J({a}, {a,b}) = 1/2 -> 0.5.  user 1: (1,2) 1 - 1/2, (1,3) 1 - 0, (2,3) 1 - 0 -> 2.5 / 3
    np.testing.assert_allclose(beyond.intra_list_diversity(LISTS, 3, item_categories=cats), [0.5, 2.5 / 3])


def test_ild_undefined_for_one_item_lists_and_needs_inputs():
    out = beyond.intra_list_diversity(np.array([[2, PAD]]), 2, item_vectors=np.eye(3))
    assert math.isnan(out[0])
    with pytest.raises(ValueError):
        beyond.intra_list_diversity(LISTS, 3)


def test_group_exposure_gini_is_zero_for_exposure_in_proportion_to_size() -> None:
    groups = np.asarray([0, 0, 1, 1])
    assert beyond.group_exposure_gini(np.asarray([[0, 2], [2, 0]]), 2, groups) == pytest.approx(0.0)
    assert beyond.group_exposure_gini(np.asarray([[0, 1], [1, 0]]), 2, groups) == pytest.approx(0.5)
