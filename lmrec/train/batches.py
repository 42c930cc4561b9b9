"""Training batches as small typed objects: what a batch holds is named, and `to(device)` moves all of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor

B = TypeVar("B", bound="Batch")


@runtime_checkable
class Batch(Protocol):
    """Anything the Trainer can feed a loss: it knows its size and how to move to a device."""

    def __len__(self) -> int: ...
    def to(self: B, device: torch.device) -> B: ...


class TensorBatch:
    """Base of the dataclass batches below: every field is a tensor (or None); `to` moves them all."""

    def to(self: B, device: torch.device) -> B:
        moved = {f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device, non_blocking=True)
                 for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **moved)  # type: ignore[type-var]

    def rows(self: B, part: int, parts: int) -> B:
        """Share `part` of `parts` of the rows (contiguous, sizes differing by at most one): one data-parallel
        worker's slice of the batch."""
        n = len(self)  # type: ignore[arg-type]
        start, stop = n * part // parts, n * (part + 1) // parts
        sliced = {f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[start:stop]
                  for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **sliced)  # type: ignore[type-var]


@dataclass(frozen=True)
class SequenceBatch(TensorBatch):
    """Right-aligned next-item windows: `inputs [B, L]` (PAD on the left) and `targets [B, L]` (the item that
    follows each input position; PAD where there is none); `users [B]` the user of each window, for models that
    read user attributes; `times [B, L]` the inputs' timestamps, for time-aware nets; `values [B, L]` the targets'
    values (ratings; NaN where none), for a rating head; `shown [B, L, M]` items shown before each target and not
    chosen (impressions; PAD where none), negatives for online updates."""

    inputs: Tensor
    targets: Tensor
    users: Tensor | None = None
    times: Tensor | None = None
    values: Tensor | None = None
    shown: Tensor | None = None

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class PairBatch(TensorBatch):
    """(user, positive item, negative items) triples for pairwise losses: `users [B]`, `positives [B]`,
    `negatives [B, K]`."""

    users: Tensor
    positives: Tensor
    negatives: Tensor

    def __len__(self) -> int:
        return int(self.users.shape[0])
