"""`lmrec tune`: search a model's hyper-parameters on the validation holdout (Optuna) and write the best config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import DataDirOpt, DatasetOpt, DeviceOpt, InterOpt, ItemsOpt, SetOpt, friendly, out, run_overrides


@friendly
def tune(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the study (resumed when it exists), "
                                          "best.yaml, trials.csv and search.png.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see `lmrec models`).")],
    trials: Annotated[int, typer.Option(min=1, help="Trials to run in this call.")] = 20,
    space: Annotated[Path | None, typer.Option(help="YAML search space: model key -> {log|float|int|choice: "
                                               "[...]} (default: the model's own, where it has one).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many seconds.")] = None,
    prune_after: Annotated[int, typer.Option(min=0, help="Epochs a trial trains before it may be pruned (slow "
                                             "starters, e.g. a low learning rate, need more).")] = 5,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and of every trial's training.")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Tune on validation NDCG@10 (TPE, median pruning per epoch); `lmrec fit --config OUT/best.yaml` trains the
    best config, which the test split then judges."""
    from lmrec.config import read_yaml
    from lmrec.pipeline.tune import tune as run_tune

    base = run_overrides(model=model, seed=seed, set_=set_, dataset=dataset, interactions=interactions,
                         items=items, data_dir=data_dir)
    searched = read_yaml(space) if space is not None else None
    result = run_tune(base, out_dir, trials=trials, space=searched, seed=seed, timeout=timeout, device=device,
                      prune_after=prune_after, log=lambda line: out.print(line, soft_wrap=True, highlight=False))
    out.print(f"best validation NDCG@10 {result.best_value:.4f} after {result.trials} trials ({result.pruned} "
              f"pruned): {result.best_params}; config -> {result.best_config}", soft_wrap=True, highlight=False)
