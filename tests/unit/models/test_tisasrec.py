"""tisasrec: the time between events reaches the net; without timestamps it scores as plain SASRec."""

from __future__ import annotations

import numpy as np
import torch

from lmrec.data.split import leave_last_out
from lmrec.data.types import Histories, Interactions
from lmrec.models.registry import get_model
from lmrec.models.tisasrec import interval_buckets

HOUR, MONTH = 3600, 30 * 86400


def gap_data(n_users: int = 240, seed: int = 0) -> Interactions:
    """Each user: a filler item, then item 0 a short or a long while later, then item 1 after a short gap and
    item 2 after a long one; the item sequence alone cannot tell which comes next."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        long = bool(u % 2)
        start = 1_000_000 + int(rng.integers(0, 10 * MONTH))
        filler = 3 + int(rng.integers(0, 5))
        gap = MONTH if long else HOUR // 4
        events = [(filler, start), (0, start + gap), (2 if long else 1, start + gap + HOUR)]
        for item, t in events:
            users.append(u)
            items.append(item)
            times.append(t)
    return Interactions(np.asarray(users), np.asarray(items), np.asarray(times, np.int64), n_users, 8)


def queries(n: int = 40) -> tuple[Histories, np.ndarray]:
    seq = np.asarray([[3 + i % 5, 0] for i in range(n)])
    gaps = np.where(np.arange(n) % 2 == 1, MONTH, HOUR // 4)
    times = np.stack([np.full(n, 5_000_000), 5_000_000 + gaps], axis=1)
    return Histories(seq, np.full(n, 2), times=times), np.where(np.arange(n) % 2 == 1, 2, 1)


def fit(name: str, train: Interactions):
    config = {"dim": 16, "layers": 1, "heads": 1, "max_len": 4, "dropout": 0.0,
              "train": {"epochs": 60, "batch_size": 32, "lr": 0.01, "patience": 100, "threads": 1}}
    return get_model(name).create(config).fit(train)


def test_the_gap_before_the_last_event_decides_the_next_item() -> None:
    train = gap_data()
    histories, answers = queries()
    timed = fit("tisasrec", train)
    hit = float((timed.recommend(histories, 1).items[:, 0] == answers).mean())
    assert hit >= 0.9, f"tisasrec HR@1 {hit:.2f}"
    plain = fit("sasrec", train)
    blind = float((plain.recommend(histories, 1).items[:, 0] == answers).mean())
    assert blind <= 0.75, f"sasrec should not tell the cases apart; HR@1 {blind:.2f}"


def test_without_timestamps_every_interval_is_unknown() -> None:
    model = fit("tisasrec", gap_data(n_users=40))
    histories, _ = queries(4)
    untimed = Histories(histories.seq, histories.lengths)
    zeroed = Histories(histories.seq, histories.lengths, times=np.zeros_like(histories.times))
    assert torch.equal(model.score(untimed), model.score(zeroed))


def test_buckets_grow_with_the_gap_and_zero_means_unknown() -> None:
    gaps = torch.tensor([0, 60, 3600, 86400, 30 * 86400, 10**10])
    buckets = interval_buckets(gaps, torch.ones_like(gaps, dtype=torch.bool))
    assert (buckets[1:] >= buckets[:-1]).all() and buckets.min() == 1 and buckets.max() == 23
    assert interval_buckets(gaps, torch.zeros_like(gaps, dtype=torch.bool)).eq(0).all()


def test_holdouts_carry_input_timestamps() -> None:
    split = leave_last_out(gap_data(n_users=10))
    batch = split.test.histories(np.arange(3))
    assert batch.times is not None and batch.times.shape == batch.seq.shape
    assert (batch.times[:, 1] > batch.times[:, 0]).all()
