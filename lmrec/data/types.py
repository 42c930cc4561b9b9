"""The vocabulary every module shares: ID maps, interactions, ragged sequences, histories, catalogue, dataset.

Conventions: users and items are dense indices 0..n-1 (score columns are item indices); `Histories` pads with
PAD = -1, which is never a valid index (torch embedding lookups fail loudly on it instead of silently reading
item 0). Interactions inside a `Dataset` are sorted by (user, timestamp, original row order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from lmrec.errors import DataError, UnknownIdError

PAD = -1


def _hash_arrays(*arrays: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"<none>")
            continue
        array = np.ascontiguousarray(array)
        if array.dtype == object:
            digest.update("\x1f".join(map(str, array.tolist())).encode("utf-8"))
        else:
            digest.update(str(array.dtype).encode() + str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class IdMap:
    """Raw string IDs <-> dense indices; `raw[i]` is the raw ID of index i."""

    raw: np.ndarray
    kind: str = "item"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = np.asarray([str(v) for v in self.raw], dtype=object)
        object.__setattr__(self, "raw", raw)
        index = {value: i for i, value in enumerate(raw.tolist())}
        if len(index) != len(raw):
            raise DataError(f"duplicate raw {self.kind} IDs in ID map")
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, raw_id: object) -> bool:
        return str(raw_id) in self._index

    def index(self, raw_id: object) -> int:
        """Dense index of one raw ID; UnknownIdError names it."""
        try:
            return self._index[str(raw_id)]
        except KeyError:
            raise UnknownIdError(f"unknown {self.kind} ID {raw_id!r}", field=f"{self.kind}_id") from None

    def indices(self, raw_ids: Iterable[object]) -> np.ndarray:
        return np.fromiter((self.index(r) for r in raw_ids), dtype=np.int64)

    def split_known(self, raw_ids: Iterable[object]) -> tuple[np.ndarray, list[str]]:
        """(indices of the known IDs in order, list of unknown raw IDs): for inputs where unknowns are reported."""
        known, unknown = [], []
        for raw_id in raw_ids:
            position = self._index.get(str(raw_id))
            (unknown.append(str(raw_id)) if position is None else known.append(position))
        return np.asarray(known, dtype=np.int64), unknown

    def to_raw(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        return self.raw[np.asarray(indices, dtype=np.int64)]

    def digest(self) -> str:
        return _hash_arrays(self.raw)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Columnar user-item events in a fixed ID space of `n_users` x `n_items`."""

    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    n_users: int
    n_items: int
    value: np.ndarray | None = None
    event: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("item", "timestamp", "value", "event"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise DataError(f"interaction column '{name}' has {len(column)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.user)

    def select(self, rows: np.ndarray) -> Interactions:
        """A subset of rows (boolean mask or index array), same ID space and order."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return Interactions(self.user[rows], self.item[rows], self.timestamp[rows], self.n_users,
                            self.n_items, pick(self.value), pick(self.event))

    def sequences(self) -> Sequences:
        """Per-user item sequences in row order (chronological inside a Dataset); one row per user index."""
        order = np.argsort(self.user, kind="stable")
        counts = np.bincount(self.user, minlength=self.n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Sequences(indptr, self.item[order].astype(np.int64), self.timestamp[order])

    def to_csr(self, *, weighted: bool = False) -> sparse.csr_matrix:
        """[n_users, n_items] matrix; binary unless `weighted` (then `value`, summed over duplicates)."""
        data = self.value.astype(np.float32) if weighted and self.value is not None else np.ones(len(self), np.float32)
        matrix = sparse.csr_matrix((data, (self.user, self.item)), shape=(self.n_users, self.n_items))
        matrix.sum_duplicates()
        if not weighted:
            matrix.data[:] = 1.0
        return matrix

    def digest(self) -> str:
        return _hash_arrays(self.user, self.item, self.timestamp, self.value,
                            np.asarray([self.n_users, self.n_items]))


@dataclass(frozen=True, eq=False)
class Histories:
    """A batch of item histories, the query of every recommender: `seq [B, L]` left-aligned, PAD after `lengths`.
    `users [B]` (dense user indices, -1 for a user the data does not know) is set where the caller knows whose
    history it is; only models that read user attributes look at it."""

    seq: np.ndarray
    lengths: np.ndarray
    times: np.ndarray | None = None
    users: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def from_lists(cls, histories: Sequence[Sequence[int]], *, max_len: int | None = None) -> Histories:
        """Pad python lists; keeps the most recent `max_len` items of each."""
        rows = [np.asarray(h, dtype=np.int64)[-max_len:] if max_len else np.asarray(h, dtype=np.int64)
                for h in histories]
        lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
        seq = np.full((len(rows), max(int(lengths.max(initial=0)), 1)), PAD, dtype=np.int64)
        for i, row in enumerate(rows):
            seq[i, : len(row)] = row
        return cls(seq, lengths)

    def rows(self, picked: Sequence[int] | np.ndarray) -> Histories:
        """The chosen rows (times and users with them), in the given order."""
        picked = np.asarray(picked, dtype=np.int64)
        return Histories(self.seq[picked], self.lengths[picked],
                         None if self.times is None else self.times[picked],
                         None if self.users is None else self.users[picked])

    @property
    def mask(self) -> np.ndarray:
        """[B, L] True where a real item sits."""
        return np.arange(self.seq.shape[1])[None, :] < self.lengths[:, None]

    def to_csr(self, n_items: int) -> sparse.csr_matrix:
        """[B, n_items] binary matrix of the items each history contains."""
        mask = self.mask
        rows = np.broadcast_to(np.arange(len(self))[:, None], self.seq.shape)[mask]
        matrix = sparse.csr_matrix((np.ones(int(mask.sum()), np.float32), (rows, self.seq[mask])),
                                   shape=(len(self), n_items))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    def last(self) -> np.ndarray:
        """[B] most recent item of each history (PAD for empty ones)."""
        out = np.full(len(self), PAD, dtype=np.int64)
        has = self.lengths > 0
        out[has] = self.seq[np.flatnonzero(has), self.lengths[has] - 1]
        return out


@dataclass(frozen=True, eq=False)
class Sequences:
    """Ragged per-row item lists (CSR layout): row r is `items[indptr[r]:indptr[r+1]]`."""

    indptr: np.ndarray
    items: np.ndarray
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, r: int) -> np.ndarray:
        return self.items[self.indptr[r] : self.indptr[r + 1]]

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], times: Sequence[Sequence[int]] | None = None) -> Sequences:
        """Rows of items (and, when given, their timestamps, row for row)."""
        lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        items = np.concatenate([np.asarray(r, np.int64) for r in rows]) if len(rows) else np.zeros(0, np.int64)
        stamps = None
        if times is not None:
            stamps = (np.concatenate([np.asarray(t, np.int64) for t in times]) if len(times)
                      else np.zeros(0, np.int64))
            if len(stamps) != len(items):
                raise ValueError("Sequences.from_lists: times must match the rows item for item")
        return cls(indptr, items.astype(np.int64), stamps)

    def take(self, rows: np.ndarray) -> Sequences:
        """The chosen rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        ranges = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
        gather = np.concatenate(ranges) if len(rows) else np.zeros(0, int)
        gather = gather.astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Sequences(indptr, self.items[gather], None if self.times is None else self.times[gather])

    def histories(self, rows: np.ndarray | slice | None = None, *, max_len: int | None = None) -> Histories:
        """Rows as a padded `Histories` batch, keeping the most recent `max_len` items."""
        picked = np.arange(len(self))[rows] if rows is not None else np.arange(len(self))
        starts, ends = self.indptr[picked], self.indptr[picked + 1]
        if max_len is not None:
            starts = np.maximum(starts, ends - max_len)
        lengths = (ends - starts).astype(np.int64)
        width = max(int(lengths.max(initial=0)), 1)
        offsets = np.arange(width)[None, :]
        valid = offsets < lengths[:, None]
        gather = np.where(valid, starts[:, None] + offsets, 0)
        seq = np.where(valid, self.items[gather] if len(self.items) else PAD, PAD).astype(np.int64)
        times = None
        if self.times is not None and len(self.times):
            times = np.where(valid, self.times[gather], 0)
        return Histories(seq, lengths, times)

    def to_csr(self, n_items: int) -> sparse.csr_matrix:
        data = np.ones(len(self.items), np.float32)
        matrix = sparse.csr_matrix((data, self.items, self.indptr), shape=(len(self), n_items))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    def concat(self, other: Sequences) -> Sequences:
        """Row-wise concatenation: row r of the result is self[r] followed by other[r]."""
        if len(self) != len(other):
            raise ValueError("Sequences.concat needs the same number of rows")
        rows = [np.concatenate([self.row(r), other.row(r)]) for r in range(len(self))]
        out = Sequences.from_lists(rows)
        if self.times is not None and other.times is not None:
            times = [np.concatenate([self.times[self.indptr[r]:self.indptr[r + 1]],
                                     other.times[other.indptr[r]:other.indptr[r + 1]]]) for r in range(len(self))]
            out = Sequences(out.indptr, out.items, np.concatenate(times) if times else np.zeros(0, np.int64))
        return out

    def digest(self) -> str:
        return _hash_arrays(self.indptr, self.items)


def category_values(value: object) -> frozenset[str]:
    """The categories of one posted value: a list, or a `|`-joined string as in a catalogue file (None: none)."""
    if value is None:
        return frozenset()
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value if str(v))
    return frozenset(v for v in str(value).split("|") if v)


@dataclass(frozen=True, eq=False)
class Catalog:
    """Item text and attributes, one row per dense item index (aligned with the dataset's item IdMap).

    Multi-valued categorical fields (genres, categories) hold '|'-separated strings.
    """

    frame: pd.DataFrame
    text_fields: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frame)

    def texts(self, template: str | None = None) -> list[str]:
        """One string per item: `template.format(**row)` if given, else the non-empty text fields joined."""
        frame = self.frame.astype(object).fillna("")  # numeric fields (price) would warn, later raise
        if template is not None:
            try:
                return [template.format(**row) for row in frame.to_dict("records")]
            except KeyError as exc:
                raise DataError(f"text template names unknown field {exc}; fields: {list(frame.columns)}") from None
        fields = [f for f in self.text_fields if f in frame.columns]
        if not fields:
            return [""] * len(frame)
        columns = [frame[f].astype(str).str.replace("|", ", ", regex=False).tolist() for f in fields]
        return [". ".join(part for part in parts if part.strip()) for parts in zip(*columns, strict=False)]

    def category_sets(self, field: str) -> list[frozenset[str]]:
        """Each item's set of values of a (possibly multi-valued) categorical field."""
        if field not in self.frame.columns:
            raise DataError(f"catalogue has no field '{field}'; fields: {list(self.frame.columns)}")
        return [frozenset(v for v in str(x).split("|") if v and v != "nan") if pd.notna(x) else frozenset()
                for x in self.frame[field].tolist()]

    def digest(self) -> str:
        return hashlib.sha256(pd.util.hash_pandas_object(self.frame.astype(str), index=True).values.tobytes()
                              ).hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """Cleaned interactions plus the ID maps and optional catalogue / user attributes."""

    name: str
    interactions: Interactions
    users: IdMap
    items: IdMap
    catalog: Catalog | None = None
    user_attributes: pd.DataFrame | None = None

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def digest(self) -> str:
        """Fingerprint of the content (interactions, ID maps, catalogue), recorded with every run."""
        parts = [self.interactions.digest(), self.users.digest(), self.items.digest(),
                 self.catalog.digest() if self.catalog is not None else "-"]
        return hashlib.sha256("/".join(parts).encode()).hexdigest()

    def stats(self) -> dict[str, float | int | str]:
        """Counts and densities a results table reports beside every number."""
        inter = self.interactions
        per_user = np.bincount(inter.user, minlength=self.n_users)
        per_item = np.bincount(inter.item, minlength=self.n_items)
        ts = inter.timestamp
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": len(inter),
            "density": len(inter) / max(self.n_users * self.n_items, 1),
            "interactions_per_user_median": float(np.median(per_user)) if len(per_user) else 0.0,
            "interactions_per_user_min": int(per_user.min()) if len(per_user) else 0,
            "interactions_per_item_median": float(np.median(per_item)) if len(per_item) else 0.0,
            "items_without_interactions": int((per_item == 0).sum()),
            "time_min": int(ts.min()) if len(ts) else 0,
            "time_max": int(ts.max()) if len(ts) else 0,
            "items_with_text": int(sum(bool(t.strip()) for t in self.catalog.texts())) if self.catalog else 0,
        }
