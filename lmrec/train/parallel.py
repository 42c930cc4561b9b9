"""Data-parallel training for the one Trainer: when a torch.distributed process group is running (Ray Train's
TorchTrainer starts one per worker: gloo on CPU, nccl on GPUs), every worker sees the same batches in the same order
(same seed), trains on its own share of each batch's rows, and the gradients are averaged before every optimiser
step, so the workers' weights stay identical and one step means what it means in a single process (same batch,
same number of steps per epoch). Worker 0 validates; its score is broadcast, so every worker takes the same
early-stopping decision and keeps the same best weights.

Nothing here imports Ray: any launcher that sets up the process group (torchrun too) gets the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from lmrec.train.batches import Batch, TensorBatch


class DataParallel:
    """This process's place in the group: `rank` of `size` (size 1: not distributed, every method a no-op)."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self._dist = dist
        self.active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.active else 0
        self.size = dist.get_world_size() if self.active else 1

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def sync_parameters(self, module: nn.Module) -> None:
        """Every worker starts from worker 0's weights and buffers."""
        if self.active:
            for tensor in module.state_dict().values():
                self._dist.broadcast(tensor.data, src=0)

    def shard(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """This worker's rows of each batch (contiguous, near-equal shares); a batch with fewer rows than workers
        is skipped by all of them alike, so every worker takes the same number of steps."""
        if not self.active:
            yield from batches
            return
        for batch in batches:
            if not isinstance(batch, TensorBatch):
                raise TypeError(f"data-parallel training needs tensor batches, got {type(batch).__name__}")
            if len(batch) < self.size:
                continue
            yield batch.rows(self.rank, self.size)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """All-reduce the mean gradient, flattened into one buffer (a parameter without a gradient on this
        worker contributes zeros, so every worker reduces the same tensors)."""
        if not self.active:
            return
        params = [p for p in parameters if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        self._dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(g).to(g.dtype)
            offset += n

    def leader_value(self, compute: Callable[[], float]) -> float:
        """`compute()` on worker 0, its result on every worker."""
        if not self.active:
            return float(compute())
        value = torch.tensor([float(compute()) if self.is_leader else 0.0], dtype=torch.float64)
        self._dist.broadcast(value, src=0)
        return float(value.item())

    def mean(self, value: float) -> float:
        """The mean of `value` over the workers."""
        if not self.active:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64)
        self._dist.all_reduce(tensor)
        return float(tensor.item()) / self.size
