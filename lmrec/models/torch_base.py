"""`TorchRecommender`: the base of every model whose state is an `nn.Module` (`module_`). It wires the one Trainer
once (device, early stopping on validation NDCG@10, progress), and moves the module between devices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from lmrec.data.split import Holdout
from lmrec.errors import ConfigError
from lmrec.models.base import BaseRecommender
from lmrec.train.trainer import BatchSource, FitLog, LossFn, Progress, StepHook, TrainConfig, Trainer
from lmrec.train.validation import validation_ndcg


class TorchRecommender(BaseRecommender):
    """Subclasses build `module_` in `fit` and call `_train`; `to(device)` moves it (and where it trains)."""

    adversarial_training: ClassVar[bool] = False  # declares support for TrainConfig.adversarial
    data_parallel_training: ClassVar[bool] = True  # trains through the Trainer: `lmrec fit --workers` can split it

    def __init__(self, config: Any = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.module_: nn.Module | None = None

    def to(self, device: torch.device) -> TorchRecommender:
        self.device = torch.device(device)
        if self.module_ is not None:
            self.module_.to(self.device)
        return self

    @staticmethod
    @contextlib.contextmanager
    def seeded(seed: int) -> Iterator[None]:
        """Draws inside (weight initialisation) follow `seed`; the caller's global RNG is left as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    def _train(self, module: nn.Module, batches: BatchSource, loss: LossFn, *, config: TrainConfig,
               valid: Holdout | None = None, progress: Progress | None = None,
               hooks: tuple[StepHook, ...] = ()) -> FitLog:
        """One Trainer run of `module` on this model's device; validation (when `valid` has users) is NDCG@10 of
        this model, so the module must be `self.module_` or part of it."""
        if config.adversarial.enabled and not self.adversarial_training:
            raise ConfigError(f"{self.name} has no adversarial training; train.adversarial.eps is for the sequence "
                              "models (sasrec, gru4rec, ... and their -text/-fused presets)")
        validate = (lambda: validation_ndcg(self, valid, k=10)) if valid is not None and len(valid) else None
        trainer = Trainer(config, progress=progress, device=self.device, hooks=hooks)
        return trainer.fit(module, batches, loss, validate=validate)
