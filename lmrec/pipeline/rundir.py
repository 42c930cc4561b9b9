"""`RunDir`: the one owner of a run directory's layout and of its version pointer. Nothing else spells a path
inside RUN_DIR or reads update_state.json.

RUN_DIR layout (every file written atomically):
  config.yaml        full resolved config (data, prepare, split, model, eval, seed)
  model/             weights.safetensors + config.yaml + meta.json (the model's own artefact)
  ids.json           raw <-> dense ID maps of users and items
  split.npz          the frozen split (train events, valid/test holdouts), no pickles; its fingerprint in meta.json
  history.npz        every user's full chronological history (for `recommend --user`)
  catalog.parquet    item text and attributes, when the data has them (+ catalog.json: its field roles)
  meta.json          dataset digest and stats, split fingerprint, seed, device, versions, timings, peak memory
  metrics.json, per_user.csv, recommendations.csv, targets.csv     written by `lmrec evaluate`
  robustness.json    written by `lmrec robustness` (perturbation curves, shilling attacks, the defence)
  simulations/<name>/  `lmrec simulate RUN --out RUN/simulations/NAME` (results and PNG plots the /ui page shows)
  events.sqlite      the service's event log;  added_items.jsonl  items added through POST /items
  audit.jsonl        one line per write and erasure (who, when, how many; + audit.salt for subject hashes)
  update_state.json  {"version", "last_event_id", "updates", "carried_event_ids", ...}: which `lmrec update`
                     version is current, the event cursor, events kept aside for items the model does not know
  versions/<v>/      model/ + ids.json + history.npz + update.json of each committed update
  ray/               `lmrec fit --workers N`: Ray Train's storage (worker 0's checkpoint, the workers' results),
                     written before the run's own files
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmrec.config import show
from lmrec.errors import ModelFileError
from lmrec.io import atomic_write_json

REQUIRED = ("config.yaml", "ids.json", "split.npz", "history.npz", "meta.json", "model")
TRAINING_STORAGE = "ray"  # what a distributed fit writes into RUN_DIR before the run itself
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ModelFiles:
    """What a version holds, in RUN_DIR itself (the fitted model) or in versions/<v>/ (an update)."""

    folder: Path

    @property
    def model(self) -> Path:
        return self.folder / "model"

    @property
    def ids(self) -> Path:
        return self.folder / "ids.json"

    @property
    def history(self) -> Path:
        return self.folder / "history.npz"

    @property
    def update_info(self) -> Path:
        """update.json: what an update learned from (versions only)."""
        return self.folder / "update.json"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; `current()` follows the version pointer."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    # -- what `lmrec fit` writes -----------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def ids(self) -> Path:
        return self.root / "ids.json"

    @property
    def split(self) -> Path:
        return self.root / "split.npz"

    @property
    def history(self) -> Path:
        return self.root / "history.npz"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.parquet"

    @property
    def meta(self) -> Path:
        return self.root / "meta.json"

    # -- what `lmrec evaluate` writes ------------------------------------------------------------------------
    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def per_user(self) -> Path:
        return self.root / "per_user.csv"

    @property
    def recommendations(self) -> Path:
        return self.root / "recommendations.csv"

    @property
    def targets(self) -> Path:
        return self.root / "targets.csv"

    @property
    def prequential(self) -> Path:
        return self.root / "prequential.json"

    @property
    def robustness(self) -> Path:
        """robustness.json: `lmrec robustness` (perturbation curves, shilling attacks and the defence)."""
        return self.root / "robustness.json"

    @property
    def simulations(self) -> Path:
        """simulations/: `lmrec simulate` outputs kept with the run (the service's /ui shows their plots)."""
        return self.root / "simulations"

    def simulation_plots(self) -> dict[str, list[str]]:
        """{simulation name: its PNG file names}, for folders and files with plain names inside simulations/
        (links and anything resolving outside the run are skipped)."""
        found: dict[str, list[str]] = {}
        folder = self.simulations
        if not folder.is_dir() or folder.is_symlink():
            return found
        for sim in sorted(folder.iterdir()):
            if not VERSION_NAME.fullmatch(sim.name) or sim.is_symlink() or not sim.is_dir():
                continue
            plots = sorted(p.name for p in sim.iterdir() if p.suffix == ".png" and VERSION_NAME.fullmatch(p.name)
                           and p.is_file() and not p.is_symlink())
            if plots:
                found[sim.name] = plots
        return found

    def simulation_plot(self, name: str, plot: str) -> Path:
        """The PNG `plot` of simulation `name`; ModelFileError unless both are plain names of a file inside."""
        if not VERSION_NAME.fullmatch(name) or not VERSION_NAME.fullmatch(plot) or not plot.endswith(".png"):
            raise ModelFileError(f"simulations/{name}/{plot}: not a plot name")
        path = self.inside(self.simulations / name / plot)
        if not path.is_file() or (self.simulations / name).is_symlink():
            raise ModelFileError(f"simulations/{name}/{plot}: no such plot")
        return path

    @property
    def training_storage(self) -> Path:
        """ray/: where `lmrec fit --workers` keeps Ray Train's checkpoints (lmrec/pipeline/distributed.py)."""
        return self.root / TRAINING_STORAGE

    # -- what serving and updates write ----------------------------------------------------------------------
    @property
    def events(self) -> Path:
        return self.root / "events.sqlite"

    @property
    def added_items(self) -> Path:
        return self.root / "added_items.jsonl"

    @property
    def audit(self) -> Path:
        """audit.jsonl: one line per write and erasure (lmrec/online/audit.py)."""
        return self.root / "audit.jsonl"

    @property
    def update_state_file(self) -> Path:
        return self.root / "update_state.json"

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def update_lock(self) -> Path:
        return self.root / ".update.lock"

    def version(self, name: str) -> Path:
        """The folder of committed update `name` (its name never leaves `versions/`)."""
        if not VERSION_NAME.fullmatch(name or ""):
            raise ModelFileError(f"{self.update_state_file}: bad version name {show(name)} (letters, digits, '.', "
                                 "'_', '-'; not starting with '.')")
        return self.inside(self.versions / name)

    def inside(self, path: Path) -> Path:
        """`path` if it is no symlink and resolves inside RUN_DIR, else ModelFileError: a run directory someone
        tampered with cannot make lmrec read or write elsewhere (an event log linked to another file, a version
        folder linked out of the run)."""
        if path.is_symlink():
            raise ModelFileError(f"{path}: is a symbolic link; lmrec follows no links inside a run directory")
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ModelFileError(f"{path}: resolves outside the run directory {self.root}")
        return path

    # -- state -----------------------------------------------------------------------------------------------
    def require_complete(self) -> None:
        """ModelFileError naming what is missing unless `lmrec fit` finished writing this directory."""
        if not self.root.is_dir():
            raise ModelFileError(f"{self.root}: no such run directory")
        for name in REQUIRED:
            if not (self.root / name).exists():
                raise ModelFileError(f"{self.root}: missing {name}; not a complete lmrec run (did `lmrec fit` "
                                     "finish?)")

    def check_writable(self) -> None:
        """ModelFileError unless a fit may write here: a new or empty directory, or an earlier run that no
        `lmrec update` has versioned. Overwriting someone's other files, or refitting a run whose current model is
        an update (the refit would be written and never served), loses data without a word."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise ModelFileError(f"{root}: exists and is not a directory")
        if not root.is_dir() or not any(p.name != TRAINING_STORAGE for p in root.iterdir()):
            return  # new, empty, or holding only what this fit's distributed training wrote
        if not any((root / name).exists() for name in REQUIRED):  # a run, or one a crash cut short
            raise ModelFileError(f"{root}: is a non-empty directory but not an lmrec run; give --out a new or "
                                 "empty directory")
        if self.update_state().get("version") is not None:
            raise ModelFileError(f"{root}: `lmrec update` has versioned this run, and a refit would not be served;"
                                 " fit into a new directory")

    def update_state(self) -> dict[str, Any]:
        """update_state.json, or the state of a run never updated (version None, cursor 0, no updates)."""
        path = self.update_state_file
        if not path.is_file():
            return {"version": None, "last_event_id": 0, "updates": 0, "carried_event_ids": []}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: bad JSON and bad UTF-8 alike
            raise ModelFileError(f"{path}: unreadable update state ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise ModelFileError(f"{path}: unreadable update state (not a JSON object)")
        state = {"version": None, "last_event_id": 0, "updates": 0, "carried_event_ids": [], **state}
        counters = (state["last_event_id"], state["updates"], *state["carried_event_ids"]) \
            if isinstance(state["carried_event_ids"], list) else (None,)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counters):
            raise ModelFileError(f"{path}: last_event_id, updates and carried_event_ids must be non-negative "
                                 "integers")
        if state["version"] is not None and not isinstance(state["version"], str):
            raise ModelFileError(f"{path}: version must be a string or null")
        return state

    def commit_update_state(self, state: dict[str, Any]) -> None:
        """The single commit point of an update: replace update_state.json (pointer + cursor) atomically."""
        atomic_write_json(self.update_state_file, state)
        fsync_dir(self.root)

    def current(self) -> tuple[str | None, ModelFiles]:
        """(version, its model/ + ids.json + history.npz): RUN_DIR itself until `lmrec update` commits a
        version, then RUN_DIR/versions/<version> as update_state.json names it."""
        version = self.update_state().get("version")
        if version is None:
            return None, ModelFiles(self.root)
        folder = self.version(str(version))
        if not folder.is_dir():
            raise ModelFileError(f"{self.update_state_file}: names version {version!r} but {folder} is missing")
        return str(version), ModelFiles(folder)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
