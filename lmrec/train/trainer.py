"""The one training loop every torch model runs: seeds, device, precision, optimiser, epochs, validation, early
stopping, budget, step hooks.

The trainer knows nothing about recommenders: it gets an `nn.Module`, a batch source (a callable that takes the
epoch's numpy Generator and yields `Batch` objects), a loss callable and an optional `validate() -> float`
(higher is better). Progress goes to a callback (one `EpochRecord` per epoch), never to stdout.

Step hooks are the seam for what changes a training step without a new trainer: an extra loss term, an
adversarial perturbation, gradient accumulation. Each hook wraps the loss computation of the ones after it:

    class L2OnItems(StepHook):
        def loss(self, step, compute):
            return compute() + 1e-4 * step.module.tower().pow(2).sum()
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from lmrec.device import CPU, autocast, resolve_precision
from lmrec.errors import ConfigError
from lmrec.train.batches import Batch
from lmrec.train.parallel import DataParallel

log = logging.getLogger(__name__)

BatchSource = Callable[[np.random.Generator], Iterable[Batch]]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class AdversarialConfig:
    """Adversarial training (APR, He et al. 2018): each step also fits the loss under the worst-case perturbation
    of the item vectors (and of the text-adapter input) found by `steps` gradient steps (1 = FGSM, more = PGD).
    `eps` is relative: a perturbed vector moves by at most eps times its own length, so one eps means the same
    for ID, text and fused towers whatever their norms; 0 turns it off. `weight` scales the adversarial loss
    added to the clean one. `parts`: "items" (the item table, which is also every history's input), "text"
    (the LM vectors before the adapter; text and fused towers)."""

    eps: float = 0.0
    weight: float = 1.0
    steps: int = 1
    parts: tuple[str, ...] = ("items", "text")

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        unknown = sorted(set(self.parts) - {"items", "text"})
        if not (self.eps >= 0 and self.weight >= 0 and self.steps >= 1) or unknown or not self.parts:
            raise ConfigError(f"train.adversarial needs eps >= 0, weight >= 0, steps >= 1 and parts from "
                              f"['items', 'text']; got eps={self.eps}, weight={self.weight}, steps={self.steps}, "
                              f"parts={list(self.parts)}")

    @property
    def enabled(self) -> bool:
        return self.eps > 0 and self.weight > 0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw"] = "adam"
    patience: int = 10  # evaluations without improvement before stopping (RecBole's stopping_step)
    seed: int = 2020
    eval_every: int = 1  # epochs between validations
    threads: int | None = None  # torch intra-op threads during fit; None leaves the process setting
    max_seconds: float | None = None  # wall-clock budget; the epoch that crosses it still finishes
    # bf16: autocast forward + loss (weights stay float32); auto: bf16 where the device does bf16 natively
    precision: Literal["float32", "bf16", "auto"] = "float32"
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)  # a model that cannot says so

    def __post_init__(self) -> None:
        problems = [
            name
            for name, ok in (
                ("epochs >= 1", self.epochs >= 1),
                ("batch_size >= 1", self.batch_size >= 1),
                ("lr > 0", self.lr > 0),
                ("weight_decay >= 0", self.weight_decay >= 0),
                ("patience >= 0", self.patience >= 0),
                ("eval_every >= 1", self.eval_every >= 1),
                ("threads >= 1", self.threads is None or self.threads >= 1),
            )
            if not ok
        ]
        if problems:
            raise ConfigError(f"TrainConfig needs {', '.join(problems)}; got {self}")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: 1-based index of at most `epochs`, mean training loss, validation score (None if not
    validated), seconds (training and validation; `valid_seconds` of them validating); the learning rate of its
    last step and the training examples (batch rows) it saw."""

    epoch: int
    epochs: int
    loss: float
    valid: float | None
    seconds: float
    lr: float | None = None
    examples: int = 0
    valid_seconds: float = 0.0

    def describe(self) -> str:
        """'epoch 3/30 loss 5.1234 valid 0.0812 1.5s': the line a log shows per epoch."""
        valid = f" valid {self.valid:.4f}" if self.valid is not None else ""
        return f"epoch {self.epoch}/{self.epochs} loss {self.loss:.4f}{valid} {self.seconds:.1f}s"


Progress = Callable[[EpochRecord], None]


@dataclass
class FitLog:
    """What happened during one fit; `to_dict()` is what the CLI writes beside the model."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_valid: float | None = None
    stop_reason: str = "epochs"
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Step:
    """The training step a hook sees: the module, this batch (on the device), its epoch and index."""

    module: nn.Module
    batch: Batch
    epoch: int
    index: int


class StepHook:
    """A hook on every training step. `loss` wraps the loss computation (`compute()` runs the inner hooks and
    the loss function); `should_step` says whether the optimiser steps after this batch's backward."""

    def loss(self, step: Step, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        return compute()

    def should_step(self, step: Step) -> bool:
        return True


class GradientAccumulation(StepHook):
    """Sum the gradients of `every` batches before each optimiser step (an effective batch `every` times
    larger in the same memory); each loss is scaled by 1/every so the step size matches."""

    def __init__(self, every: int) -> None:
        if int(every) < 1:
            raise ConfigError(f"gradient accumulation needs every >= 1, got {every}")
        self.every = int(every)

    def loss(self, step: Step, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        return compute() / self.every

    def should_step(self, step: Step) -> bool:
        return (step.index + 1) % self.every == 0


class Trainer:
    """Runs `module` for up to `config.epochs` on `device`; keeps, and finally restores, the best-validating
    weights."""

    def __init__(self, config: TrainConfig, *, progress: Progress | None = None, device: torch.device = CPU,
                 hooks: Sequence[StepHook] = ()) -> None:
        self.config = config
        self.progress = progress
        self.device = device
        self.hooks = tuple(hooks)

    def fit(self, module: nn.Module, batches: BatchSource, loss_fn: LossFn, *,
            validate: Callable[[], float] | None = None) -> FitLog:
        cfg = self.config
        previous_threads = torch.get_num_threads()
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):  # seeds dropout etc. without touching the caller's RNG
                torch.manual_seed(cfg.seed)
                return self._loop(module.to(self.device), batches, loss_fn, validate, np.random.default_rng(cfg.seed))
        finally:
            torch.set_num_threads(previous_threads)

    def _loop(self, module: nn.Module, batches: BatchSource, loss_fn: LossFn, validate: Callable[[], float] | None,
              rng: np.random.Generator) -> FitLog:
        cfg = self.config
        parallel = DataParallel()  # a no-op outside a torch.distributed group (lmrec.train.parallel)
        parallel.sync_parameters(module)
        optimizer = make_optimizer(module, cfg)
        precision = resolve_precision(cfg.precision, self.device)
        fit_log, best_state, waited = FitLog(), None, 0
        start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            tick = time.perf_counter()
            loss, examples = self._epoch(module, parallel.shard(batches(rng)), loss_fn, optimizer, precision, epoch,
                                         parallel)
            loss = parallel.mean(loss)
            score, validating = None, time.perf_counter()
            if validate is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                module.eval()
                score = parallel.leader_value(validate)
                if fit_log.best_valid is None or score > fit_log.best_valid:
                    fit_log.best_valid, fit_log.best_epoch, waited = score, epoch, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    waited += 1
            record = EpochRecord(epoch, cfg.epochs, loss, score, time.perf_counter() - tick,
                                 float(optimizer.param_groups[0]["lr"]), examples, time.perf_counter() - validating)
            fit_log.epochs.append(record)
            if self.progress is not None:
                self.progress(record)
            log.debug("%s", record.describe())
            if not math.isfinite(loss):
                fit_log.stop_reason = "non-finite loss"
                break
            if validate is not None and waited > cfg.patience:
                fit_log.stop_reason = "early stopping"
                break
            if cfg.max_seconds is not None and parallel.leader_value(
                    lambda: time.perf_counter() - start >= cfg.max_seconds):  # the same decision on every worker
                fit_log.stop_reason = "max_seconds"
                break
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        fit_log.seconds = time.perf_counter() - start
        return fit_log

    def _epoch(self, module: nn.Module, batches: Iterable[Batch], loss_fn: LossFn,
               optimizer: torch.optim.Optimizer, precision: str, epoch: int,
               parallel: DataParallel | None = None) -> tuple[float, int]:
        """(mean batch loss, training examples this worker saw)."""
        parallel = parallel or DataParallel()
        module.train()
        total, count, examples = 0.0, 0, 0
        optimizer.zero_grad(set_to_none=True)
        for index, batch in enumerate(batches):
            step = Step(module, batch.to(self.device), epoch, index)
            with autocast(self.device, precision):
                loss = self._hooked_loss(step, loss_fn)
            loss.float().backward()
            if all([hook.should_step(step) for hook in self.hooks]):  # every hook sees every step
                parallel.average_gradients(p for group in optimizer.param_groups for p in group["params"])
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            total += float(loss.detach())
            count += 1
            examples += len(batch)
        if any(p.grad is not None for group in optimizer.param_groups for p in group["params"]):
            parallel.average_gradients(p for group in optimizer.param_groups for p in group["params"])
            optimizer.step()  # the last, partial accumulation
            optimizer.zero_grad(set_to_none=True)
        return total / max(count, 1), examples

    def _hooked_loss(self, step: Step, loss_fn: LossFn) -> torch.Tensor:
        compute: Callable[[], torch.Tensor] = lambda: loss_fn(step.module, step.batch)  # noqa: E731
        for hook in reversed(self.hooks):
            compute = (lambda h, inner: lambda: h.loss(step, inner))(hook, compute)
        return compute()


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam (L2 via weight_decay, as RecBole) or AdamW (decoupled decay) over the trainable parameters; a module
    that is a `ParameterGroups` (e.g. a language model at its own lr) chooses its groups itself."""
    if isinstance(module, ParameterGroups):
        params: list = module.param_groups(config.lr)
    else:
        params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


class ParameterGroups:
    """Mixin for modules that train their parts at different learning rates."""

    def param_groups(self, lr: float) -> list[dict]:
        raise NotImplementedError
