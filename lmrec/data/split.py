"""Splits as types (RecPack scenarios): `Split(train, valid, test)` where each Holdout is (inputs, targets).

Targets live only in Holdouts and `fit` takes `train`, so nothing can route a target into training.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lmrec.data.types import Dataset, Histories, Interactions, Sequences
from lmrec.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class Holdout:
    """Users to evaluate, the history each may look at (`inputs`), and the items to find (`targets`)."""

    users: np.ndarray
    inputs: Sequences
    targets: Sequences

    def __len__(self) -> int:
        return len(self.users)

    def histories(self, rows: np.ndarray) -> Histories:
        """The inputs of holdout rows `rows` as a query batch that knows its users."""
        rows = np.asarray(rows, dtype=np.int64)
        return dataclasses.replace(self.inputs.histories(rows), users=np.asarray(self.users, np.int64)[rows])

    def digest(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.users, dtype=np.int64).tobytes())
        digest.update(self.inputs.digest().encode() + self.targets.digest().encode())
        return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Split:
    """Training events plus validation and test holdouts; `info` records how it was made."""

    train: Interactions
    valid: Holdout | None
    test: Holdout
    info: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Content hash of everything the split decides; recorded in every run."""
        parts = [self.train.digest(), self.valid.digest() if self.valid else "-", self.test.digest()]
        return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SplitConfig:
    """How to split: per-user leave-last-out by time, or a global cut in time."""

    method: Literal["leave_last_out", "global_time"] = "leave_last_out"
    # global_time: the test period starts at this quantile of all timestamps (or at `cut`, unix seconds)
    test_quantile: float = 0.9
    valid_quantile: float = 0.8
    cut: int | None = None
    valid_cut: int | None = None
    # few-shot: train (and validate) on this fraction of the users, drawn with `user_seed`; test keeps every user
    train_users: float = 1.0
    user_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < float(self.train_users) <= 1.0:
            raise ConfigError(f"split.train_users={self.train_users!r} must be in (0, 1]")


def make_split(dataset: Dataset, config: SplitConfig = SplitConfig()) -> Split:
    """Apply a SplitConfig to a dataset."""
    if config.method == "leave_last_out":
        split = leave_last_out(dataset.interactions)
    else:
        inter = dataset.interactions
        cut = config.cut if config.cut is not None else int(np.quantile(inter.timestamp, config.test_quantile))
        valid_cut = config.valid_cut
        if valid_cut is None and config.valid_quantile:
            valid_cut = int(np.quantile(inter.timestamp, config.valid_quantile))
        split = global_time_split(inter, cut, valid_cut=valid_cut)
    if config.train_users < 1.0:
        split = subsample_train_users(split, config.train_users, seed=config.user_seed)
    return split


def subsample_train_users(split: Split, fraction: float, *, seed: int = 0) -> Split:
    """Few-shot training data: keep the training events and validation targets of a random `fraction` of the
    users (at least one); the test holdout is untouched, so every user is still evaluated on the same targets."""
    users = np.unique(split.train.user)
    if len(users) == 0:
        raise DataError("no training users to subsample")
    n = max(1, int(round(fraction * len(users))))
    chosen = np.sort(np.random.default_rng(seed).choice(users, size=n, replace=False))
    train = split.train.select(np.isin(split.train.user, chosen))
    valid = split.valid
    if valid is not None:
        keep = np.flatnonzero(np.isin(valid.users, chosen))
        valid = Holdout(valid.users[keep], valid.inputs.take(keep), valid.targets.take(keep))
    info = {**split.info, "train_users": int(n), "train_user_fraction": float(fraction), "user_seed": int(seed)}
    return Split(train, valid, split.test, info)


