"""The cold-user protocol: users whose first interaction comes after a global time cut, served with the first
0, 1, ... of their interactions as history and asked for the rest.

    data = cold_user_data(dataset, SplitConfig(method="global_time", test_quantile=0.9, valid_quantile=0.8))
    model.fit(data.split.train, valid=data.split.valid, catalog=dataset.catalog)
    for shots, holdout in data.holdouts.items():
        evaluate(model, holdout, n_items=dataset.n_items)      # Histories carry the users (their attributes)

Models train on events before the validation cut (validation: warm users' events between the cuts), so nothing
a cold user did is ever trained on; what a model may know about a cold user is their attributes. Every shot
setting evaluates the same users (those with more events after the cut than the largest shot count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.data.split import Holdout, Split, SplitConfig, make_split
from lmrec.data.types import Dataset, Sequences
from lmrec.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class ColdUserData:
    """The split models train on and one holdout of the cold users per number of revealed interactions."""

    split: Split
    holdouts: dict[int, Holdout]
    cut: int

    def counts(self) -> dict[str, int]:
        first = next(iter(self.holdouts.values()))
        return {"cold_users": len(first), "train_events": len(self.split.train),
                "warm_test_users": len(self.split.test)}


def cold_user_data(dataset: Dataset, config: SplitConfig | None = None, *, shots: tuple[int, ...] = (0, 1)
                   ) -> ColdUserData:
    """Users first seen at or after the test cut; for each n in `shots` their first n events are the input and
    the distinct later items not among them the targets."""
    config = config or SplitConfig(method="global_time")
    if config.method != "global_time":
        raise ConfigError(f"the cold-user protocol needs split.method=global_time, got {config.method!r}")
    if not shots or min(shots) < 0:
        raise ConfigError(f"shots must be counts >= 0, got {shots}")
    split = make_split(dataset, config)
    cut = int(split.info["cut"])
    seqs = dataset.interactions.sequences()
    first_time = np.full(len(seqs), np.iinfo(np.int64).max)
    has = seqs.lengths > 0
    first_time[has] = seqs.times[seqs.indptr[:-1][has]]
    need = max(shots) + 1
    cold = np.flatnonzero((first_time >= cut) & (seqs.lengths >= need))
    if len(cold) == 0:
        raise DataError(f"no user is first seen after the cut {cut} with {need}+ interactions")
    holdouts = {}
    for n in shots:
        inputs, targets = [], []
        for u in cold:
            items = seqs.row(u)
            shown = items[:n]
            later = [i for i in dict.fromkeys(items[n:].tolist()) if i not in set(shown.tolist())]
            inputs.append(shown)
            targets.append(later)
        holdouts[n] = Holdout(cold.astype(np.int64), Sequences.from_lists(inputs), Sequences.from_lists(targets))
    return ColdUserData(split, holdouts, cut)
