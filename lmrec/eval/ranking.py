"""Batched full ranking of a holdout: every evaluated user against the whole catalogue, a batch at a time.

Protocol (DESIGN.md, evaluation): the model sees only `holdout.inputs`; each user's input items are masked
(-inf) unless `exclude_seen=False`; a target that sits in the masked input can never be recommended, so it
is dropped and counted (`dropped_targets`), and a user left without targets is dropped too
(`dropped_users`). Duplicate targets of one user count once. Scores for all users are never held at once:
only a [batch, n_items] block.

Ranks: `target_ranks` holds, per target, the number of unmasked candidates scored strictly higher plus half
of the other unmasked candidates tied with it (the expected 0-based rank under random tie-breaking). It
feeds AUC only; the top-k lists (and so every @k metric) come from the ranking pipeline (lmrec.ranking: mask,
top-k, then any re-ranking stages, exactly as the service runs them), whose order among exact ties is
unspecified. A model that only returns lists (a `TopKRanker`) is ranked through its own `recommend`; its target
ranks, and so AUC, are NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import PAD, Histories, Sequences
from lmrec.errors import DataError, LmrecError
from lmrec.models.capabilities import Scorer, supports
from lmrec.ranking import Candidates, Exclusions, RankingPipeline, Stage

log = logging.getLogger(__name__)

SCORE_BUDGET_BYTES = 256 * 2**20
MAX_AUTO_BATCH = 1024
_COMPARE_MAX_TARGETS = 64  # above this many targets per user in a chunk, ranks come from one sort per row
_CHUNK_ELEMENTS = 8_000_000  # score entries per rank-counting chunk, so comparison temporaries stay small


@dataclass(frozen=True, eq=False)
class Ranking:
    """Top-k lists, hits and target ranks of the evaluated users (row u of every array is user `users[u]`)."""

    users: np.ndarray  # [U] user indices
    rows: np.ndarray  # [U] row positions in the holdout
    topk_items: np.ndarray  # [U, K] int64 item indices, best first; PAD when fewer than K candidates
    topk_scores: np.ndarray  # [U, K] float32; -inf where PAD
    hits: np.ndarray  # [U, K] bool: topk_items[u, j] is a target of user u
    targets: Sequences  # [U] ragged: the targets evaluated (reachable, deduplicated)
    target_ranks: np.ndarray  # [sum n_targets] float64, aligned with targets.items
    n_candidates: np.ndarray  # [U] items that could be recommended (n_items minus masked input items)
    dropped_targets: int
    dropped_users: int
    exclude_seen: bool

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_targets(self) -> np.ndarray:
        return self.targets.lengths

    @property
    def k(self) -> int:
        return self.topk_items.shape[1]


def default_batch_size(n_items: int) -> int:
    """Users per batch so one [B, n_items] float32 score block stays under ~256 MB."""
    return int(max(1, min(MAX_AUTO_BATCH, SCORE_BUDGET_BYTES // (4 * max(n_items, 1)))))


def rank_holdout(model: Any, holdout: Holdout, *, n_items: int, k: int, exclude_seen: bool = True,
                 batch_size: int | None = None, progress: Callable[[int, int], None] | None = None,
                 stages: tuple[Stage, ...] = (), exclusions: Exclusions | None = None) -> Ranking:
    """Rank every holdout user with `model` over all `n_items` items (then the re-ranking `stages`) and keep the
    top `k` per user. `exclusions` (a content filter's) are removed for everyone, as the service removes them; a
    target they remove counts as missed."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pipeline = RankingPipeline.for_model(model, stages)
    scorer = supports(model, Scorer)
    batch_size = batch_size or default_batch_size(n_items)
    rows, targets, dropped, n_masked = _reachable_targets(holdout, n_items, exclude_seen)
    n_users = len(rows)
    topk_items = np.full((n_users, k), PAD, dtype=np.int64)
    topk_scores = np.full((n_users, k), -np.inf, dtype=np.float32)
    hits = np.zeros((n_users, k), dtype=bool)
    ranks = np.zeros(len(targets.items), dtype=np.float64)
    width = min(k, n_items)
    buffer = torch.empty((min(batch_size, max(n_users, 1)) if scorer else 0, n_items), dtype=torch.float32)
    for start in range(0, n_users, batch_size):
        stop = min(start + batch_size, n_users)
        histories = holdout.histories(rows[start:stop])
        lo, hi = targets.indptr[start], targets.indptr[stop]
        owner = np.repeat(np.arange(stop - start), targets.lengths[start:stop])
        if scorer:
            with torch.inference_mode():
                scores = _score(model, histories, n_items, buffer[: stop - start])
                found = pipeline.select(scores, histories, width, exclude_seen=exclude_seen,
                                        exclusions=exclusions)  # masks `scores`
            ranks[lo:hi] = _target_ranks(scores.numpy(), owner, targets.items[lo:hi], n_masked[start:stop])
        else:
            found = Candidates.from_topk(pipeline.rank(histories, width, exclude_seen=exclude_seen,
                                                       exclusions=exclusions))
            ranks[lo:hi] = np.nan
        items, values = found.items[:, :width], found.scores[:, :width]
        topk_items[start:stop, : items.shape[1]], topk_scores[start:stop, : items.shape[1]] = items, values
        hits[start:stop, : items.shape[1]] = _hits(items, owner, targets.items[lo:hi], n_items)
        if progress is not None:
            progress(stop, n_users)
    return Ranking(np.asarray(holdout.users)[rows], rows, topk_items, topk_scores, hits, targets, ranks,
                   n_items - n_masked, dropped, len(holdout) - n_users, exclude_seen)


def rank_lists(lists: np.ndarray, holdout: Holdout, *, n_items: int, k: int, exclude_seen: bool = True) -> Ranking:
    """A Ranking from ready-made top lists `[len(holdout), >= k]` aligned with the holdout's rows (dense item
    indices, PAD where short), e.g. a peer library's output: the same target handling, masking and hits as
    `rank_holdout`; target ranks (AUC) are NaN. Items of a row's own input are removed when `exclude_seen`."""
    from lmrec.ranking import Candidates, Exclusions
    from lmrec.ranking.pipeline import drop_excluded

    if lists.ndim != 2 or len(lists) != len(holdout):
        raise DataError(f"lists must be [{len(holdout)}, k] (one row per holdout user); got {lists.shape}")
    rows, targets, dropped, n_masked = _reachable_targets(holdout, n_items, exclude_seen)
    found = Candidates(lists[rows].astype(np.int64), np.where(lists[rows] >= 0, 0.0, -np.inf).astype(np.float32))
    width = min(k, n_items)
    found = drop_excluded(found, Exclusions(), width, holdout.inputs.histories(rows) if exclude_seen else None)
    topk_items = np.full((len(rows), k), PAD, dtype=np.int64)
    topk_items[:, : found.items.shape[1]] = found.items
    scores = np.where(topk_items >= 0, -np.arange(k, dtype=np.float32)[None, :], -np.inf).astype(np.float32)
    owner = np.repeat(np.arange(len(rows)), targets.lengths)
    hits = _hits(topk_items, owner, targets.items, n_items)
    return Ranking(np.asarray(holdout.users)[rows], rows, topk_items, scores, hits, targets,
                   np.full(len(targets.items), np.nan), n_items - n_masked, dropped, len(holdout) - len(rows),
                   exclude_seen)


def _reachable_targets(holdout: Holdout, n_items: int,
                       exclude_seen: bool) -> tuple[np.ndarray, Sequences, int, np.ndarray]:
    """(kept rows, their targets, dropped target count, masked items per kept row)."""
    inputs, targets = holdout.inputs, holdout.targets
    n_rows = len(holdout)
    if len(inputs) != n_rows or len(targets) != n_rows:
        raise DataError(f"holdout has {n_rows} users but {len(inputs)} input rows and {len(targets)} target "
                        "rows")
    for name, seqs in (("input", inputs), ("target", targets)):
        if len(seqs.items) and (seqs.items.min() < 0 or seqs.items.max() >= n_items):
            raise DataError(f"holdout {name} items must be in [0, {n_items}); found "
                            f"{int(seqs.items.min())}..{int(seqs.items.max())}")
    t_owner = np.repeat(np.arange(n_rows), targets.lengths)
    t_keys = t_owner * np.int64(n_items) + targets.items
    first = np.zeros(len(t_keys), dtype=bool)
    first[np.unique(t_keys, return_index=True)[1]] = True
    seen_keys = np.unique(np.repeat(np.arange(n_rows), inputs.lengths) * np.int64(n_items) + inputs.items)
    seen = np.isin(t_keys, seen_keys) if exclude_seen else np.zeros(len(t_keys), dtype=bool)
    keep = first & ~seen
    dropped = int((first & seen).sum())
    n_kept = np.bincount(t_owner[keep], minlength=n_rows)
    rows = np.flatnonzero(n_kept > 0)
    if dropped:
        emptied = int((n_kept == 0).sum() - (targets.lengths == 0).sum())
        log.warning("%d target(s) sit in their user's masked input history and cannot be recommended: "
                    "dropped (%d user(s) left without targets)", dropped, emptied)
    n_masked = np.bincount(seen_keys // n_items, minlength=n_rows)[rows] if exclude_seen else 0 * rows
    indptr = np.concatenate([[0], np.cumsum(n_kept[rows])]).astype(np.int64)
    times = None if targets.times is None or len(targets.times) != len(keep) else targets.times[keep]
    kept = Sequences(indptr, targets.items[keep].astype(np.int64), times)
    return rows, kept, dropped, n_masked.astype(np.int64)


def _score(model: Any, histories: Histories, n_items: int, out: torch.Tensor) -> torch.Tensor:
    """The model's [B, n_items] scores copied into `out` (CPU float32, ours to mask).

    The model's tensor is never written to; one reused buffer spares the allocator a fresh block per batch.
    """
    scores = model.score(histories)
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (len(histories), n_items):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise LmrecError(f"{type(model).__name__}.score returned {shape}; expected a tensor "
                         f"[{len(histories)}, {n_items}]")
    out.copy_(scores.detach())
    if len(out) and torch.isnan(out.max()):  # max propagates NaN: one cheap reduction instead of a mask
        raise LmrecError(f"{type(model).__name__}.score returned NaN scores; cannot rank")
    return out


def _hits(items: np.ndarray, owner: np.ndarray, target_items: np.ndarray, n_items: int) -> np.ndarray:
    """[B, width] bool: which recommended items are targets of their row's user."""
    row_keys = np.arange(len(items))[:, None] * np.int64(n_items) + items
    return np.isin(row_keys, owner * np.int64(n_items) + target_items) & (items != PAD)


def _target_ranks(scores: np.ndarray, owner: np.ndarray, target_items: np.ndarray,
                  n_masked: np.ndarray) -> np.ndarray:
    """Per target: #unmasked candidates scored strictly higher + half the other unmasked ties.

    Rows go in chunks small enough that comparison temporaries stay a few MB; a chunk whose users have few
    targets compares each target against its row (two passes per target), one with many sorts its rows once.
    """
    values = scores[owner, target_items]  # [T]
    greater = np.zeros(len(owner), dtype=np.int64)
    equal = np.zeros(len(owner), dtype=np.int64)
    counts = np.bincount(owner, minlength=len(scores))
    first = np.cumsum(counts) - counts
    slot = np.arange(len(owner)) - np.repeat(first, counts)  # j: the j-th target of its user
    chunk = max(1, _CHUNK_ELEMENTS // max(scores.shape[1], 1))
    for start in range(0, len(scores), chunk):
        stop = min(start + chunk, len(scores))
        block = scores[start:stop]
        lo, hi = first[start], first[stop - 1] + counts[stop - 1]
        if hi == lo:
            continue
        if counts[start:stop].max() <= _COMPARE_MAX_TARGETS:
            for j in range(int(counts[start:stop].max())):
                pick = lo + np.flatnonzero(slot[lo:hi] == j)
                rows = owner[pick] - start
                sub = block if len(rows) == len(block) else block[rows]
                v = values[pick][:, None]
                greater[pick] = np.count_nonzero(sub > v, axis=1)
                equal[pick] = np.count_nonzero(sub == v, axis=1) - 1
        else:
            ordered = torch.from_numpy(np.sort(block, axis=1))  # ascending
            padded = np.full((stop - start, int(counts[start:stop].max())), np.inf, dtype=np.float32)
            padded[owner[lo:hi] - start, slot[lo:hi]] = values[lo:hi]
            below = torch.searchsorted(ordered, torch.from_numpy(padded), right=False).numpy()
            at_most = torch.searchsorted(ordered, torch.from_numpy(padded), right=True).numpy()
            at = (owner[lo:hi] - start, slot[lo:hi])
            greater[lo:hi] = scores.shape[1] - at_most[at]
            equal[lo:hi] = at_most[at] - below[at] - 1
    equal -= np.where(np.isneginf(values), n_masked[owner], 0)  # masked items sit at -inf too
    return greater + 0.5 * equal
