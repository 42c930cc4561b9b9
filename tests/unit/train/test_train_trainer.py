"""The one training loop: early stopping with best-state restore, budget, progress, step hooks, seeding, config
checks."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from lmrec.errors import ConfigError
from lmrec.train.batches import TensorBatch
from lmrec.train.trainer import EpochRecord, GradientAccumulation, Step, StepHook, TrainConfig, Trainer


@dataclass(frozen=True)
class Noise(TensorBatch):
    x: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


class Scalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def batches(rng: np.random.Generator):
    for _ in range(2):
        yield Noise(torch.from_numpy(rng.normal(size=4).astype(np.float32)))


def loss(module: Scalar, batch: Noise) -> torch.Tensor:
    return ((module.w - 3.0 - 0 * batch.x) ** 2).mean()


def scripted(scores: list[float], module: Scalar, seen: list[float]):
    """validate() returning the next scripted score and remembering the weight it saw."""
    it = iter(scores)

    def validate() -> float:
        seen.append(float(module.w.detach()))
        return next(it)

    return validate


def test_early_stopping_restores_the_best_epoch():
    module, seen = Scalar(), []
    log = Trainer(TrainConfig(epochs=20, lr=0.1, patience=2)).fit(
        module, batches, loss, validate=scripted([0.1, 0.5, 0.4, 0.3, 0.2, 0.9], module, seen)
    )
    assert [e.valid for e in log.epochs] == [0.1, 0.5, 0.4, 0.3, 0.2]
    assert (log.best_epoch, log.best_valid, log.stop_reason) == (2, 0.5, "early stopping")
    assert float(module.w.detach()) == pytest.approx(seen[1])
    assert not module.training


def test_eval_every_and_no_validation():
    module = Scalar()
    log = Trainer(TrainConfig(epochs=5, eval_every=2, patience=10)).fit(
        module, batches, loss, validate=scripted([1, 2, 3], module, [])
    )
    assert [e.valid for e in log.epochs] == [None, 1, None, 2, 3]  # the last epoch is always validated
    log = Trainer(TrainConfig(epochs=3, lr=0.5)).fit(Scalar(), batches, loss)
    assert len(log.epochs) == 3 and log.best_epoch is None and log.stop_reason == "epochs"
    assert log.epochs[-1].loss < log.epochs[0].loss


def test_max_seconds_stops_after_the_crossing_epoch():
    log = Trainer(TrainConfig(epochs=100, max_seconds=0.0)).fit(Scalar(), batches, loss)
    assert len(log.epochs) == 1 and log.stop_reason == "max_seconds"


def test_progress_gets_one_record_per_epoch():
    records: list[EpochRecord] = []
    Trainer(TrainConfig(epochs=2), progress=records.append).fit(Scalar(), batches, loss)
    assert [(r.epoch, r.epochs) for r in records] == [(1, 2), (2, 2)] and all(r.seconds >= 0 for r in records)
    assert records[0].describe().startswith("epoch 1/2 loss ")


def test_an_extra_loss_hook_changes_what_is_learned():
    class PullToZero(StepHook):
        def loss(self, step: Step, compute):
            return compute() + 10.0 * (step.module.w ** 2).sum()

    plain, hooked = Scalar(), Scalar()
    Trainer(TrainConfig(epochs=200, lr=0.05)).fit(plain, batches, loss)
    Trainer(TrainConfig(epochs=200, lr=0.05), hooks=[PullToZero()]).fit(hooked, batches, loss)
    # minimum of (w - 3)^2 + 10 w^2 is w = 3 / 11
    assert float(plain.w.detach()) == pytest.approx(3.0, abs=0.05)
    assert float(hooked.w.detach()) == pytest.approx(3 / 11, abs=0.05)


def test_gradient_accumulation_steps_every_n_batches():
    steps: list[int] = []

    class Count(StepHook):
        def should_step(self, step: Step) -> bool:
            steps.append(step.index)
            return True

    module = Scalar()
    Trainer(TrainConfig(epochs=1, lr=0.1, optimizer="adam"), hooks=[GradientAccumulation(2), Count()]).fit(
        module, batches, loss)
    one_step = Scalar()
    Trainer(TrainConfig(epochs=1, lr=0.1, optimizer="adam"),
            hooks=[]).fit(one_step, lambda rng: iter([Noise(torch.zeros(4))]), loss)
    assert steps == [0, 1]  # both batches seen; the optimiser stepped once, after the second
    # one Adam step of the same (averaged) gradient
    assert float(module.w.detach()) == pytest.approx(float(one_step.w.detach()))
    with pytest.raises(ConfigError):
        GradientAccumulation(0)


def test_same_seed_same_result_and_caller_rng_untouched():
    def noisy_loss(module, batch):
        return ((module.w - batch.x - torch.rand(1)) ** 2).mean()

    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    runs = []
    for _ in range(2):
        module = Scalar()
        Trainer(TrainConfig(epochs=3, seed=7, threads=1)).fit(module, batches, noisy_loss)
        runs.append(float(module.w.detach()))
    assert runs[0] == runs[1]
    assert torch.equal(torch.rand(1), before)  # fork_rng: global RNG continues as if untouched


def test_threads_are_restored():
    previous = torch.get_num_threads()
    Trainer(TrainConfig(epochs=1, threads=1)).fit(Scalar(), batches, loss)
    assert torch.get_num_threads() == previous


def test_non_finite_loss_stops():
    log = Trainer(TrainConfig(epochs=5)).fit(Scalar(), batches, lambda m, b: m.w.sum() * float("nan"))
    assert log.stop_reason == "non-finite loss" and len(log.epochs) == 1


def test_config_is_checked_and_serialisable():
    with pytest.raises(ConfigError, match="lr > 0"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(patience=-1)
    log = Trainer(TrainConfig(epochs=1)).fit(Scalar(), batches, loss)
    assert log.to_dict()["epochs"][0]["epoch"] == 1
