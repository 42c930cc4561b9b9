"""`lmrec update RUN_DIR`: learn from the logged events and atomically make the new model current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import (
    EVENTS_URL_HELP,
    IMPRESSION_WEIGHT_HELP,
    LM_LR_SCALE_HELP,
    UPDATE_LM_HELP,
    RunDirArg,
    checked_events_url,
    friendly,
    out,
)


@friendly
def update(
    run_dir: RunDirArg,
    events: Annotated[Path | None, typer.Option("--events", help="Event log (default RUN_DIR/events.sqlite).")] = None,
    events_url: Annotated[str | None, typer.Option("--events-url", help=EVENTS_URL_HELP)] = None,
    epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs (sequence models).")] = None,
    replay_ratio: Annotated[float | None, typer.Option(help="Old windows replayed per new window.")] = None,
    lr: Annotated[float | None, typer.Option(help="Fine-tuning learning rate (default: the model's).")] = None,
    update_lm: Annotated[bool, typer.Option("--update-lm/--freeze-lm", help=UPDATE_LM_HELP)] = False,
    lm_lr_scale: Annotated[float | None, typer.Option(min=0.0, help=LM_LR_SCALE_HELP)] = None,
    impression_weight: Annotated[float | None, typer.Option(min=0.0, help=IMPRESSION_WEIGHT_HELP)] = None,
) -> None:
    """Learn from the events logged since the last update and atomically make the new model current."""
    from lmrec.online.updater import UpdateConfig, update_run
    from lmrec.pipeline.rundir import ModelFiles, RunDir

    given = {"epochs": epochs, "replay_ratio": replay_ratio, "lr": lr, "impression_weight": impression_weight,
             "freeze_text": not update_lm, "text_lr_scale": lm_lr_scale}
    config = UpdateConfig(**{key: value for key, value in given.items() if value is not None})
    if events is not None and events_url is not None:
        from lmrec.errors import ConfigError

        raise ConfigError("give --events FILE or --events-url URL, not both")
    layout = RunDir(run_dir)
    before = layout.update_state()
    version = update_run(run_dir, checked_events_url(events_url) or events, config=config)
    after = layout.update_state()
    if version == (before["version"] or "initial"):
        out.print(f"no new events; {run_dir} stays at version {version}", soft_wrap=True)
        return
    info = json.loads(ModelFiles(layout.version(version)).update_info.read_text())
    shown = (f", {info['impressions']} impressions, {info.get('impression_negatives', 0)} used as negatives"
             if info.get("impressions") else "")
    out.print(f"updated {run_dir} to version {version}: {info['new_events']} events "
              f"({info.get('carried_unknown_items', 0)} carried for unknown items, "
              f"{info.get('new_users', 0)} new users{shown}), "
              f"{info['mode']} in {info['seconds']:.1f}s; events up to id {after['last_event_id']}", soft_wrap=True)
