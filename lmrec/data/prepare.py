"""Cleaning a Dataset: rating threshold, repeat removal, k-core, history cap; then dense re-indexing.

Every step logs what it removed, so no data disappears silently. Chronological order (and so the tie rule) is
kept: rows are only ever dropped, never reordered, and surviving IDs keep their relative order.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from lmrec.data.types import Dataset, IdMap, Interactions
from lmrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareConfig:
    """What to clean. The defaults change nothing on data without repeated (user, item) events."""

    dedup: Literal["first", "last", "none"] = (
        "first"  # repeated (user, item): keep its first/last event, or all
    )
    min_rating: float | None = None  # implicit feedback: keep events with rating >= min_rating
    k_core_users: int = 0  # drop users with fewer events, repeated with k_core_items to a fixed point
    k_core_items: int = 0  # drop items with fewer events (catalogue-only items included)
    max_history: int | None = None  # keep only each user's most recent events

    def __post_init__(self) -> None:
        if self.dedup not in ("first", "last", "none"):
            raise ConfigError(f"dedup={self.dedup!r} is not one of ['first', 'last', 'none']")
        for name in ("k_core_users", "k_core_items"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_history is not None and self.max_history < 1:
            raise ConfigError(f"max_history must be >= 1, got {self.max_history}")


def prepare(dataset: Dataset, config: PrepareConfig = PrepareConfig()) -> Dataset:
    """Apply `config`; returns `dataset` itself when nothing is removed, else a re-indexed copy."""
    inter = dataset.interactions
    keep = np.ones(len(inter), bool)
    keep_items = np.ones(dataset.n_items, bool)
    name = dataset.name
    if config.min_rating is not None:
        if inter.value is None:
            raise DataError(
                f"min_rating={config.min_rating} needs ratings, but the dataset has none", source=name
            )
        keep &= inter.value >= config.min_rating
        _report(name, f"min_rating >= {config.min_rating}", len(inter) - int(keep.sum()))
    if config.dedup != "none":
        before = int(keep.sum())
        keep &= _first_or_last(inter, keep, last=config.dedup == "last")
        _report(name, f"dedup ({config.dedup})", before - int(keep.sum()), "repeated (user, item) events")
    if config.k_core_users or config.k_core_items:
        keep, keep_items = _k_core(inter, keep, config.k_core_users, config.k_core_items, name)
    if config.max_history is not None:
        before = int(keep.sum())
        keep &= _most_recent(inter, keep, config.max_history)
        _report(name, f"max_history {config.max_history}", before - int(keep.sum()), "older events")
    if keep.all() and keep_items.all():
        return dataset
    return _reindex(dataset, keep, keep_items)


def describe(dataset: Dataset) -> dict[str, object]:
    """`Dataset.stats()` plus what sequential protocols care about: repeats, time ties, ratings, catalogue."""
    inter = dataset.interactions
    stats: dict[str, object] = dict(dataset.stats())
    pairs = inter.user.astype(np.int64) * max(dataset.n_items, 1) + inter.item
    stats["repeated_user_item_events"] = int(len(pairs) - len(np.unique(pairs)))
    same_user = np.r_[False, inter.user[1:] == inter.user[:-1]]
    stats["events_tied_with_previous"] = int((same_user & np.r_[False, np.diff(inter.timestamp) == 0]).sum())
    per_user = np.bincount(inter.user, minlength=dataset.n_users)
    stats["users_with_3_or_more"] = int((per_user >= 3).sum())
    if inter.value is not None and len(inter):
        stats["rating_min"], stats["rating_max"] = float(inter.value.min()), float(inter.value.max())
    if dataset.catalog is not None:
        stats["text_fields"] = list(dataset.catalog.text_fields)
        stats["categorical_fields"] = list(dataset.catalog.categorical)
        stats["numeric_fields"] = list(dataset.catalog.numeric)
    stats["user_attributes"] = (
        []
        if dataset.user_attributes is None
        else [c for c in dataset.user_attributes.columns if c != "user_id"]
    )
    stats["digest"] = dataset.digest()
    return stats


def _report(name: str, step: str, removed: int, what: str = "events") -> None:
    if removed:
        log.info("%s: %s removed %d %s", name, step, removed, what)


def _first_or_last(inter: Interactions, keep: np.ndarray, *, last: bool) -> np.ndarray:
    """Mask of kept rows that are the first (or last) kept event of their (user, item) pair."""
    rows = np.flatnonzero(keep)
    frame = pd.DataFrame({"u": inter.user[rows], "i": inter.item[rows]})
    out = np.zeros(len(inter), bool)
    out[rows[~frame.duplicated(keep="last" if last else "first").to_numpy()]] = True
    return out


def _k_core(
    inter: Interactions, keep: np.ndarray, k_users: int, k_items: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    keep = keep.copy()
    start_events = int(keep.sum())
    start_users = int((np.bincount(inter.user[keep], minlength=inter.n_users) > 0).sum())
    rounds = 0
    while True:
        rounds += 1
        user_counts = np.bincount(inter.user[keep], minlength=inter.n_users)
        item_counts = np.bincount(inter.item[keep], minlength=inter.n_items)
        drop = keep & ((user_counts[inter.user] < k_users) | (item_counts[inter.item] < k_items))
        if not drop.any():
            break
        keep &= ~drop
    item_counts = np.bincount(inter.item[keep], minlength=inter.n_items)
    keep_items = item_counts >= k_items if k_items else np.ones(inter.n_items, bool)
    users_left = int((np.bincount(inter.user[keep], minlength=inter.n_users) > 0).sum())
    log.info(
        "%s: k-core (users >= %d, items >= %d) removed %d events, %d users and %d items in %d rounds",
        name,
        k_users,
        k_items,
        start_events - int(keep.sum()),
        start_users - users_left,
        int((~keep_items).sum()),
        rounds,
    )
    if not keep.any():
        raise DataError(
            f"k-core (users >= {k_users}, items >= {k_items}) removed every interaction", source=name
        )
    return keep, keep_items


def _most_recent(inter: Interactions, keep: np.ndarray, n: int) -> np.ndarray:
    rows = np.flatnonzero(keep)
    users = inter.user[rows]
    from_end = pd.Series(users[::-1]).groupby(users[::-1]).cumcount().to_numpy()[::-1]  # 0 = most recent
    out = np.zeros(len(inter), bool)
    out[rows[from_end < n]] = True
    return out


def _reindex(dataset: Dataset, keep: np.ndarray, keep_items: np.ndarray) -> Dataset:
    """Drop removed rows, users left without events, and items removed by k-core or left with nothing."""
    inter = dataset.interactions
    if not keep.any():
        raise DataError("preparation removed every interaction", source=dataset.name)
    user_alive = np.bincount(inter.user[keep], minlength=dataset.n_users) > 0
    item_alive = np.bincount(inter.item[keep], minlength=dataset.n_items) > 0
    if dataset.catalog is not None:
        item_alive |= dataset.catalog.frame.drop(columns="item_id").notna().any(axis=1).to_numpy()
    item_alive &= keep_items
    keep &= item_alive[inter.item]
    user_new = np.cumsum(user_alive) - 1
    item_new = np.cumsum(item_alive) - 1
    rows = np.flatnonzero(keep)
    pick = lambda a: None if a is None else a[rows]  # noqa: E731
    new_inter = Interactions(
        user_new[inter.user[rows]],
        item_new[inter.item[rows]],
        inter.timestamp[rows],
        int(user_alive.sum()),
        int(item_alive.sum()),
        pick(inter.value),
        pick(inter.event),
    )
    removed_users, removed_items = int((~user_alive).sum()), int((~item_alive).sum())
    if removed_users or removed_items:
        log.info(
            "%s: re-indexed after removing %d users and %d items", dataset.name, removed_users, removed_items
        )
    catalog = None
    if dataset.catalog is not None:
        catalog = dataclasses.replace(
            dataset.catalog, frame=dataset.catalog.frame.iloc[item_alive].reset_index(drop=True)
        )
    attrs = dataset.user_attributes
    if attrs is not None and len(attrs) == dataset.n_users:
        attrs = attrs.iloc[user_alive].reset_index(drop=True)
    return Dataset(
        dataset.name,
        new_inter,
        IdMap(dataset.users.raw[user_alive], kind="user"),
        IdMap(dataset.items.raw[item_alive], kind="item"),
        catalog,
        attrs,
    )