def leave_last_out(inter: Interactions) -> Split:
    """Per user, in time order: last event -> test, second-last -> validation, the rest -> train.

    Users with fewer than 3 events stay wholly in train and are not evaluated (counted in `info`). Rows are assumed
    sorted by (user, time, tie key), as every Dataset guarantees; so ties keep their original file order.
    """
    if len(inter) == 0:
        raise DataError("cannot split an empty interaction set")
    seqs = inter.sequences()
    lengths = seqs.lengths
    evaluable = np.flatnonzero(lengths >= 3)
    if len(evaluable) == 0:
        raise DataError(
            f"dataset too small for leave-last-out: no user has 3 or more interactions "
            f"(largest history: {int(lengths.max(initial=0))})"
        )
    ends = seqs.indptr[1:]
    is_test = np.zeros(len(inter), bool)
    is_valid = np.zeros(len(inter), bool)
    order = np.argsort(inter.user, kind="stable")  # positions of sequences' items in the original rows
    is_test[order[ends[evaluable] - 1]] = True
    is_valid[order[ends[evaluable] - 2]] = True
    train = inter.select(~(is_test | is_valid))
    starts = seqs.indptr[:-1]
    times = seqs.times
    train_inputs = Sequences.from_lists([seqs.items[starts[u]:ends[u] - 2] for u in evaluable],
                                        [times[starts[u]:ends[u] - 2] for u in evaluable])
    valid_targets = Sequences.from_lists([[seqs.items[ends[u] - 2]] for u in evaluable],
                                         [[times[ends[u] - 2]] for u in evaluable])
    test_targets = Sequences.from_lists([[seqs.items[ends[u] - 1]] for u in evaluable],
                                        [[times[ends[u] - 1]] for u in evaluable])
    test_inputs = Sequences.from_lists([seqs.items[starts[u]:ends[u] - 1] for u in evaluable],
                                       [times[starts[u]:ends[u] - 1] for u in evaluable])
    info = {"method": "leave_last_out", "evaluated_users": int(len(evaluable)),
            "users_too_short": int((lengths < 3).sum() - (lengths == 0).sum())}
    return Split(train, Holdout(evaluable, train_inputs, valid_targets), Holdout(evaluable, test_inputs, test_targets),
                 info)


def global_time_split(inter: Interactions, cut: int, *, valid_cut: int | None = None) -> Split:
    """Train strictly before `valid_cut` (or `cut`); validation in [valid_cut, cut); test at or after `cut`.

    Test users are those with events both before and after the cut; their input is everything before the cut
    and their targets the distinct items after it. No event at or after the cut is ever trained on.
    """
    if valid_cut is not None and valid_cut >= cut:
        raise DataError(f"valid_cut {valid_cut} must be before the test cut {cut}")
    train_end = valid_cut if valid_cut is not None else cut
    train = inter.select(inter.timestamp < train_end)
    if len(train) == 0:
        raise DataError(f"no interactions before the cut {train_end}: dataset too small for this split")
    test = _period_holdout(inter, before=cut, start=cut, end=None)
    if len(test) == 0:
        raise DataError(f"no user has interactions both before and after the cut {cut}")
    valid = _period_holdout(inter, before=valid_cut, start=valid_cut, end=cut) if valid_cut is not None else None
    info = {"method": "global_time", "cut": int(cut), "valid_cut": None if valid_cut is None else int(valid_cut),
            "evaluated_users": int(len(test))}
    return Split(train, valid if valid is not None and len(valid) else None, test, info)


def _period_holdout(inter: Interactions, *, before: int, start: int, end: int | None) -> Holdout:
    seqs = inter.sequences()
    times = seqs.times
    users, inputs, input_times, targets = [], [], [], []
    for u in range(len(seqs)):
        lo, hi = seqs.indptr[u], seqs.indptr[u + 1]
        t = times[lo:hi]
        items = seqs.items[lo:hi]
        history = items[t < before]
        in_period = (t >= start) & (t < end) if end is not None else t >= start
        target = list(dict.fromkeys(items[in_period].tolist()))
        if len(history) and target:
            users.append(u)
            inputs.append(history)
            input_times.append(t[t < before])
            targets.append(target)
    return Holdout(np.asarray(users, np.int64), Sequences.from_lists(inputs, input_times),
                   Sequences.from_lists(targets))

