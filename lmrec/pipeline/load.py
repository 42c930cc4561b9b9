"""A run directory read back: everything `evaluate`, `recommend`, `serve` and `update` need, from RUN_DIR alone
(the current `lmrec update` version's model, IDs and histories when one is committed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmrec.config import read_yaml
from lmrec.data.split import Split
from lmrec.data.types import Catalog, IdMap, Sequences
from lmrec.device import resolve_device
from lmrec.errors import DataError, LmrecError, ModelFileError
from lmrec.models.base import BaseRecommender, load_model
from lmrec.pipeline.artefacts import load_catalog, load_history, load_ids, load_split
from lmrec.pipeline.config import RunConfig, resolve_config
from lmrec.pipeline.rundir import RunDir


@dataclass
class LoadedRun:
    """A run directory in memory."""

    directory: Path
    config: RunConfig
    model: BaseRecommender
    users: IdMap
    items: IdMap
    split: Split
    history: Sequences
    catalog: Catalog | None
    meta: dict[str, Any]
    version: str | None = None  # the `lmrec update` version in use; None = the model `lmrec fit` wrote

    @property
    def run_dir(self) -> RunDir:
        return RunDir(self.directory)


def load_run(directory: str | Path, *, device: str | torch.device | None = "cpu") -> LoadedRun:
    """Read RUN_DIR (the current version's model, on `device`); ModelFileError naming the file when a part is
    missing or unreadable."""
    run_dir = RunDir(directory)
    run_dir.require_complete()
    try:
        config = resolve_config(read_yaml(run_dir.config))
    except LmrecError as exc:
        raise ModelFileError(f"{run_dir.config}: {exc}") from None
    version, current = run_dir.current()
    users, items = load_ids(current.ids)
    try:
        meta = json.loads(run_dir.meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON and bad UTF-8 alike
        raise ModelFileError(f"{run_dir.meta}: unreadable ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{run_dir.meta}: not a JSON object")
    model = load_model(current.model, device=resolve_device(device))
    history = load_history(current.history)
    if model.n_items_ != len(items):
        raise ModelFileError(f"{current.ids}: {len(items)} item IDs, but the model scores {model.n_items_} items")
    if len(history) > len(users):
        raise ModelFileError(f"{current.history}: {len(history)} user histories for {len(users)} user IDs in "
                             f"{current.ids}")
    split = load_split(run_dir.split)
    if split.train.n_items > len(items) or split.train.n_users > len(users):
        raise ModelFileError(f"{run_dir.split}: indexes {split.train.n_users} users and {split.train.n_items} "
                             f"items; {current.ids} has {len(users)} and {len(items)}")
    return LoadedRun(run_dir.root, config, model, users, items, split, history, load_catalog(run_dir.catalog), meta,
                     version)


def history_for(run: LoadedRun, *, user: str | None = None,
                items: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The item history for a known user, or for a raw list of item IDs (unknown IDs returned, not fatal)."""
    if user is not None:
        from lmrec.data.pseudonym import stored_user_id

        return run.history.row(run.users.index(stored_user_id(user, run.config.data.pseudonymize))), []
    known, unknown = run.items.split_known(items or [])
    if not len(known):
        raise DataError(f"none of the history items are known: {unknown[:5]}", field="history")
    return known, unknown
