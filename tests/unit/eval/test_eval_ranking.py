"""Batched full ranking: top-k lists, hits, masking, dropped targets, ranks, batch-size invariance."""

import numpy as np
import pytest
import torch
from eval_models import FixedOrder, RandomScores, TableScores

from lmrec.data.split import Holdout
from lmrec.data.types import PAD, Histories, Sequences
from lmrec.errors import DataError, LmrecError
from lmrec.eval import ranking
from lmrec.eval.ranking import Ranking, default_batch_size, rank_holdout


def holdout(inputs, targets, users=None) -> Holdout:
    users = np.arange(len(inputs)) if users is None else np.asarray(users)
    return Holdout(users, Sequences.from_lists(inputs), Sequences.from_lists(targets))


def brute_ranks(scores: np.ndarray, masked: set[int], targets: list[int]) -> list[float]:
    free = [i for i in range(len(scores)) if i not in masked]
    out = []
    for t in targets:
        greater = sum(scores[i] > scores[t] for i in free)
        ties = sum(scores[i] == scores[t] for i in free if i != t)
        out.append(greater + 0.5 * ties)
    return out


def test_fixed_order_by_hand():
    # n_items 10, the model ranks 0, 1, 2, ...; inputs are masked
    h = holdout([[0, 1], [5], []], [[2], [0, 3], [9]], users=[7, 8, 9])
    r = rank_holdout(FixedOrder(10), h, n_items=10, k=3)
    assert r.users.tolist() == [7, 8, 9]
    assert r.topk_items.tolist() == [[2, 3, 4], [0, 1, 2], [0, 1, 2]]
    assert r.hits.tolist() == [[True, False, False], [True, False, False], [False, False, False]]
    assert r.n_targets.tolist() == [1, 2, 1]
    assert r.n_candidates.tolist() == [8, 9, 10]
    # row 0: target 2 is first of the unmasked; row 1: 0 first, 3 behind 0,1,2; row 2: 9 last of 10
    assert r.target_ranks.tolist() == [0.0, 0.0, 3.0, 9.0]
    assert r.dropped_targets == 0 and r.dropped_users == 0
    np.testing.assert_allclose(r.topk_scores[0], [-2, -3, -4])


def test_target_in_history_is_dropped_and_counted():
    # row 0: target 1 is in the input (masked) -> dropped, row 0 has no target left -> user dropped
    # row 1: targets 4 (in input, dropped) and 6 (kept); the duplicate 6 counts once
    h = holdout([[1, 2], [4], [3]], [[1], [4, 6, 6], [5]])
    r = rank_holdout(FixedOrder(10), h, n_items=10, k=2)
    assert r.dropped_targets == 2
    assert r.dropped_users == 1
    assert r.users.tolist() == [1, 2] and r.rows.tolist() == [1, 2]
    assert [r.targets.row(i).tolist() for i in range(2)] == [[6], [5]]


def test_exclude_seen_false_keeps_history_targets():
    h = holdout([[1, 2]], [[1]])
    r = rank_holdout(FixedOrder(10), h, n_items=10, k=2, exclude_seen=False)
    assert r.dropped_targets == 0
    assert r.topk_items.tolist() == [[0, 1]] and r.hits.tolist() == [[False, True]]
    assert r.n_candidates.tolist() == [10]


def test_batch_size_does_not_change_anything():
    rng = np.random.default_rng(1)
    inputs = [rng.choice(50, size=rng.integers(0, 6), replace=False).tolist() for _ in range(23)]
    targets = [rng.choice(np.setdiff1d(np.arange(50), i), size=rng.integers(1, 4), replace=False).tolist()
               for i in inputs]
    keyed = [[100 + u] + row for u, row in enumerate(inputs)]  # the first (masked) item picks the score row
    rows = {100 + u: rng.random(150).astype(np.float32) for u in range(23)}
    h = holdout(keyed, targets)
    runs = [rank_holdout(TableScores(rows), h, n_items=150, k=5, batch_size=b) for b in (1, 4, 7, None)]
    for other in runs[1:]:
        for name in ("topk_items", "hits", "target_ranks", "n_candidates"):
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(other, name))


