"""`lmrec cold-start`: the cold-start item protocol (lmrec.eval.coldstart) from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lmrec.cli.common import (
    ConsoleReporter,
    DataDirOpt,
    DatasetOpt,
    InterOpt,
    ItemColOpt,
    ItemsOpt,
    OrderColOpt,
    RatingColOpt,
    SetOpt,
    TimeColOpt,
    UserColOpt,
    console,
    friendly,
    out,
    parse_ks,
    parse_models,
)
from lmrec.errors import ConfigError


@friendly
def cold_start(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.md, results.json, config.yaml.")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated model names.")],
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    test_quantile: Annotated[float, typer.Option(help="The test period starts at this quantile of time.")] = 0.9,
    valid_quantile: Annotated[float, typer.Option(
        help="Validation (early stopping) starts at this quantile; 0 for none.")] = 0.8,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    threads: Annotated[int | None, typer.Option(help="Torch threads.")] = None,
    user_col: UserColOpt = None,
    item_col: ItemColOpt = None,
    timestamp_col: TimeColOpt = None,
    rating_col: RatingColOpt = None,
    order_col: OrderColOpt = None,
) -> None:
    """Accuracy on items that did not exist at training time: new-item targets reported apart from known ones."""
    from lmrec.data.config import load_data
    from lmrec.eval.coldstart import cold_start_data, run_cold_start
    from lmrec.eval.coldstart_report import write_cold_start
    from lmrec.eval.evaluate import EvalOptions
    from lmrec.models.registry import get_model
    from lmrec.pipeline import config_to_dict

    names = parse_models(models)
    if len(set(names)) != len(names):
        raise ConfigError(f"--models names a model twice: {models}")
    if not 0.0 < test_quantile < 1.0 or not 0.0 <= valid_quantile < test_quantile:
        raise ConfigError(f"need 0 <= --valid-quantile < --test-quantile < 1; got {valid_quantile} and {test_quantile}")
    ks = parse_ks(k)
    if threads:
        import torch

        torch.set_num_threads(threads)
    data = {"dataset": dataset, "interactions": str(interactions) if interactions else None,
            "items": str(items) if items else None, "data_dir": str(data_dir) if data_dir else None,
            "user_col": user_col, "item_col": item_col, "timestamp_col": timestamp_col, "rating_col": rating_col,
            "order_col": order_col}
    split = {"method": "global_time", "test_quantile": test_quantile, "valid_quantile": valid_quantile}
    configs = model_configs(names, {k: v for k, v in data.items() if v is not None}, split, seed, set_ or [])
    first = configs[names[0]]
    if first.split.method != "global_time":
        raise ConfigError(f"cold-start needs split.method=global_time, got {first.split.method!r}")
    dataset_ = load_data(first.data, first.prepare)
    cold = cold_start_data(dataset_, first.split)
    instances = {name: get_model(config.model.name).create(config.model.params) for name, config in configs.items()}
    shared = config_to_dict(first)
    record = {"command": "lmrec " + " ".join(sys.argv[1:]), "seed": seed, "data": shared["data"],
              "prepare": shared["prepare"], "split": shared["split"],
              "models": {name: config_to_dict(c)["model"] for name, c in configs.items()}}
    console.print(f"{len(cold.test)} test users; {cold.n_items - cold.n_known} new items "
                  f"({cold.counts()['test_targets_new']} new-item targets), {cold.n_known} known", highlight=False)
    with ConsoleReporter() as progress:
        report = run_cold_start(cold, instances, options=EvalOptions(ks=ks, seed=seed), config=record,
                                progress=progress, log_line=lambda line: console.print(line, highlight=False,
                                                                                       soft_wrap=True))
    write_cold_start(report, out_dir)
    out.print(_table(report, ks[0]))
    out.print(f"-> {out_dir}/results.md")


def model_configs(names: list[str], data: dict[str, Any], split: dict[str, Any], seed: int,
                  sets: list[str]) -> dict[str, Any]:
    """One RunConfig per model, as `lmrec benchmark` builds them (`lmrec.pipeline.config.model_overrides`)."""
    from lmrec.config import merge, parse_overrides
    from lmrec.pipeline import build_config
    from lmrec.pipeline.config import model_overrides

    extra = parse_overrides(sets)
    base = {"data": data, "split": split, "seed": seed}
    return {name: build_config(None, merge(base, model_overrides(name, extra, tuple(names)))) for name in names}


def _table(report: Any, k: int) -> Table:
    table = Table(title=f"cold-start items: HR@{k} / NDCG@{k} by test-target subset")
    table.add_column("model")
    table.add_column("new items")
    for subset in ("all", "new", "known"):
        table.add_column(f"HR@{k} {subset}", justify="right")
        table.add_column(f"NDCG@{k} {subset}", justify="right")
    table.add_column("users new/all", justify="right")
    for row in report.models:
        cells = [f"{row.results[s].metrics.get(f'{m}@{k}', float('nan')):.4f}" for s in ("all", "new", "known")
                 for m in ("hr", "ndcg")]
        table.add_row(row.model, "scored" if row.scores_new_items else "-inf", *cells,
                      f"{row.results['new'].n_users}/{row.results['all'].n_users}")
    return table
