"""Erasing one user from a run directory (`lmrec forget RUN --user ID`, `DELETE /users/{id}`).

What is erased, everywhere in RUN_DIR:
  events.sqlite       every event of the user (deleted with SQLite's secure_delete, so the freed pages are zeroed)
  history.npz         the user's stored history, in RUN_DIR and in every `lmrec update` version
  ids.json            the user's ID, replaced by a random tombstone (no index shifts, nothing links back)
  split.npz           the user's training events and validation/test rows (meta.json gets the new fingerprint)
  per_user.csv, recommendations.csv, targets.csv     the user's rows
  model/              the user's attribute row, in a model that reads user attributes (sasrec-attr, pop-demo, dcn)
What is not: the rest of the model weights, which were trained with the user's events: update_state.json records
`retrain_required`, and only a new `lmrec fit` removes that influence (`lmrec update` fine-tunes the weights it
has; it trains on nothing of the user's from then on). Aggregate metrics in metrics.json are not recomputed.
Each erasure is one line in the audit log (who, when, how much; the user as a salted hash, never the ID).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.split import Holdout, Split
from lmrec.data.types import IdMap, Sequences
from lmrec.errors import ModelFileError, UnknownIdError
from lmrec.io import atomic_write, atomic_write_json, spreadsheet_safe
from lmrec.online.audit import AuditLog
from lmrec.online.event_logs import EventStore, open_event_log
from lmrec.pipeline.artefacts import load_history, load_ids, load_split, save_history, save_ids, save_split
from lmrec.pipeline.rundir import ModelFiles, RunDir


def forget_user(run_dir: str | Path, user_id: str, *, who: str = "cli", events: EventStore | None = None,
                events_url: str | None = None) -> dict:
    """Erase `user_id` (as the run stores it: the pseudonym in a pseudonymous run) from RUN_DIR; returns what was
    removed. UnknownIdError when the run holds nothing of the user. `events` is the open event log to use (the
    service's); else the PostgreSQL log at `events_url`; else RUN_DIR/events.sqlite when it exists."""
    layout = RunDir(run_dir)
    layout.require_complete()
    removed: dict[str, Any] = {"events": 0, "histories": 0, "split_rows": 0, "evaluation_rows": 0}
    if events is not None:
        removed["events"] = events.erase_user(user_id)
    elif events_url is not None or layout.events.exists():
        with open_event_log(events_url or layout.inside(layout.events)) as log:
            removed["events"] = log.erase_user(user_id)
    versions = sorted(layout.versions.iterdir()) if layout.versions.is_dir() else []
    folders = [ModelFiles(layout.root)] + [ModelFiles(layout.inside(p)) for p in versions
                                           if p.is_dir() and not p.name.startswith(".")]
    index = None
    for files in folders:
        found = _erase_from_version(files, user_id)
        if files.folder == layout.root:
            index = found
        removed["histories"] += found is not None
    if index is not None:
        removed["split_rows"] = _erase_from_split(layout, index)
    removed["evaluation_rows"] = _erase_from_evaluation(layout, user_id)
    if not any(removed.values()):
        raise UnknownIdError("unknown user ID: the run holds no history and no events of this user", field="user_id")
    state = layout.update_state()
    layout.commit_update_state({**state, "retrain_required": True, "erasures": int(state.get("erasures", 0)) + 1})
    AuditLog(layout.audit).record("erase", who=who, subject=user_id, count=sum(removed.values()), **removed)
    return removed


def _erase_from_version(files: ModelFiles, user_id: str) -> int | None:
    """Empty the user's history row and tombstone their ID in one version folder; returns their index."""
    users, items = load_ids(files.ids)
    if user_id not in users:
        return None
    index = users.index(user_id)
    history = load_history(files.history)
    rows = [history.row(r) if r != index else np.zeros(0, np.int64) for r in range(len(history))]
    times = None
    if history.times is not None:
        times = [history.times[history.indptr[r]:history.indptr[r + 1]] if r != index else np.zeros(0, np.int64)
                 for r in range(len(history))]
    save_history(files.history, Sequences.from_lists(rows, times))
    raw = users.raw.copy()
    raw[index] = f"~erased-{secrets.token_hex(12)}"
    save_ids(files.ids, IdMap(raw, kind="user"), items)
    _erase_attributes(files, index)
    return index


def _erase_attributes(files: ModelFiles, index: int) -> bool:
    """Remove user `index`'s attribute row from the version's model, when it reads user attributes."""
    from lmrec.models.base import WEIGHTS, load_model
    from lmrec.models.capabilities import UserAttributes, supports

    if not (files.model / WEIGHTS).exists():
        return False
    model = load_model(files.model)
    if not supports(model, UserAttributes) or not model.forget_user_attributes(index):
        return False
    model.save(files.model)
    return True


def _erase_from_split(layout: RunDir, index: int) -> int:
    split = load_split(layout.split)
    keep = split.train.user != index
    valid = _without(split.valid, index) if split.valid is not None else None
    test = _without(split.test, index)
    erased = Split(split.train.select(keep), valid, test,
                   {k: v for k, v in split.info.items() if k != "fingerprint"})
    removed = int((~keep).sum()) + len(split.test) - len(test) + (len(split.valid) - len(valid) if valid else 0)
    save_split(layout.split, erased)
    meta = json.loads(layout.meta.read_text(encoding="utf-8"))
    meta["split"] = {**meta.get("split", {}), "fingerprint": erased.fingerprint()}
    meta["erased_users"] = int(meta.get("erased_users", 0)) + 1
    atomic_write_json(layout.meta, meta)
    return removed


def _without(holdout: Holdout, index: int) -> Holdout:
    rows = np.flatnonzero(holdout.users != index)
    return Holdout(holdout.users[rows], holdout.inputs.take(rows), holdout.targets.take(rows))


def _erase_from_evaluation(layout: RunDir, user_id: str) -> int:
    written = spreadsheet_safe([user_id])[0]
    removed = 0
    for path in (layout.per_user, layout.recommendations, layout.targets):
        if not path.is_file():
            continue
        try:
            frame = pd.read_csv(path, dtype={"user_id": str}, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: unreadable ({type(exc).__name__})") from None
        mine = frame["user_id"] == written
        if mine.any():
            removed += int(mine.sum())
            atomic_write(path, lambda tmp, kept=frame[~mine]: kept.to_csv(tmp, index=False))
    return removed
