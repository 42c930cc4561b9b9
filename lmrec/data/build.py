"""Canonical frames -> Dataset: validate columns, map raw IDs, order events chronologically with a stable tie rule.

Readers produce an interactions frame with columns `user_id`, `item_id`, `timestamp` and optionally `rating`
(or `value`) and `event`, plus an optional items frame keyed by `item_id`. Row order of the interactions frame is
the tie-breaker for equal timestamps (documented rule: stable sort by (user, timestamp), ties keep file order).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from lmrec.data.types import Catalog, Dataset, IdMap, Interactions
from lmrec.errors import DataError

log = logging.getLogger(__name__)

REQUIRED = ("user_id", "item_id", "timestamp")


def build_dataset(
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    name: str = "dataset",
    source: str | None = None,
    items_source: str | None = None,
    text_fields: tuple[str, ...] | None = None,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
    user_attributes: pd.DataFrame | None = None,
    line_offset: int = 2,
) -> Dataset:
    """Validate and index canonical frames. `line_offset` maps frame row 0 to its file line (header = line 1)."""
    source = source or name
    missing = [c for c in REQUIRED if c not in interactions.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(interactions.columns)}", source=source)
    if len(interactions) == 0:
        raise DataError("no interactions (empty file or everything filtered out)", source=source)
    frame = interactions.reset_index(drop=True)
    for column in ("user_id", "item_id"):
        bad = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError("empty ID", source=source, line=row + line_offset, field=column)
    timestamps = _parse_timestamps(frame["timestamp"], source, line_offset)
    value = _parse_values(frame, source, line_offset)

    catalog_frame = _clean_items(items, items_source or source) if items is not None else None
    user_ids = frame["user_id"].astype(str).to_numpy()
    item_ids = frame["item_id"].astype(str).to_numpy()
    users = IdMap(pd.unique(user_ids), kind="user")
    item_order = pd.unique(item_ids)
    if catalog_frame is not None:
        extra = catalog_frame.index[~catalog_frame.index.isin(item_order)]
        item_order = np.concatenate([item_order, extra.to_numpy(dtype=object)])
        without_text = int((~pd.Index(item_order).isin(catalog_frame.index)).sum())
        if without_text:
            log.warning("%s: %d interacted item(s) have no catalogue row; their text is empty", source, without_text)
    item_map = IdMap(item_order, kind="item")

    user_idx = pd.Index(users.raw).get_indexer(user_ids).astype(np.int64)
    item_idx = pd.Index(item_map.raw).get_indexer(item_ids).astype(np.int64)
    order = np.lexsort((np.arange(len(frame)), timestamps, user_idx))  # user, then time, then file order
    event = frame["event"].astype(str).to_numpy(dtype=object)[order] if "event" in frame.columns else None
    inter = Interactions(user_idx[order], item_idx[order], timestamps[order], len(users), len(item_map),
                         None if value is None else value[order], event)

    catalog = None
    if catalog_frame is not None:
        aligned = catalog_frame.reindex(item_map.raw)
        aligned.index.name = "item_id"
        fields = text_fields if text_fields is not None else guess_text_fields(aligned, categorical, numeric)
        catalog = Catalog(aligned.reset_index(drop=False), tuple(fields), tuple(categorical), tuple(numeric))
    return Dataset(name, inter, users, item_map, catalog, user_attributes)


def _parse_timestamps(column: pd.Series, source: str, line_offset: int) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numeric = column.astype("float64")
    else:
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.isna().any():
            parsed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
            bad = (parsed.isna() & numeric.isna()).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(f"timestamp {column.iloc[row]!r} is neither a number nor a date",
                                source=source, line=row + line_offset, field="timestamp")
            if numeric.notna().any():
                row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
                raise DataError(f"timestamp {column.iloc[row]!r} is a date but other rows hold numbers; "
                                f"use one form for the whole column", source=source, line=row + line_offset,
                                field="timestamp")
            return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    if numeric.isna().any():
        row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        raise DataError("missing timestamp", source=source, line=row + line_offset, field="timestamp")
    return numeric.to_numpy().astype(np.int64)


def attach_user_attributes(dataset: Dataset, users: pd.DataFrame, *, source: str | None = None) -> Dataset:
    """The dataset with user attributes aligned to its dense user index (row i = user i; users the file does not
    list get NaN). A US zip code also gives the user's region (its first digit, the national zone), other codes
    the region "non-US". A user listed twice with different values is a DataError naming the user."""
    where = source or f"{dataset.name} user attributes"
    if "user_id" not in users.columns:
        raise DataError(f"user attributes need a 'user_id' column; found {list(users.columns)}", source=where)
    users = users.copy()
    users["user_id"] = users["user_id"].astype(str).str.strip()
    _refuse_conflicting_rows(users, "user_id", where)
    listed = users.drop_duplicates("user_id").set_index("user_id")
    unknown = int((~listed.index.isin(dataset.users.raw)).sum())
    if unknown:
        log.info("%s: %d listed user(s) have no interactions and are left out", where, unknown)
    aligned = listed.reindex(dataset.users.raw)
    if "zip_code" in aligned.columns:
        zips = aligned["zip_code"].fillna("").astype(str).str.strip()
        aligned["region"] = np.where(zips.str.fullmatch(r"\d{5}(-\d{4})?"), "zone " + zips.str[:1],
                                     np.where(zips == "", None, "non-US"))
    aligned.index.name = "user_id"
    return dataclasses.replace(dataset, user_attributes=aligned.reset_index())


def _parse_values(frame: pd.DataFrame, source: str, line_offset: int) -> np.ndarray | None:
    column = "rating" if "rating" in frame.columns else "value" if "value" in frame.columns else None
    if column is None:
        return None
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{frame[column].iloc[row]!r} is not a number", source=source, line=row + line_offset,
                        field=column)
    return values.to_numpy(np.float32)


def catalog_from_items(items: pd.DataFrame, source: str) -> Catalog:
    """A catalogue of an items file alone (no interactions), in the file's row order: what `lmrec encode`
    encodes. Text fields as `build_dataset` guesses them."""
    frame = _clean_items(items, source)
    frame.index.name = "item_id"
    return Catalog(frame.reset_index(drop=False), tuple(guess_text_fields(frame)))


def _clean_items(items: pd.DataFrame, source: str) -> pd.DataFrame:
    if "item_id" not in items.columns:
        raise DataError(f"items need an 'item_id' column; found {list(items.columns)}", source=source)
    items = items.copy()
    items["item_id"] = items["item_id"].astype(str)
    _refuse_conflicting_rows(items, "item_id", source)
    return items.drop_duplicates("item_id").set_index("item_id")


def _refuse_conflicting_rows(frame: pd.DataFrame, key: str, source: str) -> None:
    """DataError naming the first ID listed twice with different content, and its lines (header = line 1)."""
    duplicated = frame[key].duplicated(keep=False)
    if not duplicated.any():
        return
    dupes = frame[duplicated]
    content = dupes.drop(columns=key).astype(str).agg("\x1f".join, axis=1)
    conflicting = content.groupby(dupes[key]).nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        raw_id = conflicting.index[0]
        lines = (np.flatnonzero((frame[key] == raw_id).to_numpy()) + 2).tolist()
        raise DataError(f"{key.removesuffix('_id')} {raw_id!r} appears on lines {lines} with different content",
                        source=source, field=key)


def guess_text_fields(frame: pd.DataFrame, categorical: tuple[str, ...] = (),
                      numeric: tuple[str, ...] = ()) -> list[str]:
    """The columns an items file's text is made of when none are named: the usual names, else every string
    column that is not categorical or numeric."""
    preferred = [c for c in ("title", "text", "name", "categories", "genres", "brand", "description", "tags")
                 if c in frame.columns]
    if preferred:
        return preferred
    return [c for c in frame.columns if frame[c].dtype == object and c not in categorical and c not in numeric]
