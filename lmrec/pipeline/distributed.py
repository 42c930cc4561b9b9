"""`lmrec fit --workers N [--ray-address ADDR]`: data-parallel training on Ray Train.

The driver loads and splits the data once and puts it in Ray's object store; a TorchTrainer starts N workers (gloo
on CPU, nccl where the workers have GPUs), each builds the same model from the same config and calls its ordinary
`fit`: the one Trainer notices the process group and trains on its share of every batch with averaged gradients
(lmrec.train.parallel), worker 0 validates for all, so early stopping and the restored best weights are the same
everywhere. Worker 0's fitted model comes back as a Ray checkpoint under RUN_DIR/ray/, and the run is written as
any other (`save_run`), with each worker's throughput in meta.json.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lmrec.cluster import check_reachable, ray_session, require_ray
from lmrec.data.config import load_data
from lmrec.data.split import make_split
from lmrec.data.types import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import load_model
from lmrec.models.capabilities import UserAttributes, supports
from lmrec.models.registry import get_model
from lmrec.models.torch_base import TorchRecommender
from lmrec.pipeline.config import RunConfig, config_to_dict, resolve_config
from lmrec.pipeline.fit import FittedRun
from lmrec.pipeline.rundir import RunDir
from lmrec.provenance import peak_rss_mib
from lmrec.train.curves import TrainingCurves
from lmrec.train.progress import together
from lmrec.train.trainer import EpochRecord


def check_data_parallel(config: RunConfig) -> None:
    """ConfigError unless the model trains with gradient steps through the Trainer (what --workers splits)."""
    model_class = get_model(config.model.name).cls
    if not (issubclass(model_class, TorchRecommender) and model_class.data_parallel_training):
        raise ConfigError(f"--workers: model {config.model.name!r} does not train with gradient steps (closed form "
                          "or counts); it has nothing to split across workers, so fit it without --workers")
    if config.pretrained:
        raise ConfigError("--workers with --pretrained is not supported yet; fine-tune in one process")


def fit_distributed(config: RunConfig, run_dir: str | Path, *, workers: int, address: str | None = None,
                    dataset: Dataset | None = None, device: str = "cpu", threads: int = 1,
                    tensorboard: str | Path | None = None) -> FittedRun:
    """Fit `config`'s model with `workers` data-parallel Ray Train workers (`threads` torch threads each);
    worker 0 writes the training curves to `tensorboard` (a path the workers can reach)."""
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    check_data_parallel(config)
    require_ray()
    if address:
        check_reachable(address)  # before loading any data
    from ray.train import RunConfig as RayRunConfig
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    started = time.perf_counter()
    dataset = dataset if dataset is not None else load_data(config.data, config.prepare)
    split = make_split(dataset, config.split)
    storage = RunDir(run_dir).training_storage.resolve()
    use_gpu = str(device).startswith("cuda")
    with ray_session(address, cpus=workers * threads) as ray:
        trainer = TorchTrainer(
            train_worker,
            train_loop_config={"config": config_to_dict(config), "dataset": ray.put(dataset), "threads": threads,
                               "tensorboard": str(Path(tensorboard).resolve()) if tensorboard else None},
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                         resources_per_worker={"CPU": threads}),
            run_config=RayRunConfig(name="fit", storage_path=str(storage)))
        fit_start = time.perf_counter()
        try:
            result = trainer.fit()
        except (ray.train.TrainingFailedError, ray.exceptions.RayError) as exc:  # a worker's error, wrapped
            raise ConfigError(f"Ray Train failed: {_first_line(exc)} (the workers' log above has the cause)"
                              ) from None
        fit_seconds = time.perf_counter() - fit_start
    if result.error is not None or result.checkpoint is None:
        raise ConfigError(f"Ray Train failed: {_first_line(result.error) if result.error else 'no model came back'}")
    with result.checkpoint.as_directory() as folder:
        model = load_model(Path(folder) / "model")
    model.fit_log_ = result.metrics.get("fit_log")  # worker 0's epochs: what meta.json reports as the fit
    per_worker = result.metrics.get("workers", [])
    extra = {"distributed": {"engine": f"ray {ray.__version__} TorchTrainer", "workers": workers,
                             "threads_per_worker": threads, "address": address or "local",
                             "backend": "nccl" if use_gpu else "gloo", "checkpoints": str(storage),
                             "per_worker": per_worker, "checkpoint": str(result.checkpoint.path)}}
    return FittedRun(config, dataset, split, model, torch.device(device), fit_seconds,
                     time.perf_counter() - started, peak_rss_mib(), extra_meta=extra)


def train_worker(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker: the same model and data as every other, its share of each batch (the Trainer's
    data-parallel mode), worker 0's weights reported back as the checkpoint."""
    import ray
    import ray.train
    import torch.distributed as dist
    from ray.train import Checkpoint

    rank = ray.train.get_context().get_world_rank()
    torch.set_num_threads(int(loop_config["threads"]))
    config = resolve_config(loop_config["config"])
    dataset = ray.get(loop_config["dataset"])
    split = make_split(dataset, config.split)
    device = ray.train.torch.get_device()
    model = get_model(config.model.name).create(config.model.params).to(device)
    if supports(model, UserAttributes):
        model.fit_user_attributes(dataset.user_attributes)
    with contextlib.ExitStack() as stack:
        progress = None
        if rank == 0:
            curves = loop_config.get("tensorboard")
            progress = together(_print_epochs(config.model.name),
                                stack.enter_context(TrainingCurves(curves)) if curves else None)
        started = time.perf_counter()
        model.fit(split.train, valid=split.valid, catalog=dataset.catalog, progress=progress)
        seconds = time.perf_counter() - started
    epochs = (model.fit_log_ or {}).get("epochs", []) if isinstance(model.fit_log_, dict) else []
    training = sum(e["seconds"] - e.get("valid_seconds", 0.0) for e in epochs)
    mine = {"rank": rank, "fit_seconds": seconds, "train_seconds": training,
            "examples": int(sum(e.get("examples", 0) for e in epochs)),
            "examples_per_second": sum(e.get("examples", 0) for e in epochs) / training if training > 0 else None}
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    if rank == 0:
        with tempfile.TemporaryDirectory() as folder:
            model.save(Path(folder) / "model")
            ray.train.report({"workers": everyone, "fit_log": model.fit_log_},
                             checkpoint=Checkpoint.from_directory(folder))
    else:
        ray.train.report({"workers": everyone})


def _print_epochs(name: str):  # noqa: ANN202 - a Progress
    """Worker 0's epochs as lines on its stdout (Ray forwards them to the driver's console)."""

    def report(record: EpochRecord) -> None:
        print(f"fit {name} (worker 0 of the data-parallel group): {record.describe()}", file=sys.stdout,
              flush=True)

    return report


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
