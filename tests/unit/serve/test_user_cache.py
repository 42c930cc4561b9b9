"""The user-state cache gives what the model's query gives, runs the model only for histories it has not seen,
treats any change of items, times or user as a new history, and stays within its size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories
from lmrec.serve.user_cache import UserStateCache


class CountingQuery:
    """A stand-in user encoder: the vector depends on every item, time and user, and each call is recorded."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def __call__(self, histories: Histories) -> torch.Tensor:
        self.rows.append(len(histories))
        mask = torch.from_numpy(histories.mask).float()
        seq = torch.from_numpy(histories.seq).float() * mask
        times = torch.zeros_like(seq) if histories.times is None else torch.from_numpy(histories.times).float() * mask
        users = (torch.zeros(len(histories)) if histories.users is None
                 else torch.from_numpy(histories.users).float())
        steps = torch.arange(1, seq.shape[1] + 1, dtype=torch.float32)
        return torch.stack([(seq * steps).sum(1), (times * steps).sum(1), users, mask.sum(1)], dim=1)


def _histories(rows, users=None, times=None) -> Histories:
    found = Histories.from_lists(rows)
    if times is not None:
        padded = np.zeros_like(found.seq)
        for i, t in enumerate(times):
            padded[i, : len(t)] = t
        found = Histories(found.seq, found.lengths, padded, found.users)
    if users is not None:
        found = Histories(found.seq, found.lengths, found.times, np.asarray(users, np.int64))
    return found


def test_cached_vectors_equal_the_query_and_only_new_histories_run_it() -> None:
    query = CountingQuery()
    cache = UserStateCache(query, size=100)
    first = _histories([[1, 2, 3], [4, 5]])
    assert torch.equal(cache(first), query(first))
    query.rows.clear()
    mixed = _histories([[4, 5], [7], [1, 2, 3], [7, 8, 9, 10]])
    assert torch.equal(cache(mixed), CountingQuery()(mixed))
    assert query.rows == [2]  # [7] and [7, 8, 9, 10] ran; the two seen histories did not
    assert (cache.hits, cache.misses) == (2, 4)
    cache(mixed)
    assert query.rows == [2] and cache.hits == 6


@pytest.mark.parametrize("changed", ["an appended item", "another user", "another time"])
def test_any_change_to_what_the_model_reads_is_a_new_history(changed) -> None:
    query = CountingQuery()
    cache = UserStateCache(query, size=100)
    before = _histories([[1, 2, 3]], users=[0], times=[[10, 20, 30]])
    after = {"an appended item": _histories([[1, 2, 3, 4]], users=[0], times=[[10, 20, 30, 40]]),
             "another user": _histories([[1, 2, 3]], users=[1], times=[[10, 20, 30]]),
             "another time": _histories([[1, 2, 3]], users=[0], times=[[10, 20, 31]])}[changed]
    cache(before)
    assert torch.equal(cache(after), CountingQuery()(after))
    assert cache.misses == 2 and cache.hits == 0


def test_the_least_recently_used_states_leave_first() -> None:
    query = CountingQuery()
    cache = UserStateCache(query, size=2)
    a, b, c = (_histories([[i]]) for i in (1, 2, 3))
    cache(a), cache(b), cache(a), cache(c)  # b is the least recently used when c arrives
    assert len(cache) == 2
    query.rows.clear()
    cache(a), cache(c)
    assert query.rows == []
    cache(b)
    assert query.rows == [1]


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        UserStateCache(CountingQuery(), size=0)
