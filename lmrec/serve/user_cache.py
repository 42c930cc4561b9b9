"""User states kept between requests. A dot-product model's user vector depends only on what it is given: the
history (items and times) and the user's attributes. A returning user whose history has not changed since their
last request therefore need not run the sequence net again; only the cheap `vector @ table.T` (or the FAISS
search) is left. Most /recommend traffic is such repeat reads between events, and the net is most of a request's
cost (bench/results/serve_load.md).

The key is the history itself (item and time bytes, user index), not a user ID, so a new event (a longer
history), an erased user or a raw-history request can never be served a stale state: a changed history is a
different key. One cache belongs to one `Snapshot` (lmrec.serve.state), so a swapped model or a grown catalogue
starts empty. Least recently used entries leave first; `size` bounds the entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from lmrec.data.types import Histories

Key = tuple[int, bytes, bytes]


class UserStateCache:
    """`cache(histories) -> [B, D]` as `query(histories)`, computing only the rows it has not seen."""

    def __init__(self, query: Callable[[Histories], torch.Tensor], size: int) -> None:
        if int(size) < 1:
            raise ValueError(f"size={size!r} must be a positive integer")
        self.query, self.size = query, int(size)
        self._entries: OrderedDict[Key, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __call__(self, histories: Histories) -> torch.Tensor:
        keys = [_key(histories, row) for row in range(len(histories))]
        with self._lock:
            found = [self._entries.get(key) for key in keys]
            for key, vector in zip(keys, found, strict=True):
                if vector is not None:
                    self._entries.move_to_end(key)
        missing = [row for row, vector in enumerate(found) if vector is None]
        computed = None
        if missing:  # one model call for every row not cached, with the batch's own padding
            computed = self.query(histories if len(missing) == len(keys) else histories.rows(missing))
        with self._lock:
            self.hits += len(keys) - len(missing)
            self.misses += len(missing)
            if computed is not None:
                for row, vector in zip(missing, computed, strict=True):
                    found[row] = self._entries[keys[row]] = vector.clone()
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return computed if computed is not None and len(missing) == len(keys) else torch.stack(found)


def _key(histories: Histories, row: int) -> Key:
    length = int(histories.lengths[row])
    items = np.ascontiguousarray(histories.seq[row, :length]).tobytes()
    times = b"" if histories.times is None else np.ascontiguousarray(histories.times[row, :length]).tobytes()
    user = -1 if histories.users is None else int(histories.users[row])
    return user, items, times
