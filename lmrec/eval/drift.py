"""Interest drift per period: how much of what users choose in a period lies outside the categories they chose
before it. A high share means yesterday's interests explain less of today's choices, the regime where a model
that reads time (tisasrec) should help and a global temporal split is the honest protocol.

    table = drift_report(dataset, field="genres", periods=5)   # one row per period
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmrec.data.types import Dataset
from lmrec.errors import ConfigError, DataError


@dataclass(frozen=True)
class PeriodDrift:
    """One period [start, end): users active in it with earlier history, their events there, and the mean over
    those users of the share of their period events whose categories all lie outside their earlier ones."""

    period: int
    start: int
    end: int
    users: int
    events: int
    outside_share: float
    new_item_share: float  # share of period events on items the user never chose before (any category)


def drift_report(dataset: Dataset, *, field: str | None = None, periods: int = 5) -> list[PeriodDrift]:
    """Cut time into `periods` equal-count periods (quantiles of all timestamps) and measure drift in each."""
    if periods < 2:
        raise ConfigError(f"periods must be >= 2, got {periods}")
    catalog = dataset.catalog
    if catalog is None or not (field or catalog.categorical):
        raise DataError("the drift report needs a catalogue with a categorical field (genres, category, ...)")
    categories = catalog.category_sets(field or catalog.categorical[0])
    inter = dataset.interactions
    edges = np.quantile(inter.timestamp, np.linspace(0, 1, periods + 1)).astype(np.int64)
    edges[-1] += 1  # the last period includes the latest event
    seqs = inter.sequences()
    rows: list[PeriodDrift] = []
    for p in range(periods):
        start, end = int(edges[p]), int(edges[p + 1])
        shares, new_shares, events = [], [], 0
        for u in range(len(seqs)):
            lo, hi = seqs.indptr[u], seqs.indptr[u + 1]
            times, items = seqs.times[lo:hi], seqs.items[lo:hi]
            before, now = items[times < start], items[(times >= start) & (times < end)]
            if not len(before) or not len(now):
                continue
            seen = frozenset().union(*(categories[i] for i in before))
            outside = [not (categories[i] & seen) for i in now]
            known = set(before.tolist())
            shares.append(float(np.mean(outside)))
            new_shares.append(float(np.mean([i not in known for i in now.tolist()])))
            events += len(now)
        rows.append(PeriodDrift(p + 1, start, end, len(shares), events,
                                float(np.mean(shares)) if shares else float("nan"),
                                float(np.mean(new_shares)) if new_shares else float("nan")))
    return rows
