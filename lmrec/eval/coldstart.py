"""The cold-start item protocol: how well does a model recommend items that did not exist when it was trained?

A global temporal split decides what the model may know. Known items are those with an interaction in the training
events; every other item is new (its first interaction falls after the training cut). The model is fitted on the
training events over the known items only, with a catalogue holding only their text, so nothing about a new item
reaches `fit`. New items are then brought in the way the live service does (`model.add_items` with vectors from the
model's own encoder); a model that cannot place an unseen item (ID-only) scores them -inf. The test holdout is
ranked over all items and reported on all targets, new-item targets and known-item targets separately.

    data = cold_start_data(dataset, SplitConfig(method="global_time", test_quantile=0.9, valid_quantile=0.8))
    report = run_cold_start(data, {"sasrec": SASRec(), "sasrec-text": SASRecText()})
    write_cold_start(report, "out/")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from lmrec.data.split import Holdout, Split, SplitConfig, make_split
from lmrec.data.types import Catalog, Dataset, Histories, Interactions, Sequences
from lmrec.errors import ConfigError, DataError
from lmrec.eval.evaluate import EvalOptions, EvalResult, evaluate
from lmrec.models.capabilities import GrowableCatalogue, Scorer, supports
from lmrec.models.growth import place_new_items
from lmrec.provenance import environment
from lmrec.train.progress import Reporter, epoch_progress

log = logging.getLogger(__name__)
SUBSETS = ("all", "new", "known")


@dataclass(frozen=True, eq=False)
class ColdStartData:
    """A global temporal split relabelled so known items are 0..K-1 and new items K..N-1.

    `train` and `valid` live in the known space (n_items=K; validation targets that are new items are dropped, it
    only steers early stopping); `test` in the full space (n_items=N). `order[j]` is the dataset index of item j.
    """

    dataset: Dataset
    config: SplitConfig
    split: Split  # the original split, in the dataset's item space
    train: Interactions
    valid: Holdout | None
    test: Holdout
    order: np.ndarray  # [N] relabelled index -> dataset index
    n_known: int
    known_catalog: Catalog | None
    new_catalog: Catalog | None

    @property
    def n_items(self) -> int:
        return len(self.order)

    @property
    def items_raw(self) -> np.ndarray:
        """Raw item IDs by relabelled index."""
        return self.dataset.items.raw[self.order]

    def is_new(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(items) >= self.n_known

    def counts(self) -> dict[str, int]:
        targets = self.test.targets.items
        new = self.is_new(targets)
        return {"items": self.n_items, "known_items": self.n_known, "new_items": self.n_items - self.n_known,
                "new_items_among_test_targets": int(len(np.unique(targets[new]))),
                "test_users": len(self.test), "test_targets": int(len(targets)), "test_targets_new": int(new.sum()),
                "test_targets_known": int((~new).sum()), "train_interactions": len(self.train),
                "valid_users": len(self.valid) if self.valid is not None else 0}


def cold_start_data(dataset: Dataset, config: SplitConfig | None = None) -> ColdStartData:
    """Split by global time (default quantiles 0.8 / 0.9), find the known items and relabel; DataError when the
    test period has no new item."""
    config = config or SplitConfig(method="global_time")
    if config.method != "global_time":
        raise ConfigError(f"the cold-start protocol needs split.method=global_time, got {config.method!r}")
    split = make_split(dataset, config)
    n = dataset.n_items
    known = np.zeros(n, dtype=bool)
    known[split.train.item] = True
    order = np.concatenate([np.flatnonzero(known), np.flatnonzero(~known)]).astype(np.int64)
    relabel = np.empty(n, dtype=np.int64)
    relabel[order] = np.arange(n)
    n_known = int(known.sum())
    train = replace(split.train, item=relabel[split.train.item], n_items=n_known)
    valid = None
    if split.valid is not None:
        valid = keep_targets(_relabel(split.valid, relabel), lambda items: items < n_known)
        valid = valid if len(valid) else None
    test = _relabel(split.test, relabel)
    if not (test.targets.items >= n_known).any():
        raise DataError(f"no test target is a new item: every item interacted with after the cut "
                        f"{split.info.get('cut')} was already seen in training; move the cut "
                        "(--test-quantile / --valid-quantile) or use data where new items appear")
    catalog = dataset.catalog
    known_catalog = _take(catalog, order[:n_known]) if catalog is not None else None
    new_catalog = _take(catalog, order[n_known:]) if catalog is not None else None
    return ColdStartData(dataset, config, split, train, valid, test, order, n_known, known_catalog, new_catalog)


def keep_targets(holdout: Holdout, keep: Callable[[np.ndarray], np.ndarray]) -> Holdout:
    """The holdout with only the targets `keep(items)` marks; users left without targets are dropped."""
    targets = holdout.targets
    mask = np.asarray(keep(targets.items), dtype=bool)
    owner = np.repeat(np.arange(len(holdout)), targets.lengths)
    n_kept = np.bincount(owner[mask], minlength=len(holdout))
    rows = np.flatnonzero(n_kept > 0)
    indptr = np.concatenate([[0], np.cumsum(n_kept[rows])]).astype(np.int64)
    times = targets.times[mask] if targets.times is not None and len(targets.times) == len(mask) else None
    return Holdout(np.asarray(holdout.users)[rows], holdout.inputs.take(rows), Sequences(indptr, targets.items[mask],
                                                                                         times))


def _relabel(holdout: Holdout, relabel: np.ndarray) -> Holdout:
    def seqs(s: Sequences) -> Sequences:
        return Sequences(s.indptr, relabel[s.items], s.times)

    return Holdout(holdout.users, seqs(holdout.inputs), seqs(holdout.targets))


def _take(catalog: Catalog, rows: np.ndarray) -> Catalog:
    return replace(catalog, frame=catalog.frame.iloc[rows].reset_index(drop=True))


# -- bringing new items in -------------------------------------------------------------------------------------------
def needs_text(model: Any) -> bool:
    """Whether fitting the model reads item text: the models that place new items by their text."""
    return supports(model, GrowableCatalogue)


class KnownItemsOnly:
    """An ID-only model over the full catalogue: known items get its scores, new items -inf (it cannot score them).

    New items in a history (bought in the validation period) are dropped from the model's query; the evaluator still
    masks them. A -inf item never counts as a hit: `rank_holdout` turns -inf top-k entries into PAD.
    """

    def __init__(self, model: Scorer, n_known: int, n_items: int) -> None:
        self.model, self.n_known, self.n_items = model, n_known, n_items

    def score(self, histories: Histories) -> torch.Tensor:
        mask = histories.mask
        if (histories.seq[mask] >= self.n_known).any():
            rows = [row[:length][row[:length] < self.n_known] for row, length in zip(histories.seq, histories.lengths,
                                                                                      strict=True)]
            histories = Histories.from_lists(rows)
        known = self.model.score(histories)  # [B, K]
        pad = torch.full((known.shape[0], self.n_items - self.n_known), float("-inf"), dtype=known.dtype)
        return torch.cat([known, pad], dim=1)  # [B, N]


def place_items(model: Any, data: ColdStartData) -> tuple[Scorer, bool]:
    """(a scorer over all N items, whether new items are truly scored)."""
    if data.n_items == data.n_known:
        return model, True
    if supports(model, GrowableCatalogue):
        if data.new_catalog is None:
            raise DataError("new items have no catalogue text to place them by (pass --items FILE)")
        config = model.config.encoder
        indices = place_new_items(model, data.new_catalog.texts(config.template), catalog=data.known_catalog)
        if len(indices) and (indices[0] != data.n_known or indices[-1] != data.n_items - 1):
            raise DataError(f"add_items returned indices {indices[0]}..{indices[-1]}, expected "
                            f"{data.n_known}..{data.n_items - 1}")
        return model, True
    return KnownItemsOnly(model, data.n_known, data.n_items), False


# -- one model, then several -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ModelColdStart:
    """One model's results on all, new-item and known-item test targets."""

    model: str
    scores_new_items: bool
    fit_seconds: float
    eval_seconds: float
    results: dict[str, EvalResult]
    fit_log: dict | None = None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "scores_new_items": self.scores_new_items, "fit_seconds": self.fit_seconds,
                "eval_seconds": self.eval_seconds,
                "subsets": {name: {**r.to_json(), "n_targets": int(r.ranking.n_targets.sum())}
                            for name, r in self.results.items()},
                "fit_log": self.fit_log}


