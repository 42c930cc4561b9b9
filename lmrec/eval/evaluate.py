"""evaluate(model, holdout): full ranking, per-user accuracy with bootstrap CIs, beyond-accuracy.

Every number means what DESIGN.md's evaluation protocol says: full ranking over all `n_items`, the user's
input items masked unless `exclude_seen=False`, no sampled negatives. `write_recommendations` writes the
top-k lists and the evaluated targets with raw IDs so anyone can recompute the metrics
(bench/recompute_metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.split import Holdout
from lmrec.data.types import PAD, IdMap, Interactions, Sequences
from lmrec.errors import ConfigError
from lmrec.eval import beyond
from lmrec.eval.ranking import Ranking, rank_holdout
from lmrec.eval.stats import bootstrap_ci
from lmrec.io import atomic_write, spreadsheet_safe
from lmrec.metrics import ACCURACY_METRICS, METRIC_FUNCTIONS, auc
from lmrec.ranking import Exclusions, Stage
from lmrec.ranking.calibration import category_matrix
from lmrec.ranking.exposure import popularity_groups


@dataclass(frozen=True)
class EvalOptions:
    """How to evaluate: cut-offs, masking, batch size (None = auto, ~256 MB of scores), bootstrap settings."""

    ks: tuple[int, ...] = (10, 20)
    exclude_seen: bool = True
    batch_size: int | None = None
    n_bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        ks = tuple(int(k) for k in (self.ks if isinstance(self.ks, Sequence) else (self.ks,)))
        if not ks or min(ks) < 1:
            raise ConfigError(f"eval ks must be positive integers, got {self.ks!r}")
        object.__setattr__(self, "ks", tuple(sorted(set(ks))))
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"eval batch_size must be >= 1 or None, got {self.batch_size}")
        if self.n_bootstrap < 0:
            raise ConfigError(f"eval n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"eval confidence must be in (0, 1), got {self.confidence}")


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Mean metrics, their CIs, per-user values (row u is user `users[u]`) and the ranking they came from."""

    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    ranking: Ranking
    n_users: int
    dropped_targets: int
    options: EvalOptions = field(default_factory=EvalOptions)

    def to_json(self) -> dict:
        """`{"ndcg@10": .., "ci": {"ndcg@10": [lo, hi]}, "n_users": .., "dropped_targets": .., ...}`."""
        out: dict = {name: _finite(value) for name, value in self.metrics.items()}
        out["ci"] = {name: [_finite(lo), _finite(hi)] for name, (lo, hi) in self.ci.items()}
        out["n_users"] = int(self.n_users)
        out["dropped_targets"] = int(self.dropped_targets)
        out["dropped_users"] = int(self.ranking.dropped_users)
        out["options"] = {**asdict(self.options), "ks": list(self.options.ks)}
        return out


def evaluate(model: Any, holdout: Holdout, *, n_items: int, options: EvalOptions = EvalOptions(),
             train: Interactions | None = None, item_vectors: np.ndarray | None = None,
             item_categories: list[frozenset[str]] | None = None,
             progress: Callable[[int, int], None] | None = None, stages: tuple[Stage, ...] = (),
             exclusions: Exclusions | None = None) -> EvalResult:
    """Rank every holdout user over all items (a scorer or a top-k-only ranker; then the re-ranking `stages`,
    as the service runs them) and summarise.

    Accuracy (hr, recall, precision, ndcg, mrr, map @k; auc) gets per-user values and percentile-bootstrap
    CIs. Beyond accuracy @k: coverage and gini always; novelty and arp when `train` is given (popularity =
    training counts); ild from `item_categories` (1 - Jaccard) when given, else from `item_vectors`
    (1 - cosine), and ild_cos from `item_vectors` whenever they are given.
    """
    ranking = rank_holdout(model, holdout, n_items=n_items, k=max(options.ks),
                           exclude_seen=options.exclude_seen, batch_size=options.batch_size,
                           progress=progress, stages=stages, exclusions=exclusions)
    return summarise(ranking, n_items=n_items, options=options, train=train, item_vectors=item_vectors,
                     item_categories=item_categories, inputs=holdout.inputs)


