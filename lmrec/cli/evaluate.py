"""`lmrec evaluate RUN_DIR`: full-ranking evaluation, optionally through re-ranking stages (`--rerank mmr:0.7`),
exactly as the service ranks."""

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
    SetOpt,
    friendly,
    out,
    parse_ks,
    warn,
)
from lmrec.cli.steps import metrics_table, run_prequential, zero_shot_run
from lmrec.errors import LmrecError


@friendly
def evaluate(
    run_dir: Annotated[Path | None, typer.Argument(help="A directory written by `lmrec fit`.")] = None,
    k: Annotated[str, typer.Option("-k", help="Cut-offs, comma-separated.")] = "10,20",
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen/--include-seen",
                                               help="Mask each user's history items.")] = True,
    rerank: Annotated[list[str] | None, typer.Option("--rerank", help="Re-ranking stage after retrieval, as the "
                                                     "service runs it: mmr:LAMBDA, calibrated:LAMBDA[:FIELD] or "
                                                     "fair:LAMBDA[:FIELD] (repeatable).")] = None,
    rank_with: Annotated[Path | None, typer.Option("--rank-with", help="A ranking model's run (`-m dcn`) on the "
                                                   "same split: it re-orders the retrieved top N.")] = None,
    rank_candidates: Annotated[int, typer.Option(min=1, help="With --rank-with: N, the retrieved items it "
                                                 "re-orders.")] = 100,
    rank_weight: Annotated[str, typer.Option(help="With --rank-with: the ranker's weight beside the retriever's "
                                             "score (z-scored): auto (chosen on validation), alone, or W.")
                           ] = "auto",
    content_filter: Annotated[Path | None, typer.Option("--filter", help="Content rules (YAML/JSON: blocked "
                                                        "categories, keywords, patterns, similar_to): the items "
                                                        "they remove are never recommended.")] = None,
    users: Annotated[int | None, typer.Option("--users", min=1, help="Evaluate a random subset of N users "
                                              "of each holdout (seeded by the run: the same users for every run "
                                              "on the split).")] = None,
    test_only: Annotated[bool, typer.Option("--test-only", help="Skip the validation holdout.")] = False,
    device: DeviceOpt = "auto",
    prequential: Annotated[bool, typer.Option("--prequential", hidden=True,
                                              help="Deprecated: use `lmrec prequential RUN_DIR`.")] = False,
    chunk_days: Annotated[float, typer.Option(hidden=True, help="Deprecated, with --prequential.")] = 7.0,
    zero_shot: Annotated[Path | None, typer.Option("--zero-shot", hidden=True,
                                                   help="Deprecated: use `lmrec zero-shot CHECKPOINT`.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", hidden=True, help="Deprecated, with --zero-shot.")
                       ] = None,
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    set_: SetOpt = None,
    order_col: Annotated[str | None, typer.Option(hidden=True, help="Deprecated, with --zero-shot.")] = None,
) -> None:
    """Full-ranking evaluation; writes metrics.json, per_user.csv, recommendations.csv and targets.csv into
    RUN_DIR."""
    from lmrec.pipeline import evaluate_run, load_run
    from lmrec.ranking.filters import load_rules

    ks = parse_ks(k)
    if zero_shot is not None:
        warn("`lmrec evaluate --zero-shot` is deprecated; use `lmrec zero-shot CHECKPOINT ... --out RUN_DIR`")
        if out_dir is None:
            raise LmrecError("--zero-shot needs --out RUN_DIR for the run it writes")
        run_dir = zero_shot_run(zero_shot, out_dir, set_=set_, device=device, dataset=dataset,
                                interactions=interactions, items=items, data_dir=data_dir, order_col=order_col)
    elif run_dir is None or out_dir is not None:
        raise LmrecError("give RUN_DIR (for a zero-shot run: `lmrec zero-shot CHECKPOINT ... --out RUN_DIR`)")
    if prequential:
        warn("`lmrec evaluate --prequential` is deprecated; use `lmrec prequential RUN_DIR`")
        run_prequential(run_dir, k=ks[0], exclude_seen=exclude_seen, chunk_days=chunk_days, device=device)
        return
    run = load_run(run_dir, device=device)
    rules = load_rules(content_filter) if content_filter is not None else None
    ranker = load_run(rank_with, device=device) if rank_with is not None else None
    with ConsoleReporter() as progress:
        results = evaluate_run(run, ks=ks, exclude_seen=exclude_seen, rerank=rerank or (), progress=progress,
                               rank_with=ranker, rank_candidates=rank_candidates, rank_weight=rank_weight,
                               content_filter=rules, users=users, test_only=test_only)
    out.print(metrics_table(run, results))
    print_task_metrics(results.get("tasks"))
    if "filter" in results:
        removed = results["filter"]["removed"]
        out.print(f"filter {results['filter']['rules']}: removed {removed['total']} items ("
                  + ", ".join(f"{k} {v}" for k, v in removed.items() if k != "total") + ")",
                  soft_wrap=True, highlight=False, markup=False)
    out.print(f"wrote {run.run_dir.metrics}, recommendations.csv, targets.csv", soft_wrap=True)


def print_task_metrics(tasks: dict | None) -> None:
    """One line per head beside the ranking table: RMSE/MAE with CIs, AUC/log-loss on sampled candidates."""
    if not tasks:
        return
    rating = tasks.get("rating")
    if isinstance(rating, dict):
        ci = rating["ci"]
        out.print(f"rating: RMSE {rating['rmse']:.4f} [{ci['rmse'][0]:.4f}, {ci['rmse'][1]:.4f}], MAE "
                  f"{rating['mae']:.4f} [{ci['mae'][0]:.4f}, {ci['mae'][1]:.4f}] over {rating['n']} rated test "
                  "events", soft_wrap=True, highlight=False)
    elif rating:
        out.print(f"rating: {rating}", soft_wrap=True, highlight=False)
    click = tasks.get("click")
    if click:
        out.print(f"click: AUC {click['auc']:.4f}, log-loss {click['log_loss']:.4f} over {click['n']} pairs "
                  "(test events vs sampled candidates)", soft_wrap=True, highlight=False)