@dataclass(frozen=True, eq=False)
class ColdStartReport:
    counts: dict[str, int]
    config: dict[str, Any]
    models: list[ModelColdStart] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "config": self.config, "models": [m.to_json() for m in self.models]}


def evaluate_cold_start(name: str, model: Any, data: ColdStartData, *, options: EvalOptions | None = None,
                        progress: Reporter | None = None) -> ModelColdStart:
    """Fit `model` (unfitted) on the known part, place the new items, rank the test holdout over all N items."""
    options = options or EvalOptions()
    _check_text(name, model, data)
    started = time.perf_counter()
    model.fit(data.train, valid=data.valid, catalog=data.known_catalog,
              progress=epoch_progress(progress, f"{name}: fit"))
    fit_seconds = time.perf_counter() - started
    if model.n_items_ != data.n_known:
        raise DataError(f"{name} fitted {model.n_items_} items, expected the {data.n_known} known ones")
    started = time.perf_counter()
    scorer, placed = place_items(model, data)
    holdouts = {"all": data.test, "new": keep_targets(data.test, data.is_new),
                "known": keep_targets(data.test, lambda items: ~data.is_new(items))}
    results = {}
    for subset, holdout in holdouts.items():
        report = (lambda d, t, s=subset: progress(f"{name}: rank ({s})", d, t)) if progress is not None else None
        results[subset] = evaluate(scorer, holdout, n_items=data.n_items, options=options, progress=report)
    return ModelColdStart(name, placed, fit_seconds, time.perf_counter() - started, results, model.fit_log_)


