"""evaluate() end to end on a case worked out by hand; EvalResult.to_json; EvalOptions; write_recommendations.

The case: 10 items, the model ranks 0, 1, 2, ... and inputs are masked.
  row 0: input [0, 1], target [2]    -> top-3 [2, 3, 4], hit at 1;   AUC: rank 0 of 8: 1
  row 1: input [5],    target [0, 3] -> top-3 [0, 1, 2], 1 of 2 at 1; AUC: ranks 0, 3 of 9: 1 - (3-1)/14 = 6/7
  row 2: input [],     target [9]    -> top-3 [0, 1, 2], no hit;     AUC: rank 9 of 10: 0
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from eval_models import FixedOrder

from lmrec.data.split import Holdout
from lmrec.data.types import IdMap, Interactions, Sequences
from lmrec.errors import ConfigError
from lmrec.eval import EvalOptions, evaluate, write_recommendations

HOLDOUT = Holdout(np.array([4, 5, 6]), Sequences.from_lists([[0, 1], [5], []]),
                  Sequences.from_lists([[2], [0, 3], [9]]))
NDCG_HALF = 1 / (1 + 1 / math.log2(3))  # row 1: one hit at 1 of 2 targets -> 1 / (1 + 1/log2 3) = 0.6131


@pytest.fixture(scope="module")
def result():
    train = Interactions(np.zeros(6, int), np.array([0, 0, 0, 1, 1, 2]), np.zeros(6, int), n_users=7,
                         n_items=10)
    options = EvalOptions(ks=(3, 1), n_bootstrap=200)
    return evaluate(FixedOrder(10), HOLDOUT, n_items=10, options=options, train=train,
                    item_vectors=np.eye(10))


def test_accuracy_by_hand(result):
    m = result.metrics
    assert m["hr@3"] == pytest.approx(2 / 3)
    assert m["recall@3"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 3)
    assert m["ndcg@3"] == pytest.approx((1 + NDCG_HALF) / 3)
    assert m["mrr@3"] == pytest.approx(2 / 3)
    assert m["map@3"] == pytest.approx((1 + 0.5) / 3)  # row 1: P@1 / min(2, 3)
    assert m["hr@1"] == pytest.approx(2 / 3)
    assert m["ndcg@1"] == pytest.approx(2 / 3)  # row 1: ideal DCG@1 has one hit
    assert m["map@1"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx((1 + 6 / 7 + 0) / 3)
    np.testing.assert_allclose(result.per_user["ndcg@3"], [1.0, NDCG_HALF, 0.0])
    assert result.users.tolist() == [4, 5, 6] and result.n_users == 3 and result.dropped_targets == 0


def test_beyond_by_hand(result):
    m = result.metrics
    assert m["coverage@3"] == pytest.approx(0.5)  # items 0..4 of 10
    # counts over items [2, 2, 3, 1, 1, 0 x 5], sorted, weights 2i - 11:
    # 1*1 + 1*3 + 2*5 + 2*7 + 3*9 = 55; G = 55 / (10 * 9)
    assert m["gini@3"] == pytest.approx(55 / 90)
    # train counts [3, 2, 1, 0, ...]: row 0 [2, 3, 4] -> 1/3; rows 1, 2 [0, 1, 2] -> 2
    assert m["arp@3"] == pytest.approx((1 / 3 + 2 + 2) / 3)
    assert m["ild@3"] == pytest.approx(1.0)  # one-hot item vectors: every pair orthogonal
    assert m["coverage@1"] == pytest.approx(0.2)  # items 2 and 0
    assert "novelty@3" in m


def test_cis_bracket_the_means(result):
    assert set(result.ci) == set(result.per_user)
    for name, (low, high) in result.ci.items():
        assert low <= result.metrics[name] + 1e-12 and result.metrics[name] <= high + 1e-12


def test_to_json_shape(result):
    out = result.to_json()
    json.dumps(out, allow_nan=False)
    assert out["ndcg@3"] == pytest.approx(result.metrics["ndcg@3"])
    assert out["ci"]["ndcg@3"] == list(result.ci["ndcg@3"])
    assert out["n_users"] == 3 and out["dropped_targets"] == 0
    assert out["options"]["ks"] == [1, 3] and out["options"]["exclude_seen"] is True


def test_beyond_keys_need_their_inputs():
    m = evaluate(FixedOrder(10), HOLDOUT, n_items=10, options=EvalOptions(ks=(2,), n_bootstrap=10)).metrics
    assert {"coverage@2", "gini@2"} <= set(m) and not {"novelty@2", "arp@2", "ild@2"} & set(m)


def test_options_are_checked():
    assert EvalOptions(ks=[20, 10, 10]).ks == (10, 20)
    for bad in (dict(ks=()), dict(ks=(0,)), dict(batch_size=0), dict(confidence=1.0), dict(n_bootstrap=-1)):
        with pytest.raises(ConfigError):
            EvalOptions(**bad)


def test_write_recommendations(tmp_path, result):
    users = IdMap(np.array([f"u{i}" for i in range(7)]), kind="user")
    items = np.array([f"i{i}" for i in range(10)], dtype=object)
    write_recommendations(result.ranking, users, items, tmp_path / "recs.csv", tmp_path / "targets.csv", k=2)
    recs = pd.read_csv(tmp_path / "recs.csv")
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert recs[["user_id", "item_id", "rank"]].values.tolist() == [
        ["u4", "i2", 1], ["u4", "i3", 2], ["u5", "i0", 1], ["u5", "i1", 2], ["u6", "i0", 1], ["u6", "i1", 2]]
    assert recs["score"].tolist() == [-2.0, -3.0, 0.0, -1.0, 0.0, -1.0]
    targets = pd.read_csv(tmp_path / "targets.csv")
    assert targets.values.tolist() == [["u4", "i2"], ["u5", "i0"], ["u5", "i3"], ["u6", "i9"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.csv", "targets.csv"]  # no temp files left
    with pytest.raises(ValueError):
        write_recommendations(result.ranking, users, items, tmp_path / "r.csv", tmp_path / "t.csv", k=4)


def test_holdout_with_nothing_to_evaluate_gives_undefined_metrics():
    # the only target sits in the (masked) input: dropped, and no user is left
    empty = Holdout(np.array([0]), Sequences.from_lists([[1]]), Sequences.from_lists([[1]]))
    result = evaluate(FixedOrder(4), empty, n_items=4, options=EvalOptions(ks=(2,), n_bootstrap=10))
    assert result.n_users == 0 and result.dropped_targets == 1
    out = result.to_json()
    json.dumps(out, allow_nan=False)
    assert out["hr@2"] is None and out["ci"]["hr@2"] == [None, None] and out["coverage@2"] == 0.0


class ListsOnly:
    """A top-k-only ranker (a generative model, a candidate re-ranker): FixedOrder's lists, no `score`."""

    def recommend(self, histories, k, *, exclude_seen=True):
        from lmrec.ranking import RankingPipeline

        return RankingPipeline.for_model(FixedOrder(10)).rank(histories, k, exclude_seen=exclude_seen)


def test_a_top_k_only_ranker_is_evaluated_like_a_scorer_without_auc():
    options = EvalOptions(ks=(3, 1), n_bootstrap=0)
    lists = evaluate(ListsOnly(), HOLDOUT, n_items=10, options=options)
    scores = evaluate(FixedOrder(10), HOLDOUT, n_items=10, options=options)
    for name in ("hr@3", "ndcg@3", "recall@3", "mrr@1"):
        assert lists.metrics[name] == pytest.approx(scores.metrics[name]), name
    assert np.array_equal(lists.ranking.topk_items, scores.ranking.topk_items)
    assert math.isnan(lists.metrics["auc"]) and not math.isnan(scores.metrics["auc"])