@pytest.mark.parametrize("one_row_chunks", [False, True])
def test_ranks_match_brute_force_with_ties_both_paths(monkeypatch, one_row_chunks):
    # scores rounded to 1 decimal -> many ties; user 1 has 70 targets (sort path), user 0 has 2 (compare path
    # when rows are ranked in chunks of one row; in one shared chunk both go through the sort)
    n = 240
    if one_row_chunks:
        monkeypatch.setattr(ranking, "_CHUNK_ELEMENTS", n)
    rng = np.random.default_rng(2)
    scores = {key: np.round(rng.random(n), 1).astype(np.float32) for key in (100, 101)}
    inputs = [[100, 3, 4], [101, 7]]
    targets = [[5, 6], list(range(10, 80))]
    for order in ([0, 1], [1, 0]):
        inp, tgt = [inputs[i] for i in order], [targets[i] for i in order]
        r = rank_holdout(TableScores(scores), holdout(inp, tgt), n_items=n, k=3)
        expected = []
        for row_inputs, row_targets in zip(inp, tgt, strict=True):
            expected += brute_ranks(scores[row_inputs[0]], set(row_inputs), row_targets)
        np.testing.assert_allclose(r.target_ranks, expected)


def test_constant_scores_rank_is_mid_ties():
    class Constant:
        def score(self, h: Histories) -> torch.Tensor:
            return torch.zeros(len(h), 11)

    r = rank_holdout(Constant(), holdout([[0]], [[5]]), n_items=11, k=2)
    assert r.target_ranks.tolist() == [4.5]  # 10 candidates, 9 others tied -> 0 + 9/2


def test_neg_inf_model_scores_do_not_count_masked_items_as_ties():
    class NegInf:
        def score(self, h: Histories) -> torch.Tensor:
            s = torch.zeros(len(h), 6)
            s[:, 5] = float("-inf")  # the model itself rules item 5 out
            return s

    r = rank_holdout(NegInf(), holdout([[0, 1]], [[5]]), n_items=6, k=6)
    # candidates 2, 3, 4, 5: three score 0 > -inf, no unmasked tie
    assert r.target_ranks.tolist() == [3.0]
    assert r.topk_items.tolist() == [[2, 3, 4, PAD, PAD, PAD]]  # -inf entries are not recommendations
    assert not r.hits.any()


def test_k_larger_than_catalogue_pads():
    r = rank_holdout(FixedOrder(3), holdout([[0]], [[2]]), n_items=3, k=5)
    assert r.topk_items.tolist() == [[1, 2, PAD, PAD, PAD]]
    assert r.hits.tolist() == [[False, True, False, False, False]]
    assert isinstance(r, Ranking) and r.k == 5


def test_model_output_is_not_modified():
    base = torch.arange(4, dtype=torch.float32)

    class Shared:
        def score(self, h: Histories) -> torch.Tensor:
            return base.expand(len(h), -1)

    rank_holdout(Shared(), holdout([[3], [2]], [[0], [1]]), n_items=4, k=2)
    assert base.tolist() == [0, 1, 2, 3]


def test_wrong_shape_nan_and_bad_items_raise():
    class Wrong:
        def score(self, h: Histories) -> torch.Tensor:
            return torch.zeros(len(h), 3)

    class NaN:
        def score(self, h: Histories) -> torch.Tensor:
            return torch.full((len(h), 4), float("nan"))

    h = holdout([[0]], [[1]])
    with pytest.raises(LmrecError, match=r"expected a tensor \[1, 4\]"):
        rank_holdout(Wrong(), h, n_items=4, k=2)
    with pytest.raises(LmrecError, match="NaN"):
        rank_holdout(NaN(), h, n_items=4, k=2)
    with pytest.raises(DataError, match="target items"):
        rank_holdout(FixedOrder(4), holdout([[0]], [[4]]), n_items=4, k=2)


def test_progress_reports_every_batch():
    calls = []
    h = holdout([[i] for i in range(5)], [[(i + 1) % 5] for i in range(5)])
    rank_holdout(RandomScores(5), h, n_items=5, k=2, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_default_batch_size_bounds_score_memory():
    assert default_batch_size(100_000) * 100_000 * 4 <= 256 * 2**20
    assert default_batch_size(10) == 1024
    assert default_batch_size(10**9) == 1