def summarise(ranking: Ranking, *, n_items: int, options: EvalOptions = EvalOptions(),
              train: Interactions | None = None, item_vectors: np.ndarray | None = None,
              item_categories: list[frozenset[str]] | None = None, inputs: Sequences | None = None) -> EvalResult:
    """Metrics, CIs and beyond-accuracy measures of a ranking (from `rank_holdout`, or from lists a peer library
    produced: `lmrec.eval.ranking.rank_lists`); `inputs` (the holdout's histories) adds miscalibration."""
    per_user: dict[str, np.ndarray] = {}
    metrics: dict[str, float] = {}
    for k in options.ks:
        for name in ACCURACY_METRICS:
            per_user[f"{name}@{k}"] = METRIC_FUNCTIONS[name](ranking.hits, ranking.n_targets, k)
    per_user["auc"] = auc(ranking.target_ranks, ranking.n_targets, ranking.n_candidates)
    for name, values in per_user.items():
        metrics[name] = _mean(values)
    mixes = None
    if item_categories is not None and inputs is not None and any(item_categories):
        matrix = category_matrix(item_categories)
        mixes = (matrix, beyond.sequence_mixes(inputs, ranking.rows, matrix))
    metrics.update(_beyond_metrics(ranking, n_items, options.ks, train, item_vectors, item_categories, mixes))
    ci = {name: bootstrap_ci(values, options.n_bootstrap, options.confidence, options.seed)
          for name, values in per_user.items()}
    return EvalResult(metrics, ci, per_user, ranking.users, ranking, len(ranking), ranking.dropped_targets,
                      options)


def _beyond_metrics(ranking: Ranking, n_items: int, ks: tuple[int, ...], train: Interactions | None,
                    item_vectors: np.ndarray | None,
                    item_categories: list[frozenset[str]] | None,
                    mixes: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    counts = beyond.item_counts(train) if train is not None else None
    if counts is not None and len(counts) != n_items:
        raise ConfigError(f"train has {len(counts)} items but evaluation uses n_items={n_items}")
    head = popularity_groups(counts) == 0 if counts is not None else None
    for k in ks:
        lists = ranking.topk_items
        out[f"coverage@{k}"] = beyond.coverage(lists, n_items, k)
        out[f"gini@{k}"] = beyond.recommendation_gini(lists, n_items, k)
        if counts is not None:
            out[f"novelty@{k}"] = _mean(beyond.novelty(lists, k, counts))
            out[f"arp@{k}"] = _mean(beyond.average_popularity(lists, k, counts))
            out[f"exposure_gap@{k}"] = beyond.exposure_gap(lists, k, head)
        if item_categories is not None:
            out[f"ild@{k}"] = _mean(beyond.intra_list_diversity(lists, k, item_categories=item_categories))
        if mixes is not None:
            out[f"miscalibration@{k}"] = _mean(beyond.miscalibration(lists, k, mixes[1], mixes[0]))
        if item_vectors is not None:
            ild_cos = _mean(beyond.intra_list_diversity(lists, k, item_vectors=item_vectors))
            out[f"ild_cos@{k}"] = ild_cos
            out.setdefault(f"ild@{k}", ild_cos)
    return out


def _mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def _finite(value: float) -> float | None:
    """JSON has no NaN: undefined values are written as null."""
    return None if value is None or not np.isfinite(value) else float(value)


def _raw(ids: IdMap | np.ndarray | Sequence[str]) -> np.ndarray:
    return ids.raw if isinstance(ids, IdMap) else np.asarray(ids, dtype=object)


def write_recommendations(ranking: Ranking, users_map_raw: IdMap | np.ndarray | Sequence[str],
                          items_map_raw: IdMap | np.ndarray | Sequence[str], path_recs: str | Path,
                          path_targets: str | Path, k: int) -> None:
    """recommendations.csv (`user_id,item_id,rank,score`: raw IDs, rank 1-based, top-k per evaluated user) and
    targets.csv (`user_id,item_id`: the targets actually evaluated), each written atomically. An ID that starts
    like a spreadsheet formula is written with a leading apostrophe (`lmrec.io.spreadsheet_safe`).

    `*_map_raw` is an IdMap or the array of raw IDs indexed by dense index.
    """
    if not 1 <= k <= ranking.k:
        raise ValueError(f"k={k} must be between 1 and the ranking's k={ranking.k}")
    users_raw, items_raw = _raw(users_map_raw), _raw(items_map_raw)
    lists, scores = ranking.topk_items[:, :k], ranking.topk_scores[:, :k]
    valid = lists != PAD
    row, col = np.nonzero(valid)
    recs = pd.DataFrame({"user_id": spreadsheet_safe(users_raw[ranking.users[row]]),
                         "item_id": spreadsheet_safe(items_raw[lists[row, col]]),
                         "rank": col + 1, "score": scores[row, col].astype(np.float64)})
    owner = np.repeat(ranking.users, ranking.n_targets)
    targets = pd.DataFrame({"user_id": spreadsheet_safe(users_raw[owner]),
                            "item_id": spreadsheet_safe(items_raw[ranking.targets.items])})
    atomic_write(Path(path_recs), lambda tmp: recs.to_csv(tmp, index=False))
    atomic_write(Path(path_targets), lambda tmp: targets.to_csv(tmp, index=False))
