"""From interactions to next-item training batches, and from query histories to the net's input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lmrec.data.types import PAD, Histories, Interactions, Sequences
from lmrec.train.batches import SequenceBatch


def training_windows(train: Interactions, max_len: int) -> list[np.ndarray]:
    """Each user's chronological sequence cut into windows of max_len+1 items from the end backwards; a window
    trains every position to predict the next item, so long histories are used whole."""
    return user_windows(train, max_len).items


@dataclass(frozen=True)
class Windows:
    """`training_windows` with, per window, its user, its items' timestamps and their values (ratings; None when
    the interactions have none); `shown`, when impressions were given, per window and target position the items
    shown before that target and not chosen."""

    items: list[np.ndarray]
    users: np.ndarray
    times: list[np.ndarray]
    values: list[np.ndarray] | None
    shown: list[list[np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.items)


def user_windows(train: Interactions, max_len: int, shown: Sequences | None = None) -> Windows:
    """Cut every user's sequence as `training_windows` does, keeping users, timestamps and values; `shown` (one
    row per row of `train`: the items shown before that event and not chosen) is cut along."""
    seqs = train.sequences()
    order = np.argsort(train.user, kind="stable")  # sequences() order: the values follow the same rows
    values = None if train.value is None else train.value[order]
    if shown is not None and len(shown) != len(train):
        raise ValueError(f"user_windows: {len(shown)} impression rows for {len(train)} interactions")
    items, users, times, picked = [], [], [], []
    for u in range(len(seqs)):
        lo = seqs.indptr[u]
        end = int(seqs.lengths[u])
        while end >= 2:
            start = max(0, end - max_len - 1)
            items.append(seqs.items[lo + start : lo + end])
            times.append(seqs.times[lo + start : lo + end])
            picked.append(slice(lo + start, lo + end))
            users.append(u)
            end -= max_len
    cut_shown = None
    if shown is not None:  # the impressions of each window's targets (all its items but the first)
        cut_shown = [[shown.row(int(order[row])) for row in range(s.start + 1, s.stop)] for s in picked]
    return Windows(items, np.asarray(users, np.int64), times,
                   None if values is None else [values[s] for s in picked], cut_shown)


def window_batches(windows: list[np.ndarray] | Windows, batch_size: int, max_len: int | None = None, *,
                   users: bool = False, times: bool = False, values: bool = False, shown: bool = False):
    """The Trainer's batch source: windows in a fresh random order each epoch, padded by `pad_windows`; from a
    `Windows`, each batch also carries what is asked for: its windows' users, inputs' timestamps, targets'
    values, targets' impressions."""
    found = windows if isinstance(windows, Windows) else Windows(list(windows), np.zeros(0, np.int64), [], None)
    if (users or times or values or shown) and not isinstance(windows, Windows):
        raise ValueError("window_batches: users, times, values and impressions need a Windows")
    if values and found.values is None:
        raise ValueError("window_batches: these interactions have no values")
    if shown and found.shown is None:
        raise ValueError("window_batches: these windows have no impressions")

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(found.items))
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            inputs, targets = pad_windows([found.items[i] for i in picked], max_len)
            width = inputs.shape[1]
            yield SequenceBatch(
                inputs, targets,
                torch.from_numpy(found.users[picked]) if users else None,
                pad_times([found.times[i] for i in picked], width) if times else None,
                pad_values([found.values[i] for i in picked], width) if values else None,  # type: ignore[index]
                pad_shown([found.shown[i] for i in picked], width) if shown else None)  # type: ignore[index]

    return batches


def pad_times(chunk: list[np.ndarray], width: int) -> Tensor:
    """[B, width] timestamps of each window's input positions (all but its last item), right-aligned like
    `pad_windows`'s inputs, 0 on the padding."""
    out = np.zeros((len(chunk), width), dtype=np.int64)
    for row, stamps in enumerate(chunk):
        n = len(stamps) - 1
        out[row, width - n :] = stamps[:-1]
    return torch.from_numpy(out)


def pad_values(chunk: list[np.ndarray], width: int) -> Tensor:
    """[B, width] float32 values of each window's targets (all but its first item), aligned like `pad_windows`'s
    targets, NaN on the padding."""
    out = np.full((len(chunk), width), np.nan, dtype=np.float32)
    for row, vals in enumerate(chunk):
        n = len(vals) - 1
        out[row, width - n :] = vals[1:]
    return torch.from_numpy(out)


def pad_shown(chunk: list[list[np.ndarray]], width: int) -> Tensor:
    """[B, width, M] the impressions of each window's targets, aligned like `pad_windows`'s targets, PAD where
    there is none (M = the longest list in the batch, at least 1)."""
    most = max((len(items) for window in chunk for items in window), default=0)
    out = np.full((len(chunk), width, max(most, 1)), PAD, dtype=np.int64)
    for row, window in enumerate(chunk):
        offset = width - len(window)
        for column, items in enumerate(window):
            out[row, offset + column, : len(items)] = items
    return torch.from_numpy(out)


def pad_windows(chunk: list[np.ndarray], max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-aligned (inputs, next-item targets) [B, L], PAD on the left. With `max_len`, L is the longest window
    rounded up to a multiple of 8 (at most max_len): a handful of shapes for oneDNN to cache instead of one per
    batch, without padding short-sequence data all the way to max_len."""
    longest = max(len(w) for w in chunk) - 1
    width = longest if max_len is None else max(longest, min(max_len, -(-longest // 8) * 8))
    inputs = np.full((len(chunk), width), PAD, dtype=np.int64)
    targets = np.full((len(chunk), width), PAD, dtype=np.int64)
    for row, window in enumerate(chunk):
        n = len(window) - 1
        inputs[row, width - n :] = window[:-1]
        targets[row, width - n :] = window[1:]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def right_align(histories: Histories, max_len: int, *, times: bool = False) -> np.ndarray:
    """Left-aligned Histories -> [B, L] right-aligned last `max_len` items, PAD on the left (L >= 1); with
    `times`, their timestamps instead (0 on the padding and when the histories carry none)."""
    width = int(min(max(int(histories.lengths.max(initial=0)), 1), max_len))
    offsets = histories.lengths[:, None] - width + np.arange(width)[None, :]  # [B, L] source column
    valid = offsets >= 0
    rows = np.arange(len(histories))[:, None]
    columns = np.clip(offsets, 0, max(histories.seq.shape[1] - 1, 0))
    if times:
        if histories.times is None:
            return np.zeros((len(histories), width), np.int64)
        return np.where(valid, histories.times[rows, columns], 0).astype(np.int64)
    return np.where(valid, histories.seq[rows, columns], PAD).astype(np.int64)


def valid_positions(hidden: Tensor, targets: Tensor, multiple: int = 64) -> tuple[Tensor, Tensor]:
    """The non-PAD positions of [B, L, D] as rows [M', D] with targets [M'], M' = M rounded up to `multiple`
    (extra rows carry PAD targets). Only real positions pay for the [M', N] softmax, and GEMM shapes stay few:
    a new shape per batch made oneDNN's primitive cache grow batch after batch under bf16."""
    flat_targets = targets.reshape(-1)
    rows = (flat_targets >= 0).nonzero().squeeze(1)  # [M]
    padded = -(-max(len(rows), 1) // multiple) * multiple
    rows = torch.cat([rows, rows.new_zeros(padded - len(rows))])
    y = flat_targets[rows].clone()
    y[len(y) - (padded - int((flat_targets >= 0).sum())) :] = PAD
    return hidden.reshape(-1, hidden.shape[-1])[rows], y
