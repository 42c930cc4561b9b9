"""Prequential (test-then-train) evaluation on a global temporal split.

The period from `cut` on is replayed in time order, in chunks (days or a number of events). For each chunk,
every event is first predicted from its user's history so far (all earlier events, the same chunk's included;
history items masked): is the item in the top k? Then the model learns from the chunk (an `Updater`), or not
(static). Both see the same queries; only the weights differ. A `probe` holdout of old users' held-out items
is scored after every update to measure forgetting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmrec.data.split import Holdout, Split, global_time_split
from lmrec.data.types import PAD, Catalog, Histories, Interactions, Sequences
from lmrec.errors import ConfigError
from lmrec.metrics import hit_matrix, hit_rate
from lmrec.metrics import ndcg as ndcg_at
from lmrec.online.updater import Updater, concat
from lmrec.ranking import RankingPipeline

DAY = 86_400


@dataclass(frozen=True)
class PrequentialConfig:
    """Chunks of `chunk_days` days from the cut (or of `chunk_events` events when set); metrics @k; the
    "later" part of the timeline starts at chunk `later_from * n_chunks`. `impressions`: each scored event's
    top k is taken as shown to the user (the replay's stand-in for a logged slate), and the items in it that
    the user does not choose within the chunk go to the updater as impressions (negatives)."""

    chunk_days: float = 7.0
    chunk_events: int | None = None
    k: int = 10
    exclude_seen: bool = True
    later_from: float = 0.5
    batch_size: int = 512
    impressions: bool = False  # the updater learns from what the model showed: its top k, less the chosen item

    def __post_init__(self) -> None:
        if self.chunk_days <= 0 or (self.chunk_events is not None and self.chunk_events < 1) or self.k < 1:
            raise ConfigError(f"PrequentialConfig needs positive chunk_days/chunk_events and k; got {self}")
        if not 0.0 <= self.later_from < 1.0:
            raise ConfigError(f"PrequentialConfig.later_from must be in [0, 1); got {self.later_from}")


@dataclass(frozen=True, eq=False)
class PrequentialResult:
    """Per scored event (row of the stream, its chunk, hit@k, ndcg@k), per chunk summaries, probe curve."""

    name: str
    rows: np.ndarray
    chunk: np.ndarray
    hit: np.ndarray
    ndcg: np.ndarray
    chunks: list[dict]
    probe: list[dict] = field(default_factory=list)  # [before any update, after chunk 0, ...]
    k: int = 10
    probe_ndcg: list[np.ndarray] = field(default_factory=list)  # per probe user, aligned with `probe`

    def later(self, later_from: float) -> np.ndarray:
        """[E] True for events in the later part of the timeline."""
        return self.chunk >= int(np.floor(later_from * len(self.chunks)))

    def to_json(self) -> dict:
        return {"name": self.name, "k": self.k, "events": len(self.rows), f"hr@{self.k}": _mean(self.hit),
                f"ndcg@{self.k}": _mean(self.ndcg), "chunks": self.chunks, "probe": self.probe}


def stream_chunks(inter: Interactions, cut: int, config: PrequentialConfig) -> list[np.ndarray]:
    """Rows at or after `cut`, in time order (ties: row order), grouped into non-empty chunks."""
    rows = np.flatnonzero(inter.timestamp >= cut)
    rows = rows[np.argsort(inter.timestamp[rows], kind="stable")]
    if config.chunk_events is not None:
        ids = np.arange(len(rows)) // config.chunk_events
    else:
        ids = ((inter.timestamp[rows] - cut) // int(config.chunk_days * DAY)).astype(np.int64)
    bounds = np.flatnonzero(np.diff(ids)) + 1
    return [part for part in np.split(rows, bounds) if len(part)]


def prequential(model: Any, inter: Interactions, cut: int, *, train: Interactions | None = None,
                updater: Updater | None = None, probe: Holdout | None = None, catalog: Catalog | None = None,
                config: PrequentialConfig = PrequentialConfig(), name: str = "static",
                progress: Callable[[int, int], None] | None = None) -> PrequentialResult:
    """Replay `inter` from `cut` on; `train` (default: every event before the cut) is what the model was fitted
    on and what an updater replays from. Rows of `inter` must be chronological within each user."""
    seqs = inter.sequences()
    position = _positions(inter)
    seen = train if train is not None else inter.select(inter.timestamp < cut)
    chunks = stream_chunks(inter, cut, config)
    parts: list[tuple[np.ndarray, ...]] = []
    summaries, probes = [], ([_probe(model, probe, config)] if probe is not None else [])
    for c, rows in enumerate(chunks):
        rows = rows[position[rows] > 0]  # a user's first event has no history to predict from
        hit, ndcg, top = score_events(model, seqs, inter.user[rows], position[rows], inter.item[rows], config)
        parts.append((rows, np.full(len(rows), c), hit, ndcg))
        summary = {"chunk": c, "start": int(inter.timestamp[chunks[c]].min()),
                   "end": int(inter.timestamp[chunks[c]].max()), "events": len(chunks[c]), "scored": len(rows),
                   f"hr@{config.k}": _mean(hit), f"ndcg@{config.k}": _mean(ndcg)}
        if updater is not None:
            ordered = np.sort(chunks[c])
            new = inter.select(ordered)
            shown = shown_slates(ordered, rows, top, inter.user, inter.item) if config.impressions else None
            started = time.perf_counter()
            result = updater.update(model, new, seen, catalog=catalog, version=f"{name}-{c}", shown=shown)
            model, seen = result.model, concat(seen, new)
            summary["update_seconds"] = time.perf_counter() - started
            summary["update"] = {k: v for k, v in result.info.items() if k != "seconds"}
            if probe is not None:
                probes.append(_probe(model, probe, config))
        summaries.append(summary)
        if progress is not None:
            progress(c + 1, len(chunks))
    rows = chunk = hit = ndcg = np.zeros(0)
    if parts:
        rows, chunk, hit, ndcg = (np.concatenate(column) for column in zip(*parts, strict=True))
    return PrequentialResult(name, rows.astype(np.int64), chunk.astype(np.int64), hit.astype(np.float64),
                             ndcg.astype(np.float64), summaries, [summary for summary, _ in probes], config.k,
                             [per_user for _, per_user in probes])


def shown_slates(ordered: np.ndarray, scored: np.ndarray, top: np.ndarray, users: np.ndarray,
                 items: np.ndarray) -> Sequences:
    """One row per row of `ordered` (a chunk's stream rows): the top k shown before it (`top[j]` for
    `scored[j]`, PAD-padded) less every item its user chooses in the chunk (a replay cannot tell a slate's
    item taken a few events later from one passed over); none for rows that were not scored."""
    chosen: dict[int, set[int]] = {}
    for row in ordered.tolist():
        chosen.setdefault(int(users[row]), set()).add(int(items[row]))
    slate = dict(zip(scored.tolist(), top, strict=True))
    rows = []
    for row in ordered.tolist():
        taken = chosen[int(users[row])]
        rows.append([int(i) for i in slate[row] if i >= 0 and int(i) not in taken] if row in slate else [])
    return Sequences.from_lists(rows)


def score_events(model: Any, seqs: Sequences, users: np.ndarray, positions: np.ndarray, targets: np.ndarray,
                 config: PrequentialConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """hit@k and ndcg@k of each target given its user's first `positions[e]` items as the query, and the top k
    [E, k] it was ranked against."""
    hit, ndcg = np.zeros(len(users)), np.zeros(len(users))
    shown = np.full((len(users), config.k), PAD, np.int64)
    pipeline = RankingPipeline.for_model(model)
    for lo in range(0, len(users), config.batch_size):
        part = slice(lo, lo + config.batch_size)
        top = pipeline.rank(prefix_histories(seqs, users[part], positions[part]), config.k,
                            exclude_seen=config.exclude_seen).items  # [b, k]
        one = np.ones(len(top), dtype=np.int64)
        found = hit_matrix(top, np.arange(len(top) + 1), targets[part], config.k)
        hit[part], ndcg[part] = hit_rate(found, one, config.k), ndcg_at(found, one, config.k)
        shown[part, : top.shape[1]] = top
    return hit, ndcg, shown


def prefix_histories(seqs: Sequences, users: np.ndarray, lengths: np.ndarray) -> Histories:
    """Each user's first `lengths[b]` items as one left-aligned `Histories` batch."""
    starts = seqs.indptr[users]
    lengths = np.asarray(lengths, dtype=np.int64)
    width = max(int(lengths.max(initial=0)), 1)
    offsets = np.arange(width)[None, :]
    valid = offsets < lengths[:, None]
    gather = np.where(valid, starts[:, None] + offsets, 0)
    seq = np.where(valid, seqs.items[gather] if len(seqs.items) else PAD, PAD).astype(np.int64)
    return Histories(seq, lengths)


@dataclass(frozen=True, eq=False)
class TimeCutStream:
    """The prequential protocol the benchmarks share: a global time cut at a timestamp quantile; `train` (the
    pre-cut events less `probe`, each old user's held-out last pre-cut item) is what models are fitted on."""

    cut: int
    split: Split  # global_time
    train: Interactions
    probe: Holdout

    @classmethod
    def at_quantile(cls, inter: Interactions, quantile: float) -> TimeCutStream:
        cut = int(np.quantile(inter.timestamp, quantile))
        split = global_time_split(inter, cut)
        train, probe = holdout_last(split.train)
        return cls(cut, split, train, probe)


def holdout_last(inter: Interactions, *, min_events: int = 3) -> tuple[Interactions, Holdout]:
    """Hold out each user's last event (users with >= min_events): (the rest, Holdout(history, last item)).

    The forgetting probe: old users' next items that no model ever trains on."""
    seqs = inter.sequences()
    position = _positions(inter)
    users = np.flatnonzero(seqs.lengths >= min_events)
    last = position == seqs.lengths[inter.user] - 1
    held = last & np.isin(inter.user, users)
    inputs = Sequences.from_lists([seqs.row(u)[:-1] for u in users])
    targets = Sequences.from_lists([seqs.row(u)[-1:] for u in users])
    return inter.select(~held), Holdout(users.astype(np.int64), inputs, targets)


def compare(static: PrequentialResult, online: PrequentialResult, *, later_from: float = 0.5,
            n_boot: int = 1000, seed: int = 0) -> dict:
    """Means with bootstrap CIs and a paired test (online - static, per event) on all and on later events."""
    from lmrec.eval.stats import bootstrap_ci, paired_test

    if not np.array_equal(static.rows, online.rows):
        raise ConfigError("static and online runs scored different events; replay the same stream")
    out: dict[str, Any] = {}
    for part, mask in (("all", np.ones(len(static.rows), bool)), ("later", static.later(later_from))):
        entry: dict[str, Any] = {"events": int(mask.sum())}
        for metric, a, b in ((f"hr@{static.k}", static.hit[mask], online.hit[mask]),
                             (f"ndcg@{static.k}", static.ndcg[mask], online.ndcg[mask])):
            entry[metric] = {
                static.name: _mean(a), f"{static.name}_ci": bootstrap_ci(a, n_boot, seed=seed),
                online.name: _mean(b), f"{online.name}_ci": bootstrap_ci(b, n_boot, seed=seed),
                "paired": paired_test(b, a, method="t", n_boot=n_boot, seed=seed)}
        out[part] = entry
    return out


def _probe(model: Any, probe: Holdout, config: PrequentialConfig) -> tuple[dict, np.ndarray]:
    """(mean HR@k / NDCG@k over the probe users, per-user NDCG@k)."""
    from lmrec.eval.evaluate import EvalOptions, evaluate

    k = config.k
    result = evaluate(model, probe, n_items=model.n_items_,
                      options=EvalOptions(ks=(k,), exclude_seen=config.exclude_seen, n_bootstrap=0))
    summary = {f"hr@{k}": result.metrics[f"hr@{k}"], f"ndcg@{k}": result.metrics[f"ndcg@{k}"], "users": result.n_users}
    return summary, result.per_user[f"ndcg@{k}"]


def _positions(inter: Interactions) -> np.ndarray:
    """[n] each row's index within its user's chronological sequence (the order `sequences()` uses)."""
    order = np.argsort(inter.user, kind="stable")
    counts = np.bincount(inter.user, minlength=inter.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    position = np.empty(len(inter), dtype=np.int64)
    position[order] = np.arange(len(inter)) - starts[inter.user[order]]
    return position


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def prequential_run(run: Any, *, config: PrequentialConfig = PrequentialConfig(),
                    update: Any = None) -> dict:
    """`lmrec prequential RUN_DIR`: static (the run's model) vs online (Updater) on the run's test
    period; the validation holdout (between the training data and the cut) is the forgetting probe. Needs a
    global_time split and the run's data (read again, checked against the recorded digest)."""
    from lmrec.data.config import load_data
    from lmrec.errors import DataError

    info = run.split.info
    if info.get("method") != "global_time":
        raise ConfigError("--prequential needs a run with a global time split (--set split.method=global_time)")
    dataset = load_data(run.config.data, run.config.prepare)
    if dataset.digest() != run.meta["dataset"]["digest"]:
        raise DataError("the run's data changed since `lmrec fit` (digest differs); refit before --prequential")
    inter, cut = dataset.interactions, int(info["cut"])
    common = {"train": run.split.train, "probe": run.split.valid, "catalog": dataset.catalog, "config": config}
    static = prequential(run.model, inter, cut, name="static", **common)
    online = prequential(run.model, inter, cut, updater=Updater(update), name="online", **common)
    return {"cut": cut, "split_fingerprint": run.meta["split"]["fingerprint"], "chunk_days": config.chunk_days,
            "chunk_events": config.chunk_events, "static": static.to_json(), "online": online.to_json(),
            "compare": compare(static, online, later_from=config.later_from, seed=run.config.seed)}
