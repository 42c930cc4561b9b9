"""Runs made from runs (`lmrec quantize`, `lmrec distill`): a new model written with the source run's split, ID
maps, histories and catalogue into a new directory that `evaluate`, `recommend`, `serve` and `update` read like
any other. The new run starts without the source's event log, added items, audit trail or evaluation files:
those belong to the source.
"""

from __future__ import annotations

from typing import Any

from lmrec.config import write_yaml
from lmrec.errors import ModelFileError
from lmrec.io import atomic_write_json
from lmrec.models.base import BaseRecommender
from lmrec.pipeline.artefacts import save_catalog, save_history, save_ids, save_split
from lmrec.pipeline.load import LoadedRun
from lmrec.pipeline.rundir import RunDir


def check_target(source: RunDir, target: RunDir) -> None:
    """ModelFileError unless `target` is a new or empty directory that neither is nor contains nor lies in
    `source` (checked before any work, so a refused directory costs nothing)."""
    root = target.root
    if root.exists() and not root.is_dir():
        raise ModelFileError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        raise ModelFileError(f"{root}: is not empty; give --out a new or empty directory")
    here, there = source.root.resolve(), root.resolve()
    if here == there or there.is_relative_to(here) or here.is_relative_to(there):
        raise ModelFileError(f"{root}: --out must lie outside the run {source.root}")
    if source.update_state().get("retrain_required"):
        raise ModelFileError(f"{source.root}: an erasure marked this run retrain_required; `lmrec fit` it again "
                             "before deriving a model from it")


def save_derived_run(source: LoadedRun, target: RunDir, model: BaseRecommender, config: dict[str, Any],
                     meta: dict[str, Any]) -> dict[str, Any]:
    """Write `model`, the run `config` (a full RunConfig dict) and the source's data artefacts into `target`;
    meta.json last, so the run is incomplete until everything else is there. Returns `meta`."""
    target.root.mkdir(parents=True, exist_ok=True)
    model.save(target.inside(target.model))
    write_yaml(target.inside(target.config), config)
    save_ids(target.inside(target.ids), source.users, source.items)
    save_history(target.inside(target.history), source.history)
    save_split(target.inside(target.split), source.split)
    if source.catalog is not None:
        save_catalog(target.inside(target.catalog), source.catalog)
    atomic_write_json(target.inside(target.meta), meta)
    return meta
