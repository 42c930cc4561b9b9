"""Learn from new events without forgetting: fine-tune on the new windows plus a replayed sample of old ones.

`Updater.update(model, new, seen)` returns a *new* model (the served one is never touched mid-update):
- models with incremental updates (`IncrementalUpdates`: the sequence models): the windows that end in a new
  event, each with its user's earlier items as context, plus `replay_ratio` times as many windows sampled from the
  data seen before, a few epochs at a small learning rate; ID embeddings move with the new data, frozen text
  vectors stay as they are;
- every other model (pop, itemknn, ease, ...): a refit on everything seen so far (closed form, cheap).

`update_run(RUN_DIR)` does that for a run directory fed by the event log (RUN_DIR/events.sqlite), and commits
the result as one atomic step:

    RUN_DIR/versions/<version>/   model/ + ids.json + history.npz + update.json (written as .tmp-<version>,
                                  fsynced, then renamed into place)
    RUN_DIR/update_state.json     {"version", "last_event_id", ...}: the pointer and the event cursor in one file,
                                  replaced by an atomic rename (`RunDir.commit_update_state`); `load_run` follows
                                  it.

A crash before the pointer's rename leaves the previous version current and the cursor where it was, so the
next update reads the same events again; leftovers (`.tmp-*`, orphan versions) are removed on the next update.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data.types import Catalog, IdMap, Interactions, Sequences
from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.io import atomic_write_json
from lmrec.models.capabilities import IncrementalUpdates, supports
from lmrec.models.sequence.windows import training_windows
from lmrec.pipeline.artefacts import save_history, save_ids
from lmrec.pipeline.rundir import ModelFiles, RunDir, fsync_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdateConfig:
    """How to learn from a batch of new events.

    `lr` None: `lr_scale` times the model's own training rate. `replay_ratio`: old windows replayed per new
    window (0 = plain fine-tuning, which forgets). `freeze_text`: text and fused models keep their text part
    (the adapter from frozen LM vectors) fixed, so only ID embeddings and the sequence net move with new data;
    unfrozen, it learns at `text_lr_scale` times the update rate (the adapter moves every item at once).
    `keep_versions`: old version directories kept by update_run. `impression_weight`: weight of the impression
    loss (each chosen item against the items shown before it and passed over) when the update is given
    impressions; 0 ignores them. 0.1: at 1 they cost 0.015-0.026 NDCG@10 in the ml-100k replay
    (bench/results/feedback_lm), at 0.1 -0.001 to +0.001.
    """

    epochs: int = 2
    lr: float | None = None
    lr_scale: float = 1.0
    replay_ratio: float = 1.0
    seed: int = 0
    freeze_text: bool = True
    keep_versions: int = 2
    impression_weight: float = 0.1
    text_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.replay_ratio < 0 or self.lr_scale <= 0 or (self.lr is not None and self.lr <= 0):
            raise ConfigError(f"UpdateConfig needs epochs >= 1, replay_ratio >= 0 and a positive lr; got {self}")
        if self.text_lr_scale <= 0:
            raise ConfigError(f"UpdateConfig.text_lr_scale must be > 0 (freeze_text fixes the LM side); got "
                              f"{self.text_lr_scale}")
        if self.impression_weight < 0:
            raise ConfigError(f"UpdateConfig.impression_weight must be >= 0; got {self.impression_weight}")
        if self.keep_versions < 0:
            raise ConfigError(f"UpdateConfig.keep_versions must be >= 0; got {self.keep_versions}")


@dataclass(frozen=True, eq=False)
class UpdateResult:
    model: Any
    version: str
    info: dict = field(default_factory=dict)


class Updater:
    """Turns (model, new events, data seen before) into a new model; see the module docstring."""

    def __init__(self, config: UpdateConfig | None = None) -> None:
        self.config = config if config is not None else UpdateConfig()

    def update(self, model: Any, new: Interactions, seen: Interactions, *, catalog: Catalog | None = None,
               version: str | None = None, shown: Sequences | None = None) -> UpdateResult:
        """`new` and `seen` share one ID space (users may be new, items must be known to the model); each user's
        rows are chronological and every new event comes after the user's seen ones. `shown` (one row per row
        of `new`): the items shown to the user before that event and not chosen, negatives for models with
        incremental updates (a refit ignores them)."""
        started = time.perf_counter()
        n_users = max(new.n_users, seen.n_users)
        n_items = model.n_items_
        if len(new) and int(new.item.max()) >= n_items:
            raise DataError(f"new events name items the model does not know (it has {n_items} items)")
        new, seen = _widen(new, n_users, n_items), _widen(seen, n_users, n_items)
        version = version or new_version(new)
        if len(new) == 0:
            return UpdateResult(model, version, {"mode": "none", "new_events": 0, "seconds": 0.0})
        if shown is not None and len(shown) != len(new):
            raise DataError(f"{len(shown)} impression rows for {len(new)} new events; give one row per event")
        if shown is not None and len(shown.items) and int(shown.items.max()) >= n_items:
            raise DataError(f"impressions name items the model does not know (it has {n_items} items)")
        if supports(model, IncrementalUpdates):
            updated, info = self._fine_tune(model, new, seen, shown)
        else:
            updated = type(model)(model.config, name=model.name).to(model.device).fit(concat(seen, new),
                                                                                     catalog=catalog)
            info = {"mode": "refit", "train_events": len(seen) + len(new)}
        info = {**info, "new_events": len(new), "seconds": time.perf_counter() - started}
        log.info("update %s: %s", version, info)
        return UpdateResult(updated, version, info)

    def _fine_tune(self, model: Any, new: Interactions, seen: Interactions,
                   shown: Sequences | None) -> tuple[Any, dict]:
        cfg, max_len = self.config, model.update_context()
        combined = concat(seen, new)
        seqs = combined.sequences()
        spans = recent_window_spans(seqs, np.bincount(new.user, minlength=new.n_users), max_len)
        items = seqs.items
        fresh = [items[lo:hi] for lo, hi in spans]
        use_shown = shown is not None and cfg.impression_weight > 0 and len(shown.items) > 0
        fresh_shown = window_impressions(combined, len(seen), shown, spans) if use_shown else None
        old = training_windows(seen, max_len) if cfg.replay_ratio > 0 and len(seen) else []
        rng = np.random.default_rng([cfg.seed, int(new.digest()[:8], 16)])
        n_replay = min(len(old), int(round(cfg.replay_ratio * len(fresh))))
        replay = [old[i] for i in rng.choice(len(old), size=n_replay, replace=False)] if n_replay else []
        lr = cfg.lr if cfg.lr is not None else cfg.lr_scale * model.config.train.lr
        updated = copy.deepcopy(model)
        fit_log = updated.partial_fit(windows_as_interactions(fresh, model.n_items_), epochs=cfg.epochs,
                                      replay=windows_as_interactions(replay, model.n_items_) if replay else None,
                                      lr=lr, freeze_text=cfg.freeze_text, shown=fresh_shown,
                                      shown_weight=cfg.impression_weight, text_lr_scale=cfg.text_lr_scale)
        epochs = fit_log.get("epochs") or []
        negatives = 0 if fresh_shown is None else int(len(fresh_shown.items))
        return updated, {"mode": "partial_fit", "new_windows": len(fresh), "replay_windows": len(replay),
                         "epochs": len(epochs), "lr": lr, "loss": epochs[-1]["loss"] if epochs else None,
                         "text_updated": not cfg.freeze_text, "impression_negatives": negatives}


# -- windows and interactions ------------------------------------------------------------------------------------
def recent_windows(seqs: Sequences, n_new: np.ndarray, max_len: int) -> list[np.ndarray]:
    """Per user, the training windows (as `training_windows` cuts them, from the end) that predict at least one
    of the user's last `n_new[u]` items; earlier items of the window are the context."""
    return [seqs.items[lo:hi] for lo, hi in recent_window_spans(seqs, n_new, max_len)]


