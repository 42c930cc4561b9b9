"""How long work reports progress: a `Reporter` gets (stage, done, total, detail) and the CLI renders it (a rich
bar in a terminal, one line per epoch or finished stage otherwise). Library code never prints."""

from __future__ import annotations

from typing import Protocol

from lmrec.train.trainer import EpochRecord, Progress


class Reporter(Protocol):
    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None: ...


def epoch_progress(reporter: Reporter | None, stage: str) -> Progress | None:
    """A Trainer progress callback that reports each epoch to `reporter` under `stage`."""
    if reporter is None:
        return None

    def report(record: EpochRecord) -> None:
        reporter(stage, record.epoch, record.epochs, record.describe())

    return report


def together(*callbacks: Progress | None) -> Progress | None:
    """One Trainer progress callback that calls each given one (None when none is given)."""
    present = [c for c in callbacks if c is not None]
    if not present:
        return None

    def report(record: EpochRecord) -> None:
        for callback in present:
            callback(record)

    return report
