"""`lmrec zero-shot CHECKPOINT`: apply a pre-trained text model to a new catalogue, no training on it; writes an
ordinary RUN_DIR and evaluates it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import (
    ConsoleReporter,
    DataDirOpt,
    DatasetOpt,
    DeviceOpt,
    InterOpt,
    ItemsOpt,
    OrderColOpt,
    SetOpt,
    friendly,
    out,
    parse_ks,
)
from lmrec.cli.steps import metrics_table, zero_shot_run


@friendly
def zero_shot(
    pretrained: Annotated[Path, typer.Argument(help="A `lmrec pretrain` checkpoint directory.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    order_col: OrderColOpt = None,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    device: DeviceOpt = "auto",
) -> None:
    """The checkpoint on the target data with the target's items placed by their text; writes RUN_DIR and its
    metrics (the same files as `lmrec fit` + `lmrec evaluate`)."""
    from lmrec.pipeline import evaluate_run, load_run

    run_dir = zero_shot_run(pretrained, out_dir, set_=set_, device=device, dataset=dataset,
                            interactions=interactions, items=items, data_dir=data_dir, order_col=order_col)
    run = load_run(run_dir, device=device)
    with ConsoleReporter() as progress:
        results = evaluate_run(run, ks=parse_ks(k), progress=progress)
    out.print(metrics_table(run, results))
    out.print(f"wrote {run_dir}", soft_wrap=True)
