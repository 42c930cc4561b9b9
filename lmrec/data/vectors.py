"""Per-item vectors computed elsewhere (image or audio embeddings, a user's own model): read from a file and
aligned to the dataset's dense item index, so a model can fuse them as one more modality.

Formats: `.npy` (a [N, M] array plus `<name>.ids.txt`, one raw item ID per line, in the array's row order) or
`.npz` (arrays `ids` and `vectors`), or Parquet/CSV with an `item_id` column and either one list-valued `vector`
column or numeric columns (all of them the vector). Items the file does not list get zeros and a missing flag;
file items the data does not know are counted and left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.types import IdMap
from lmrec.errors import ConfigError, DataError
from lmrec.io import atomic_write

log = logging.getLogger(__name__)
MAX_DIM = 65_536


def read_item_vectors(path: str | Path, items: IdMap) -> tuple[np.ndarray, np.ndarray]:
    """(vectors [N, M] float32 aligned to `items`, present [N] bool)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("item vectors file not found", source=str(path))
    ids, matrix = _load(path)
    if matrix.ndim != 2 or len(ids) != len(matrix) or not 1 <= matrix.shape[1] <= MAX_DIM:
        raise DataError(f"item vectors must be [items, dim] with 1..{MAX_DIM} columns and one ID per row; got "
                        f"{matrix.shape} for {len(ids)} IDs", source=str(path))
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"item {ids[row]!r} has a non-finite value", source=str(path), line=row + 1,
                        field="vector")
    if len(set(ids)) != len(ids):
        raise DataError("an item ID appears twice", source=str(path), field="item_id")
    out = np.zeros((len(items), matrix.shape[1]), np.float32)
    present = np.zeros(len(items), bool)
    known, unknown = items.split_known(ids)
    keep = np.asarray([i in items for i in ids])
    out[known] = matrix[keep]
    present[known] = True
    if unknown:
        log.info("%s: %d item(s) not in the data, left out", path, len(unknown))
    if not present.any():
        raise DataError("no item of the file is in the data (do the IDs match the items file's?)", source=str(path))
    return out, present


def _load(path: Path) -> tuple[list[str], np.ndarray]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            listing = path.with_suffix(".ids.txt")
            if not listing.is_file():
                raise DataError(f"a .npy file needs its item IDs in {listing.name} (one per line)", source=str(path))
            ids = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
            return ids, np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return [str(i) for i in z["ids"].tolist()], np.asarray(z["vectors"], dtype=np.float32)
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"unreadable item vectors ({type(exc).__name__}: {str(exc)[:120]})", source=str(path)
                        ) from None
    if "item_id" not in frame.columns:
        raise DataError(f"item vectors need an 'item_id' column; found {list(frame.columns)[:10]}", source=str(path))
    ids = frame["item_id"].astype(str).tolist()
    if "vector" in frame.columns:
        try:
            matrix = np.stack([np.asarray(v, dtype=np.float32) for v in frame["vector"]])
        except ValueError:
            raise DataError("the 'vector' column must hold lists of one length", source=str(path),
                            field="vector") from None
        return ids, matrix
    numbers = frame.drop(columns="item_id").apply(pd.to_numeric, errors="coerce")
    return ids, numbers.to_numpy(np.float32)


def write_item_vectors(path: str | Path, ids: list[str], vectors: np.ndarray) -> Path:
    """The `.npz` that `model.item_vectors=` reads (arrays `ids`, `vectors`), written atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ConfigError(f"{path}: item vectors are written as .npz (arrays ids, vectors)")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy does not append a second .npz to the name
            np.savez(handle, ids=np.asarray(ids, dtype=str), vectors=vectors.astype(np.float32))

    atomic_write(path, write)
    return path
