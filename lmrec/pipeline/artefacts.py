"""The files of a run directory that hold data (split, catalogue, ID maps, histories): written atomically, read
back without pickles, checked against their recorded fingerprint."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.config import shorten
from lmrec.data.split import Holdout, Split
from lmrec.data.types import Catalog, IdMap, Interactions, Sequences
from lmrec.errors import LmrecError, ModelFileError
from lmrec.io import atomic_write, atomic_write_json


def save_ids(path: Path, users: IdMap, items: IdMap) -> None:
    atomic_write_json(path, {"users": users.raw.tolist(), "items": items.raw.tolist()})


def load_ids(path: Path) -> tuple[IdMap, IdMap]:
    try:
        ids = json.loads(path.read_text())
        return IdMap(ids["users"], kind="user"), IdMap(ids["items"], kind="item")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: unreadable ID maps ({exc})") from None


def save_history(path: Path, history: Sequences) -> None:
    arrays = {"indptr": history.indptr, "items": history.items}
    if history.times is not None and len(history.times) == len(history.items):
        arrays["times"] = history.times  # time-aware models read them when serving
    atomic_write(path, lambda tmp: np.savez(open(tmp, "wb"), **arrays))


def load_history(path: Path) -> Sequences:
    try:
        with np.load(path, allow_pickle=False) as z:
            return _checked(Sequences(z["indptr"], z["items"], z["times"] if "times" in z.files else None))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, LmrecError) as exc:
        raise ModelFileError(f"{path}: unreadable history ({type(exc).__name__})") from None


def _checked(seqs: Sequences) -> Sequences:
    """ValueError unless the layout is consistent (indptr from 0 to the item count, times item for item)."""
    if len(seqs.indptr) == 0 or seqs.indptr[0] != 0 or seqs.indptr[-1] != len(seqs.items) or (
            np.diff(seqs.indptr) < 0).any():
        raise ValueError("inconsistent row offsets")
    if seqs.times is not None and len(seqs.times) != len(seqs.items):
        raise ValueError(f"{len(seqs.times)} timestamps for {len(seqs.items)} items")
    return seqs


def save_split(path: Path, split: Split) -> None:
    arrays: dict[str, np.ndarray] = {
        "train_user": split.train.user, "train_item": split.train.item, "train_timestamp": split.train.timestamp,
        "shape": np.asarray([split.train.n_users, split.train.n_items]),
    }
    if split.train.value is not None:
        arrays["train_value"] = split.train.value
    for name, holdout in (("valid", split.valid), ("test", split.test)):
        if holdout is None:
            continue
        arrays[f"{name}_users"] = holdout.users
        for part in ("inputs", "targets"):
            seqs: Sequences = getattr(holdout, part)
            arrays[f"{name}_{part}_indptr"], arrays[f"{name}_{part}_items"] = seqs.indptr, seqs.items
            if seqs.times is not None and len(seqs.times) == len(seqs.items):
                arrays[f"{name}_{part}_times"] = seqs.times
    info = json.dumps({**split.info, "fingerprint": split.fingerprint()})
    arrays["info"] = np.frombuffer(info.encode(), dtype=np.uint8)
    atomic_write(path, lambda tmp: np.savez(open(tmp, "wb"), **arrays))


def load_split(path: Path) -> Split:
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; not an lmrec run directory") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: unreadable split ({exc})") from None
    try:
        split = _split_from_arrays(a)
    except (KeyError, ValueError, TypeError, LmrecError) as exc:
        raise ModelFileError(f"{path}: not a split written by lmrec ({exc})") from None
    if split.fingerprint() != split.info.get("fingerprint"):
        raise ModelFileError(f"{path}: split content does not match its recorded fingerprint (file altered?)")
    return split


def _split_from_arrays(a: dict[str, np.ndarray]) -> Split:
    n_users, n_items = (int(v) for v in a["shape"])
    train = Interactions(a["train_user"], a["train_item"], a["train_timestamp"], n_users, n_items,
                         a.get("train_value"))

    def holdout(name: str) -> Holdout | None:
        if f"{name}_users" not in a:
            return None
        inputs, targets = (_checked(Sequences(a[f"{name}_{p}_indptr"], a[f"{name}_{p}_items"],
                                              a.get(f"{name}_{p}_times"))) for p in ("inputs", "targets"))
        return Holdout(a[f"{name}_users"], inputs, targets)

    info = json.loads(bytes(a["info"]).decode())
    return Split(train, holdout("valid"), holdout("test"), info)


def save_catalog(path: Path, catalog: Catalog) -> None:
    frame = catalog.frame.copy()
    frame.attrs = {}
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    meta = {"text_fields": list(catalog.text_fields), "categorical": list(catalog.categorical),
            "numeric": list(catalog.numeric)}
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    atomic_write_json(path.with_suffix(".json"), meta)


def load_catalog(path: Path) -> Catalog | None:
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        fields = tuple(meta["text_fields"]), tuple(meta["categorical"]), tuple(meta["numeric"])
        frame = pd.read_parquet(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable catalogue ({type(exc).__name__}: {shorten(str(exc))})") from None
    for column in frame.columns:
        if str(frame[column].dtype) == "string":
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    try:
        return Catalog(frame, *fields)
    except (LmrecError, KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a catalogue written by lmrec ({shorten(str(exc))})") from None