def recent_window_spans(seqs: Sequences, n_new: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """`recent_windows` as [lo, hi) spans of `seqs.items`."""
    spans = []
    for u in np.flatnonzero(n_new[: len(seqs)]):
        base, length = int(seqs.indptr[u]), int(seqs.lengths[u])
        first_new, end = length - int(n_new[u]), length
        while end >= 2 and end - 1 >= first_new:
            spans.append((base + max(0, end - max_len - 1), base + end))
            end -= max_len
    return spans


def window_impressions(combined: Interactions, n_seen: int, shown: Sequences,
                       spans: list[tuple[int, int]]) -> Sequences:
    """The impressions of every item of the windows `spans` cut from `combined.sequences()` (rows from
    `n_seen` on are the new events `shown` is aligned with; earlier items have none, nor has a window's first
    item, which is context only), one row per window item in `windows_as_interactions` order."""
    order = np.argsort(combined.user, kind="stable")  # flat sequence position -> row of `combined`
    empty = np.zeros(0, np.int64)
    rows = [shown.row(int(order[p]) - n_seen) if p > lo and order[p] >= n_seen else empty
            for lo, hi in spans for p in range(lo, hi)]
    return Sequences.from_lists(rows)


def windows_as_interactions(windows: list[np.ndarray], n_items: int) -> Interactions:
    """One pseudo-user per window, so `training_windows` gives each window back unchanged."""
    lengths = np.asarray([len(w) for w in windows], dtype=np.int64)
    items = np.concatenate(windows).astype(np.int64) if windows else np.zeros(0, np.int64)
    users = np.repeat(np.arange(len(windows)), lengths)
    order = np.arange(len(items), dtype=np.int64)
    return Interactions(users, items, order, len(windows), n_items)


def concat(a: Interactions, b: Interactions) -> Interactions:
    """Rows of `a` then rows of `b` (so each user's `a` events precede their `b` events in `sequences()`)."""
    value = None if a.value is None or b.value is None else np.concatenate([a.value, b.value])
    return Interactions(np.concatenate([a.user, b.user]).astype(np.int64),
                        np.concatenate([a.item, b.item]).astype(np.int64),
                        np.concatenate([a.timestamp, b.timestamp]).astype(np.int64),
                        max(a.n_users, b.n_users), max(a.n_items, b.n_items), value)


def _widen(inter: Interactions, n_users: int, n_items: int) -> Interactions:
    if inter.n_users == n_users and inter.n_items == n_items:
        return inter
    return Interactions(inter.user, inter.item, inter.timestamp, n_users, n_items, inter.value, inter.event)


def history_interactions(history: Sequences, n_users: int | None = None) -> Interactions:
    """A history store as Interactions (row order = each user's order; timestamps are positions)."""
    lengths = history.lengths
    users = np.repeat(np.arange(len(history)), lengths)
    return Interactions(users, history.items.astype(np.int64), np.arange(len(users), dtype=np.int64),
                        n_users or len(history), int(history.items.max(initial=-1)) + 1)


def new_version(new: Interactions) -> str:
    """Sortable and unique enough: UTC time to the microsecond plus the data digest."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}"
    return f"{stamp}-{new.digest()[:8]}"


# -- run directories ---------------------------------------------------------------------------------------------
def read_state(run_dir: str | Path) -> dict[str, Any]:
    """RUN_DIR/update_state.json, or the state of a run never updated (version None, cursor 0)."""
    return RunDir(run_dir).update_state()


def update_run(run_dir: str | Path, events_db: str | Path | None = None, *,
               config: UpdateConfig | None = None) -> str:
    """Learn from the events logged since the last update and atomically make the result current.

    Returns the current version (unchanged when there were no new events). Events naming unknown items are
    skipped (counted in update.json); unknown users become new users. One update at a time per run (a lock
    file); a second concurrent call fails at once instead of racing the first.
    """
    run_dir = Path(run_dir)
    with _exclusive(run_dir):
        return _update_run(run_dir, events_db, config or UpdateConfig())


def _update_run(run_dir: Path, events_db: str | Path | None, config: UpdateConfig) -> str:
    from lmrec.online.event_logs import is_url, open_event_log
    from lmrec.pipeline.load import load_run

    _clean_leftovers(run_dir)
    state = read_state(run_dir)
    run = load_run(run_dir)
    if not is_url(events_db):
        events_db = Path(events_db) if events_db else RunDir(run_dir).inside(RunDir(run_dir).events)
        if not events_db.is_file():
            raise ModelFileError(f"{events_db}: no event log (the service writes RUN_DIR/events.sqlite)")
    with open_event_log(events_db) as event_log:
        waiting = event_log.by_ids(state["carried_event_ids"])
        fresh = event_log.since(int(state["last_event_id"]))
    if not fresh and not any(e.item_id in run.items for e in waiting):
        return state["version"] or "initial"
    events = waiting + fresh
    cursor = int(fresh[-1].id) if fresh else int(state["last_event_id"])
    # events naming items this model does not know (added through POST /items after it was trained) are carried:
    # the cursor moves on, their ids stay in update_state.json, the service keeps them in users' histories and the
    # next update learns from them once the model knows the item
    # impressions are never positives; each one shown before a user's next chosen item is a negative for it
    impressions = sum(not e.shows_interest for e in events)
    events, shown_lists, unpaired = pair_impressions(events, run.items)
    carried = [int(e.id) for e in events if e.item_id not in run.items]
    users, new, skipped = events_as_interactions(events, run.users, run.items)
    shown = Sequences.from_lists([items for e, items in zip(events, shown_lists, strict=True)
                                  if e.item_id in run.items])
    if len(new) == 0:  # only unknown items (or impressions): move the cursor past them, keep the model
        if skipped:
            log.warning("%d events name items the model does not know; carried to the next update", skipped)
        RunDir(run_dir).commit_update_state({**state, "last_event_id": cursor, "carried_event_ids": carried,
                                             "updated_at": time.time()})
        return state["version"] or "initial"
    seen = history_interactions(run.history, len(users))
    result = Updater(config).update(run.model, new, seen, catalog=run.catalog, shown=shown,
                                    version=f"v{int(state['updates']) + 1:05d}-{new_version(new)}")
    history = concat(seen, new).sequences()
    info = {**result.info, "carried_unknown_items": skipped, "impressions": impressions,
            "impressions_unpaired": unpaired,
            "new_users": len(users) - len(run.users),
            "first_event_id": (fresh or events)[0].id, "last_event_id": cursor,
            "carried_in": len(waiting), "previous": state["version"]}
    write_version(run_dir, result.version, result.model, users, run.items, Sequences(history.indptr, history.items),
                  info)
    RunDir(run_dir).commit_update_state({**state, "version": result.version, "last_event_id": cursor,
                                         "carried_event_ids": carried, "updates": int(state["updates"]) + 1,
                                         "updated_at": time.time()})
    _prune(run_dir, result.version, config.keep_versions)
    return result.version


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    import fcntl

    if not run_dir.is_dir():
        raise ModelFileError(f"{run_dir}: no such run directory")
    with open(RunDir(run_dir).update_lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelFileError(f"{run_dir}: another `lmrec update` is running") from None
        yield


def pair_impressions(events: list, items: IdMap) -> tuple[list, list[np.ndarray], int]:
    """(the events that show interest, per such event the known items shown to its user since their previous
    one and not chosen by them anywhere in `events`, the number of impressions no later choice in `events`
    follows). Events in log order."""
    pending: dict[str, list[str]] = {}
    taken: dict[str, set[str]] = {}
    for event in events:
        if event.shows_interest:
            taken.setdefault(event.user_id, set()).add(event.item_id)
    chosen, shown = [], []
    for event in events:
        if not event.shows_interest:
            pending.setdefault(event.user_id, []).append(event.item_id)
            continue
        passed = [i for i in dict.fromkeys(pending.pop(event.user_id, []))
                  if i not in taken[event.user_id] and i in items]
        chosen.append(event)
        shown.append(items.indices(passed) if passed else np.zeros(0, np.int64))
    return chosen, shown, sum(len(v) for v in pending.values())


def events_as_interactions(events: list, users: IdMap, items: IdMap) -> tuple[IdMap, Interactions, int]:
    """Log events -> (grown user map, Interactions in id order, number skipped for unknown items)."""
    known = [e for e in events if e.item_id in items]
    raw_users = list(users.raw)
    index = {u: i for i, u in enumerate(raw_users)}
    for event in known:
        if event.user_id not in index:
            index[event.user_id] = len(raw_users)
            raw_users.append(event.user_id)
    grown = IdMap(np.asarray(raw_users, dtype=object), kind="user") if len(raw_users) > len(users) else users
    inter = Interactions(np.asarray([index[e.user_id] for e in known], dtype=np.int64),
                         items.indices(e.item_id for e in known),
                         np.asarray([e.timestamp for e in known], dtype=np.int64), len(grown), len(items))
    return grown, inter, len(events) - len(known)


def write_version(run_dir: Path, version: str, model: Any, users: IdMap, items: IdMap, history: Sequences,
                  info: dict) -> Path:
    """Write RUN_DIR/versions/<version>/ complete (via a .tmp- directory and a rename); not yet current."""
    layout = RunDir(run_dir)
    root, final = layout.versions, layout.version(version)
    tmp = root / f".tmp-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = ModelFiles(tmp)
    model.save(files.model)
    save_ids(files.ids, users, items)
    save_history(files.history, history)
    atomic_write_json(files.update_info, {"version": version, **info})
    _fsync_tree(tmp)
    if final.exists():  # an orphan of a crash between this rename and the commit; never the current version
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(root)
    return final


def _clean_leftovers(run_dir: Path) -> None:
    root = RunDir(run_dir).versions
    if root.is_dir():
        for tmp in root.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)


def _prune(run_dir: Path, current: str, keep: int) -> None:
    """Delete all but the newest `keep` versions besides the current one (orphans included)."""
    root = RunDir(run_dir).versions
    others = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != current),
                    key=lambda p: p.name)
    for path in others[: max(len(others) - keep, 0)]:
        shutil.rmtree(path, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [directory, *(p for p in directory.rglob("*") if p.is_dir())]:
        fsync_dir(path)
