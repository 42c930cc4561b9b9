"""A run, fitted in memory and persisted as a separate step:

    fitted = fit(config)                 # data -> split -> model (the transfer step when the model names one)
    save_run(fitted, RunDir("runs/x"))   # config.yaml, model/, ids.json, split.npz, history.npz, catalog, meta
    fit_run(config, "runs/x")            # both
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmrec.config import write_yaml
from lmrec.data.config import load_data
from lmrec.data.split import Split, make_split
from lmrec.data.types import Dataset
from lmrec.device import describe, resolve_device
from lmrec.io import atomic_write_json
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import UserAttributes, supports
from lmrec.models.registry import get_model
from lmrec.pipeline.artefacts import save_catalog, save_history, save_ids, save_split
from lmrec.pipeline.config import RunConfig, config_to_dict
from lmrec.pipeline.rundir import RunDir
from lmrec.provenance import environment, peak_rss_mib
from lmrec.train.curves import TrainingCurves
from lmrec.train.progress import Reporter, epoch_progress, together
from lmrec.train.trainer import Progress


@dataclass(eq=False)
class FittedRun:
    """A fitted model with the data, split and config it came from, before anything is written."""

    config: RunConfig
    dataset: Dataset
    split: Split
    model: BaseRecommender
    device: torch.device
    fit_seconds: float
    total_seconds: float
    peak_rss_mib: float
    extra_meta: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """meta.json: dataset digest and stats, split fingerprint, seed, device, timings, memory, versions."""
        fit_log = self.model.fit_log_ if isinstance(self.model.fit_log_, dict) else None
        return {
            "model": self.config.model.name,
            "dataset": {**self.dataset.stats(), "digest": self.dataset.digest()},
            "split": {**self.split.info, "fingerprint": self.split.fingerprint(),
                      "train_interactions": len(self.split.train)},
            "seed": self.config.seed,
            "device": describe(self.device),
            "fit_seconds": self.fit_seconds,
            "total_seconds": self.total_seconds,
            "peak_rss_mib": self.peak_rss_mib,
            "fit_log": fit_log,
            **self.extra_meta,
            **environment(),
        }


def fit(config: RunConfig, *, dataset: Dataset | None = None, progress: Reporter | None = None,
        device: str | torch.device | None = "auto", tensorboard: str | Path | None = None,
        on_epoch: Progress | None = None) -> FittedRun:
    """Load the data, split it, fit the model on the training part (or start it from its pretrained checkpoint
    through `lmrec.transfer.fit_pretrained`); nothing is written but, with `tensorboard`, the training curves'
    event files there. `on_epoch` also gets every epoch's record (tuning prunes with it)."""
    started = time.perf_counter()
    device = resolve_device(device)
    dataset = dataset if dataset is not None else load_data(config.data, config.prepare)
    split = make_split(dataset, config.split)
    model = get_model(config.model.name).create(config.model.params).to(device)
    with contextlib.ExitStack() as stack:
        curves = stack.enter_context(TrainingCurves(tensorboard)) if tensorboard is not None else None
        report = together(epoch_progress(progress, f"fit {config.model.name}"), curves, on_epoch)
        fit_start = time.perf_counter()
        if config.pretrained:
            from lmrec.transfer import fit_pretrained

            fit_pretrained(model, split.train, valid=split.valid, catalog=dataset.catalog, progress=report)
        else:
            if supports(model, UserAttributes):
                model.fit_user_attributes(dataset.user_attributes)
            model.fit(split.train, valid=split.valid, catalog=dataset.catalog, progress=report)
        fit_seconds = time.perf_counter() - fit_start
    extra = {"tensorboard": str(tensorboard)} if tensorboard is not None else {}
    return FittedRun(config, dataset, split, model, device, fit_seconds, time.perf_counter() - started,
                     peak_rss_mib(), extra_meta=extra)


def save_run(fitted: FittedRun, run_dir: RunDir | str | Path) -> dict[str, Any]:
    """Write RUN_DIR (every file atomically); returns its meta.json content."""
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    run_dir.check_writable()
    run_dir.root.mkdir(parents=True, exist_ok=True)
    fitted.model.save(run_dir.model)
    write_yaml(run_dir.config, config_to_dict(fitted.config))
    save_ids(run_dir.ids, fitted.dataset.users, fitted.dataset.items)
    save_split(run_dir.split, fitted.split)
    save_history(run_dir.history, fitted.dataset.interactions.sequences())
    if fitted.dataset.catalog is not None:
        save_catalog(run_dir.catalog, fitted.dataset.catalog)
    meta = fitted.meta()
    atomic_write_json(run_dir.meta, meta)
    state = run_dir.update_state()
    if state.get("retrain_required"):  # an erasure asked for this refit: the new weights never saw the user
        run_dir.commit_update_state({**{k: v for k, v in state.items() if k != "retrain_required"},
                                     "retrained_at": time.time()})
    return meta


def fit_run(config: RunConfig, out: str | Path, *, progress: Reporter | None = None, dataset: Dataset | None = None,
            device: str | torch.device | None = "auto", tensorboard: str | Path | None = None) -> dict[str, Any]:
    """`fit` then `save_run` into `out`; returns the run's meta dict. `out` is checked first, so a refused
    directory costs no training."""
    RunDir(out).check_writable()
    return save_run(fit(config, dataset=dataset, progress=progress, device=device, tensorboard=tensorboard), out)
