"""`lmrec fit`: train a model (or start it from a pretrained checkpoint) and write RUN_DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import (
    ConsoleReporter,
    DataDirOpt,
    DatasetOpt,
    DeviceOpt,
    EventColOpt,
    InterOpt,
    ItemColOpt,
    ItemsOpt,
    OrderColOpt,
    RatingColOpt,
    SetOpt,
    TensorBoardOpt,
    TimeColOpt,
    UserColOpt,
    UsersOpt,
    friendly,
    out,
    run_overrides,
)
from lmrec.cli.steps import print_attributes, print_weights


@friendly
def fit(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name (see `lmrec models`).")] = None,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    users: UsersOpt = None,
    data_dir: DataDirOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML config file.")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    user_col: UserColOpt = None,
    item_col: ItemColOpt = None,
    timestamp_col: TimeColOpt = None,
    rating_col: RatingColOpt = None,
    event_col: EventColOpt = None,
    order_col: OrderColOpt = None,
    pretrained: Annotated[Path | None, typer.Option("--pretrained", help="Start from a `lmrec pretrain` "
                                                    "checkpoint (its architecture and settings).")] = None,
    finetune: Annotated[str, typer.Option(help="With --pretrained: none, recommender, adapter, lora, lora-adapter, "
                                          "lora-recommender or full.")] = "recommender",
    pseudonymize: Annotated[bool, typer.Option(
        "--pseudonymize", help="Replace user IDs by a keyed HMAC at ingestion (key in LMREC_PSEUDONYM_KEY, never "
        "written): the run directory holds no raw user ID.")] = False,
    device: DeviceOpt = "auto",
    tensorboard: TensorBoardOpt = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Train data-parallel on this many Ray Train workers (gloo on CPU, nccl on GPUs); needs "
                    "`pip install 'lmrec[ray]'`. Without it: one process, as always.")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="With --workers: the Ray cluster to join (`ray start --head` prints it; 'auto': "
                              "the one on this machine). Default: a private local instance.")] = None,
    threads_per_worker: Annotated[int, typer.Option(min=1, help="With --workers: torch threads per worker.")] = 1,
) -> None:
    """Train a model and write RUN_DIR (config.yaml, model/, split.npz, meta.json)."""
    from lmrec.config import merge, read_yaml
    from lmrec.errors import ConfigError
    from lmrec.pipeline import build_config, fit_run

    base = read_yaml(config) if config else {}
    if pretrained is not None:
        from lmrec.pipeline.transfer import transfer_overrides

        base = merge(transfer_overrides(pretrained, finetune=finetune, model=model), base)
    overrides = run_overrides(model=model, seed=seed, set_=set_, dataset=dataset, interactions=interactions,
                              items=items, users=users, data_dir=data_dir, user_col=user_col, item_col=item_col,
                              timestamp_col=timestamp_col, rating_col=rating_col, event_col=event_col,
                              order_col=order_col, pseudonymize=pseudonymize or None)
    run_config = build_config(base, overrides)
    if ray_address is not None and workers is None:
        raise ConfigError("--ray-address needs --workers N (how many training workers to start there)")
    if workers is not None:
        meta = fit_on_ray(run_config, out_dir, workers=workers, address=ray_address, device=device,
                          threads=threads_per_worker, tensorboard=tensorboard)
    else:
        with ConsoleReporter() as progress:
            meta = fit_run(run_config, out_dir, progress=progress, device=device, tensorboard=tensorboard)
    stats = meta["dataset"]
    out.print(f"fitted [bold]{meta['model']}[/] on {stats['name']} ({stats['users']} users, {stats['items']} items, "
              f"{stats['interactions']} interactions) in {meta['fit_seconds']:.1f}s on {meta['device']}; "
              f"split {meta['split']['fingerprint']} -> {out_dir}", soft_wrap=True)
    if tensorboard is not None:
        out.print(f"training curves: tensorboard --logdir {tensorboard}", soft_wrap=True)
    print_weights(meta)
    print_attributes(meta)
    for worker in meta.get("distributed", {}).get("per_worker", []):
        speed = worker.get("examples_per_second")
        out.print(f"  worker {worker['rank']}: {worker['examples']} examples in {worker['train_seconds']:.1f}s of "
                  f"training" + (f" ({speed:.0f}/s)" if speed else ""), soft_wrap=True)


def fit_on_ray(run_config, out_dir: Path, *, workers: int, address: str | None, device: str, threads: int,
               tensorboard: Path | None) -> dict:  # noqa: ANN001 - a RunConfig
    """`lmrec fit --workers N`: check RUN_DIR, train on Ray Train, write the run as `fit_run` does."""
    from lmrec.device import resolve_device
    from lmrec.pipeline.distributed import fit_distributed
    from lmrec.pipeline.fit import save_run
    from lmrec.pipeline.rundir import RunDir

    RunDir(out_dir).check_writable()
    fitted = fit_distributed(run_config, out_dir, workers=workers, address=address,
                             device=str(resolve_device(device)), threads=threads, tensorboard=tensorboard)
    return save_run(fitted, out_dir)
