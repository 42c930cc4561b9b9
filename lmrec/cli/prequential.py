"""`lmrec prequential RUN_DIR`: replay the test period in time order, static model vs online-updated model."""

from __future__ import annotations

from typing import Annotated

import typer

from lmrec.cli.common import DeviceOpt, RunDirArg, friendly
from lmrec.cli.steps import run_prequential


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
