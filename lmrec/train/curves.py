"""Training curves as TensorBoard event files: a Trainer progress callback that writes, per epoch, the training
loss, the validation score, the learning rate, examples per second and epoch seconds.

    with TrainingCurves("runs/tb/sasrec") as curves:
        model.fit(train, valid=valid, progress=curves)
    # tensorboard --logdir runs/tb

One object may follow several trainings of one fit (pre-training then fine-tuning): its step keeps counting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError
from lmrec.train.trainer import EpochRecord


class TrainingCurves:
    """Writes each `EpochRecord` it is called with under `log_dir` (step = epochs seen so far)."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'lmrec[tensorboard]'") from None
        self.log_dir = Path(log_dir)
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise ConfigError(f"--tensorboard {self.log_dir}: exists and is not a directory")
        self._writer: Any = SummaryWriter(log_dir=str(self.log_dir))
        self.step = 0

    def __call__(self, record: EpochRecord) -> None:
        self.step += 1
        scalars = {"train/loss": record.loss, "train/epoch_seconds": record.seconds}
        if record.valid is not None:
            scalars["valid/ndcg@10"] = record.valid
        if record.lr is not None:
            scalars["train/learning_rate"] = record.lr
        training = record.seconds - record.valid_seconds
        if training > 0 and record.examples:
            scalars["train/examples_per_second"] = record.examples / training  # validation time left out
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), self.step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TrainingCurves:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
