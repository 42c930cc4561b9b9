"""Harness invariants: chance level, no leakage into the model's input, masking, the exclude_seen switch."""

import math

import numpy as np
import pytest
from eval_models import Cheater, FixedOrder, RandomScores, Recorder, Repeater

from lmrec.data.split import Holdout, leave_last_out
from lmrec.data.types import Interactions, Sequences
from lmrec.eval import EvalOptions, evaluate

N_USERS, N_ITEMS, K = 2000, 500, 10


def random_holdout(seed: int = 0) -> Holdout:
    """2000 users, histories of 1-10 distinct items, one target outside the history."""
    rng = np.random.default_rng(seed)
    inputs, targets = [], []
    for _ in range(N_USERS):
        items = rng.choice(N_ITEMS, size=rng.integers(2, 12), replace=False)
        inputs.append(items[:-1].tolist())
        targets.append([int(items[-1])])
    return Holdout(np.arange(N_USERS), Sequences.from_lists(inputs), Sequences.from_lists(targets))


def sequential_interactions(n_users: int = 60, n_items: int = 200, seed: int = 0) -> Interactions:
    """Each user consumes distinct items over time (no repeats), so the last item is never in the history."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, size=rng.integers(3, 15), replace=False)
        users += [u] * len(chosen)
        items += chosen.tolist()
    times = np.arange(len(users))
    return Interactions(np.array(users), np.array(items), times, n_users=n_users, n_items=n_items)


def test_random_recommender_is_at_chance_level():
    # HR@K of one target among C unmasked candidates is K / C for random scores; C = 500 - |history|
    holdout = random_holdout()
    result = evaluate(RandomScores(N_ITEMS, seed=1), holdout, n_items=N_ITEMS,
                      options=EvalOptions(ks=(K,), n_bootstrap=100))
    expected = np.mean(K / (N_ITEMS - holdout.inputs.lengths))  # ~ 10 / 494 = 0.0202
    sigma = math.sqrt(expected * (1 - expected) / N_USERS)  # binomial sd of the mean: 0.0031
    assert abs(result.metrics[f"hr@{K}"] - expected) < 3 * sigma
    # AUC of a random ranking is 0.5; per-user AUC ~ uniform(0, 1), sd of the mean sqrt(1/12 / 2000) = 0.0065
    assert abs(result.metrics["auc"] - 0.5) < 3 * math.sqrt(1 / 12 / N_USERS)
    assert result.n_users == N_USERS and result.dropped_targets == 0


def test_planted_leak_is_visible_as_a_perfect_score():
    holdout = leave_last_out(sequential_interactions()).test
    options = EvalOptions(ks=(1, 10), n_bootstrap=10)
    result = evaluate(Cheater(holdout, 200), holdout, n_items=200, options=options)
    assert result.metrics["hr@1"] == 1.0 and result.metrics["ndcg@10"] == 1.0 and result.metrics["auc"] == 1.0


@pytest.mark.parametrize("which", ["valid", "test"])
def test_model_never_sees_its_targets(which):
    split = leave_last_out(sequential_interactions())
    holdout = getattr(split, which)
    recorder = Recorder(200)
    options = EvalOptions(ks=(5,), batch_size=7, n_bootstrap=10)
    result = evaluate(recorder, holdout, n_items=200, options=options)
    assert len(recorder.seen) == len(holdout) == result.n_users
    for row, seen in enumerate(recorder.seen):
        assert seen == holdout.inputs.row(row).tolist()  # exactly the holdout input, in order
        assert not set(seen) & set(holdout.targets.row(row).tolist())
        assert not set(seen) & set(split.test.targets.row(row).tolist())  # nor the test target into valid
    train_pairs = set(zip(split.train.user.tolist(), split.train.item.tolist(), strict=True))
    for row, user in enumerate(split.test.users.tolist()):
        assert (user, int(split.test.targets.row(row)[0])) not in train_pairs


def test_target_planted_in_history_is_masked_and_counted():
    holdout = leave_last_out(sequential_interactions()).test
    planted = [holdout.inputs.row(r).tolist() for r in range(len(holdout))]
    planted[0] = planted[0] + [int(holdout.targets.row(0)[0])]  # leak user 0's target into its input
    leaky = Holdout(holdout.users, Sequences.from_lists(planted), holdout.targets)
    result = evaluate(Repeater(200), leaky, n_items=200, options=EvalOptions(ks=(10,), n_bootstrap=10))
    assert result.dropped_targets == 1 and result.n_users == len(holdout) - 1
    assert int(holdout.users[0]) not in result.users.tolist()
    assert result.to_json()["dropped_targets"] == 1
    # without masking the leaked target stays, and a model that repeats the history finds it
    unmasked = evaluate(Repeater(200), leaky, n_items=200,
                        options=EvalOptions(ks=(10,), exclude_seen=False, n_bootstrap=10))
    assert unmasked.dropped_targets == 0 and unmasked.per_user["hr@10"][0] == 1.0


def test_exclude_seen_switch():
    holdout = random_holdout()
    masked = evaluate(Repeater(N_ITEMS), holdout, n_items=N_ITEMS,
                      options=EvalOptions(ks=(K,), n_bootstrap=10))
    open_ = evaluate(Repeater(N_ITEMS), holdout, n_items=N_ITEMS,
                     options=EvalOptions(ks=(K,), exclude_seen=False, n_bootstrap=10))
    lists_m, lists_o = masked.ranking.topk_items, open_.ranking.topk_items
    seen = [set(holdout.inputs.row(r).tolist()) for r in range(len(holdout))]
    assert not any(set(lists_m[r].tolist()) & seen[r] for r in range(len(holdout)))
    assert all(seen[r] <= set(lists_o[r].tolist()) for r in range(len(holdout)))  # histories have <= 10 items
    assert (masked.ranking.n_candidates == N_ITEMS - holdout.inputs.lengths).all()
    assert (open_.ranking.n_candidates == N_ITEMS).all()
    # without masking, the fixed-order model recommends its own history item 0 first
    assert open_.options.exclude_seen is False and masked.options.exclude_seen is True
    one = Holdout(np.array([0]), Sequences.from_lists([[0]]), Sequences.from_lists([[1]]))
    fixed = evaluate(FixedOrder(5), one, n_items=5,
                     options=EvalOptions(ks=(1,), exclude_seen=False, n_bootstrap=10))
    assert fixed.ranking.topk_items.tolist() == [[0]] and fixed.metrics["hr@1"] == 0.0