def run_cold_start(data: ColdStartData, models: Mapping[str, Any], *, options: EvalOptions | None = None,
                   config: dict[str, Any] | None = None, progress: Reporter | None = None,
                   log_line: Callable[[str], None] | None = None) -> ColdStartReport:
    """Every (name -> unfitted model) through `evaluate_cold_start`; `config` is recorded in the report."""
    options = options or EvalOptions()
    for name, model in models.items():  # fail before minutes of training, not after
        _check_text(name, model, data)
    config = config or {}
    record = {**config, "split": config.get("split") or asdict(data.config), "split_info": data.split.info,
              "split_fingerprint": data.split.fingerprint(), "item_order_digest": _digest(data.order),
              "dataset": {**data.dataset.stats(), "digest": data.dataset.digest()},
              "eval": {**asdict(options), "ks": list(options.ks)}, **environment()}
    report = ColdStartReport(data.counts(), record)
    for name, model in models.items():
        result = evaluate_cold_start(name, model, data, options=options, progress=progress)
        report.models.append(result)
        if log_line is not None:
            new, k = result.results["new"].metrics, min(options.ks)
            log_line(f"{name}: new-item HR@{k} {new[f'hr@{k}']:.4f}, NDCG@{k} {new[f'ndcg@{k}']:.4f}; "
                     f"fit {result.fit_seconds:.1f}s")
    return report


def _check_text(name: str, model: Any, data: ColdStartData) -> None:
    catalog = data.known_catalog
    if needs_text(model) and (catalog is None or not any(text.strip() for text in catalog.texts())):
        raise DataError(f"model {name!r} needs item text, but the catalogue has none (pass --items FILE with text "
                        "columns)")


def _digest(values: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.int64).tobytes()).hexdigest()[:16]


__all__ = ["SUBSETS", "ColdStartData", "ColdStartReport", "KnownItemsOnly", "ModelColdStart", "cold_start_data",
           "evaluate_cold_start", "keep_targets", "needs_text", "place_items", "run_cold_start"]
