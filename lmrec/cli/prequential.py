"""`lmrec prequential RUN_DIR`: replay the test period in time order, static model vs online-updated model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lmrec.cli.common import DeviceOpt, RunDirArg, friendly, out


@friendly
def prequential(
    run_dir: RunDirArg,
    k: Annotated[int, typer.Option("-k", min=1, help="Cut-off.")] = 10,
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen/--include-seen",
                                               help="Mask each user's history items.")] = True,
    chunk_days: Annotated[float, typer.Option(help="Days per chunk of the replayed period.")] = 7.0,
    device: DeviceOpt = "auto",
) -> None:
    """Test-then-train on a global-time run: each chunk is predicted, then learnt (online) or not (static);
    writes prequential.json."""
    run_prequential(run_dir, k=k, exclude_seen=exclude_seen, chunk_days=chunk_days, device=device)


def run_prequential(run_dir: Path, *, k: int, exclude_seen: bool, chunk_days: float, device: str) -> None:
    from lmrec.io import atomic_write_json
    from lmrec.online.prequential import PrequentialConfig, prequential_run
    from lmrec.pipeline import load_run

    run = load_run(run_dir, device=device)
    config = PrequentialConfig(chunk_days=chunk_days, k=k, exclude_seen=exclude_seen)
    results = prequential_run(run, config=config)
    atomic_write_json(run.run_dir.prequential, results)
    table = Table(title=f"prequential {run.config.model.name}: static vs online, {len(results['static']['chunks'])} "
                        f"chunks of {chunk_days:g} days")
    for column in ("part", "events", "metric", "static", "online", "diff [95% CI]", "p"):
        table.add_column(column)
    for part, entry in results["compare"].items():
        for metric in (f"hr@{k}", f"ndcg@{k}"):
            m = entry[metric]
            lo, hi = m["paired"]["ci"]
            table.add_row(part, str(entry["events"]), metric, f"{m['static']:.4f}", f"{m['online']:.4f}",
                          f"{m['paired']['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]", f"{m['paired']['p_value']:.3g}")
    out.print(table)
    probe = results["online"]["probe"]
    if probe:
        out.print(f"forgetting probe ndcg@{k}: {probe[0][f'ndcg@{k}']:.4f} before updates, "
                  f"{probe[-1][f'ndcg@{k}']:.4f} after")
    out.print(f"wrote {run.run_dir.prequential}", soft_wrap=True)
