"""`lmrec zero-shot CHECKPOINT`: apply a pre-trained text model to a new catalogue, no training on it; writes an
ordinary RUN_DIR and evaluates it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    run_overrides,
)


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
    from lmrec.cli.evaluate import metrics_table
    from lmrec.pipeline import evaluate_run, load_run

    run_dir = zero_shot_run(pretrained, out_dir, set_=set_, device=device, dataset=dataset,
                            interactions=interactions, items=items, data_dir=data_dir, order_col=order_col)
    run = load_run(run_dir, device=device)
    with ConsoleReporter() as progress:
        results = evaluate_run(run, ks=parse_ks(k), progress=progress)
    out.print(metrics_table(run, results))
    out.print(f"wrote {run_dir}", soft_wrap=True)


def zero_shot_run(pretrained: Path, out_dir: Path, *, set_: list[str] | None, device: str, **data: Any) -> Path:
    """Write a zero-shot RUN_DIR for the target data: the checkpoint with the target's items placed by text."""
    from lmrec.config import merge
    from lmrec.pipeline import build_config, fit_run
    from lmrec.pipeline.transfer import transfer_overrides

    base = merge(transfer_overrides(pretrained, finetune="none"), run_overrides(set_=set_, **data))
    with ConsoleReporter() as progress:
        fit_run(build_config(base, {}), out_dir, progress=progress, device=device)
    return out_dir
