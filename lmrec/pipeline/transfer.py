"""Transfer as runs: a zero-shot or few-shot model on a target catalogue is an ordinary RUN_DIR (split, model,
metrics), so `lmrec evaluate / recommend / serve / compare` work on it unchanged.

    from lmrec.pipeline.transfer import pretrain_sources, transfer_run
    pretrain_sources([{"interactions": "office.csv", "items": "office_items.csv"}], "pre/")
    metrics = transfer_run("pre/", {"dataset": "ml-100k"}, "runs/zs")                       # zero-shot
    metrics = transfer_run("pre/", {"dataset": "ml-100k"}, "runs/fs", finetune="adapter",
                           overrides={"split": {"train_users": 0.05}})                     # few-shot
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmrec.config import merge, to_dict
from lmrec.pipeline.config import RunConfig, build_config
from lmrec.pipeline.evaluate import evaluate_run
from lmrec.pipeline.fit import fit_run
from lmrec.pipeline.load import load_run
from lmrec.train.progress import Reporter
from lmrec.transfer.finetune import pretrained_spec
from lmrec.transfer.pretrain import pretrain, resolve_pretrain_config

TRANSFER_MODELS = ("sasrec-text", "sasrec-fused")
# zero-shot blends the pre-trained net with these priors (lmrec/models/sequence/priors.py), weights searched on the
# target's validation holdout; `--set model.priors=` leaves the net alone
ZERO_SHOT_PRIORS = ("text", "pop")


def transfer_overrides(pretrained: str | Path, *, finetune: str = "none", model: str | None = None) -> dict[str, Any]:
    """The `model` config section that starts `model` (default: the checkpoint's own) from a checkpoint: the
    checkpoint's architecture, encoder and training settings, plus `pretrained` and `finetune`."""
    name, config = pretrained_spec(pretrained)
    params = to_dict(config)
    params.pop("item_repr", None)
    params.update(pretrained=str(Path(pretrained).resolve()), finetune=finetune)
    if finetune == "none":  # the net may not carry to this catalogue: blend it with text similarity and popularity
        params.update(priors=list(ZERO_SHOT_PRIORS), prior_weights=None)
    return {"model": {"name": model or name, **params}}


def transfer_config(pretrained: str | Path, data: dict[str, Any], *, finetune: str = "none",
                    model: str | None = None, overrides: dict[str, Any] | None = None, seed: int = 0) -> RunConfig:
    """A RunConfig on target `data` (a data section: dataset or interactions/items + columns)."""
    tree = merge(transfer_overrides(pretrained, finetune=finetune, model=model), {"data": data, "seed": seed})
    return build_config(tree, overrides or {})


def transfer_run(pretrained: str | Path, data: dict[str, Any], out: str | Path, *, finetune: str = "none",
                 model: str | None = None, overrides: dict[str, Any] | None = None, seed: int = 0,
                 progress: Reporter | None = None, device: Any = "auto") -> dict[str, Any]:
    """Fit (zero-shot: just place the target's items by their text) and evaluate on the target; returns the
    metrics written to `out`/metrics.json."""
    config = transfer_config(pretrained, data, finetune=finetune, model=model, overrides=overrides, seed=seed)
    fit_run(config, out, progress=progress, device=device)
    return evaluate_run(load_run(out, device=device), progress=progress)


def pretrain_sources(sources: list[dict[str, Any]], out: str | Path, *, overrides: dict[str, Any] | None = None,
                     seed: int = 0, progress: Reporter | None = None, device: Any = "auto") -> dict[str, Any]:
    """Pre-train on `sources` (data sections) and write `out`; returns its meta.json."""
    config = resolve_pretrain_config(merge({"sources": sources, "seed": seed}, overrides or {}))
    return pretrain(config, out, progress=progress, device=device)
