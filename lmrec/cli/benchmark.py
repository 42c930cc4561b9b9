"""`lmrec benchmark`: several models on one split, side by side, each in its own process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import (
    DataDirOpt,
    DatasetOpt,
    DeviceOpt,
    InterOpt,
    ItemsOpt,
    LineReporter,
    OrderColOpt,
    SetOpt,
    TensorBoardOpt,
    UsersOpt,
    console,
    friendly,
    parse_ks,
    parse_models,
)


@friendly
def benchmark(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.md, plots and runs.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names.")],
    peers: Annotated[str | None, typer.Option("--peers", help="Peer libraries trained on the same split in the "
                                              "same run: rectools-sasrec, rectools-bert4rec (needs `make peers`).")
                     ] = None,
    peer_epochs: Annotated[int, typer.Option(help="Most epochs a peer may train (chosen on validation).")] = 100,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    users: UsersOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    threads: Annotated[int | None, typer.Option(help="Torch threads per model process (default: the cores shared "
                                                "out among --jobs).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Model processes at a time.")] = 1,
    baseline: Annotated[str | None, typer.Option(help="Paired-test every model against this one.")] = None,
    order_col: OrderColOpt = None,
    device: DeviceOpt = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-epoch progress lines.")] = False,
    reuse: Annotated[bool, typer.Option("--reuse", help="Keep models whose run folder under OUT is evaluated "
                                        "with the same config (e.g. after a crash); peers always re-train.")] = False,
    tensorboard: TensorBoardOpt = None,
) -> None:
    """Train and evaluate several models on one split; write results.md (CIs, time, memory) and PNG plots."""
    from lmrec.pipeline.benchmark import BenchmarkSpec, run_benchmark

    spec = BenchmarkSpec(
        models=tuple(parse_models(models)), dataset=dataset, interactions=str(interactions) if interactions else None,
        items=str(items) if items else None, data_dir=str(data_dir) if data_dir else None,
        overrides=tuple(set_ or ()) + ((f"data.order_col={order_col}",) if order_col else ())
        + ((f"data.users={users}",) if users else ()), seed=seed,
        ks=parse_ks(k), threads=threads, baseline=baseline, command="lmrec " + " ".join(sys.argv[1:]), jobs=jobs,
        device=device, peers=tuple(parse_models(peers)) if peers else (), peer_max_epochs=peer_epochs, reuse=reuse,
        tensorboard=str(tensorboard) if tensorboard else None,
    )
    log = lambda message: console.print(message, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    report = run_benchmark(spec, out_dir, log=log, progress=None if quiet else LineReporter())
    print(report)  # markdown, unwrapped: it is also written to OUT/results.md
