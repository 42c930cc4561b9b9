"""Request coalescing: /recommend calls that are waiting at the same moment are scored in one model call.

A single SASRec forward costs about the same for 1 history as for 30 (per-op overhead dominates on a CPU), so under
concurrency one batched call replaces many. The batcher lives on the event loop: a request enqueues its history
and awaits a future; the flush is scheduled with `call_soon`, so it runs once the requests already readable have
been parsed and enqueued. No timer: an idle service answers a lone request with no added wait.

Rows of one batch never interact. Requests are grouped by (snapshot, k, exclude_seen) and, unless the snapshot's
model was found padding-invariant on probe histories (`Snapshot.pads_freely`: masked attention and per-row
models are, a GRU over left padding is not), by input width: the history length, capped at `max_len` for
sequence models (they read only the last `max_len` items), so rows of one batch need no padding. A batched row
thus equals the row scored alone, up to float rounding of the batched matrix products. (The masking of seen
items always uses each full history.)
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np

from lmrec.data.types import Histories
from lmrec.models.sequence import SequentialRecommender

Row = tuple[np.ndarray, np.ndarray]  # (item indices [k], scores [k])


class Batcher:
    def __init__(self, max_batch: int = 64) -> None:
        self.max_batch = max(1, int(max_batch))
        self._pending: dict[tuple, tuple[Any, list[tuple[np.ndarray, asyncio.Future]]]] = {}
        self._scheduled = False
        self._grew = False  # a request joined since the last look
        self._passes = 0
        self.max_passes = 8
        self.calls = 0  # model calls made
        self.requests = 0  # requests answered through them

    def submit(self, snapshot: Any, seq: np.ndarray, k: int, exclude_seen: bool, *, user: int = -1
               ) -> asyncio.Future:
        """A future for this history's top-k (item indices, scores) under `snapshot`; `user` is the dense index
        of the user whose history it is (-1: anonymous), read by models with user attributes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        width = -1 if snapshot.pads_freely else _width(snapshot.model, len(seq))
        key = (id(snapshot), width, int(k), bool(exclude_seen))
        self._pending.setdefault(key, (snapshot, []))[1].append((seq, user, future))
        self._grew = True
        if not self._scheduled:
            self._scheduled, self._passes = True, 0
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        if self._grew and self._passes < self.max_passes:  # the batch is still growing: let the loop go round
            self._grew, self._passes = False, self._passes + 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for (_, _, k, exclude_seen), (snapshot, rows) in pending.items():
            for start in range(0, len(rows), self.max_batch):
                self._score(snapshot, rows[start : start + self.max_batch], k, exclude_seen)

    def _score(self, snapshot: Any, rows: list[tuple[np.ndarray, int, asyncio.Future]], k: int,
               exclude_seen: bool) -> None:
        rows = [row for row in rows if not row[2].cancelled()]
        if not rows:
            return
        try:
            histories = Histories.from_lists([seq for seq, _, _ in rows])
            histories = dataclasses.replace(histories, users=np.asarray([user for _, user, _ in rows], np.int64))
            top = snapshot.pipeline().rank(histories, k, exclude_seen=exclude_seen, exclusions=snapshot.standing)
        except Exception as exc:  # delivered to every waiting request; the app's handlers answer it
            for _, _, future in rows:
                if not future.done():
                    future.set_exception(exc)
            return
        self.calls += 1
        self.requests += len(rows)
        for row, (_, _, future) in enumerate(rows):
            if not future.done():
                future.set_result((top.items[row], top.scores[row]))


def _width(model: Any, length: int) -> int:
    """The part of a history's length the model's input depends on: a sequence model reads the last `max_len`
    items (so every longer history has the same, padding-free input width); other models the whole history."""
    if isinstance(model, SequentialRecommender):
        return min(length, int(model.config.max_len))
    return length
