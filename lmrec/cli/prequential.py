"""`lmrec prequential RUN_DIR`: replay the test period in time order, static model vs online-updated model."""

from __future__ import annotations

from typing import Annotated

import typer

from lmrec.cli.common import IMPRESSION_WEIGHT_HELP, LM_LR_SCALE_HELP, UPDATE_LM_HELP, DeviceOpt, RunDirArg, friendly
from lmrec.cli.steps import run_prequential


@friendly
def prequential(
    run_dir: RunDirArg,
    k: Annotated[int, typer.Option("-k", min=1, help="Cut-off.")] = 10,
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen/--include-seen",
                                               help="Mask each user's history items.")] = True,
    chunk_days: Annotated[float, typer.Option(help="Days per chunk of the replayed period.")] = 7.0,
    update_lm: Annotated[bool, typer.Option("--update-lm/--freeze-lm", help=UPDATE_LM_HELP)] = False,
    lm_lr_scale: Annotated[float, typer.Option(min=0.0, help=LM_LR_SCALE_HELP)] = 1.0,
    impressions: Annotated[bool, typer.Option(
        help="Take each event's top k as shown to the user: the items in it not chosen are impressions "
             "(negatives) for the online updates.")] = False,
    impression_weight: Annotated[float, typer.Option(min=0.0, help=IMPRESSION_WEIGHT_HELP)] = 0.1,
    device: DeviceOpt = "auto",
) -> None:
    """Test-then-train on a global-time run: each chunk is predicted, then learnt (online) or not (static);
    writes prequential.json."""
    from lmrec.online.updater import UpdateConfig

    update = UpdateConfig(freeze_text=not update_lm, impression_weight=impression_weight, text_lr_scale=lm_lr_scale)
    run_prequential(run_dir, k=k, exclude_seen=exclude_seen, chunk_days=chunk_days, device=device,
                    impressions=impressions, update=update)
