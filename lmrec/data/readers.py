"""Interaction and item files (CSV/TSV/Parquet/RecBole atomic files) -> canonical frames -> Dataset.

Canonical interaction columns: `user_id`, `item_id`, `timestamp` and optionally `rating`, `event`. IDs stay
strings. Rows keep file order, which `build_dataset` uses to break timestamp ties, unless the file has an
explicit tie-break column (`ColumnMap.order`): then rows are sorted stably by (user, timestamp, order) first.
Bad input raises `DataError` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.build import _parse_timestamps, _parse_values, build_dataset
from lmrec.data.tables import Table, check_file, frame_table, read_table, short_row_error
from lmrec.data.types import Dataset
from lmrec.errors import DataError

# How the CLI spells the option that maps each ColumnMap field (used in error messages).
COLUMN_FLAGS = {
    "user": "--user-col",
    "item": "--item-col",
    "timestamp": "--timestamp-col",
    "rating": "--rating-col",
    "event": "--event-col",
    "order": "--order-col",
}
CANONICAL = {
    "user": "user_id",
    "item": "item_id",
    "timestamp": "timestamp",
    "rating": "rating",
    "event": "event",
    "order": "order",
}
_ALIASES = {
    "user": ("userid", "user", "reviewerid", "visitorid", "customer_id", "uid", "session_id"),
    "item": ("itemid", "item", "movieid", "asin", "artistid", "product_id", "productid", "iid", "track_id"),
    "timestamp": ("time", "ts", "unixreviewtime", "date", "datetime", "event_time", "created_at"),
    "rating": ("overall", "score", "weight", "value", "stars"),
}


@dataclass(frozen=True)
class ColumnMap:
    """File column names of the canonical fields; `rating` is used when present, `event`/`order` when set."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str = "timestamp"
    rating: str | None = "rating"
    event: str | None = None
    order: str | None = None


def read_interactions(
    path: str | Path, *, columns: ColumnMap | None = None, sep: str | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Canonical interactions (user_id, item_id, timestamp[, rating][, event]) from CSV/TSV/Parquet."""
    return canonical_interactions(read_table(path, sep=sep, encoding=encoding), columns or ColumnMap())


def read_items(
    path: str | Path, *, item_col: str = "item_id", sep: str | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """An items frame keyed by `item_id` (string) with the file's other columns; text is kept verbatim."""
    return canonical_items(read_table(path, sep=sep, encoding=encoding), (item_col,))


def read_recbole(
    inter_path: str | Path, item_path: str | Path | None = None, *, columns: ColumnMap | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """RecBole atomic files (`name:type` headers, TAB-separated) -> (interactions, items) canonical frames."""
    inter, _ = _recbole_table(inter_path)
    items = canonical_items(_recbole_table(item_path)[0], ("item_id",)) if item_path is not None else None
    return canonical_interactions(inter, columns or ColumnMap()), items


def read_users(path: str | Path, *, user_col: str = "user_id", sep: str | None = None) -> pd.DataFrame:
    """A user-attributes file (CSV/TSV/Parquet with `user_col` + attribute columns, or a RecBole `.user` atomic
    file) as a frame with a `user_id` column; the model decides (or is told) which columns are categorical."""
    if Path(path).suffix.lower() == ".user":
        table, _ = _recbole_table(path)
    else:
        table = read_table(path, sep=sep)
    frame = table.frame
    column = user_col if user_col in frame.columns else "user_id"
    if column not in frame.columns:
        raise DataError(f"no user ID column {user_col!r}; columns: {list(frame.columns)}", source=table.source,
                        line=1)
    empty = frame[column].astype(str).str.strip() == ""
    if empty.any():
        raise table.error("empty user ID", int(np.flatnonzero(empty.to_numpy())[0]), column)
    return frame.rename(columns={column: "user_id"})


def load_files(
    interactions: str | Path,
    items: str | Path | None = None,
    *,
    columns: ColumnMap | None = None,
    name: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    text_fields: tuple[str, ...] | None = None,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
) -> Dataset:
    """Read an interactions file (and optionally an items file) into a Dataset.

    `.inter` files are read as RecBole atomic files; with a RecBole `.item` file, `token_seq` fields become
    text fields, other `token` fields categorical and `float` fields numeric unless given explicitly.
    """
    columns = columns or ColumnMap()
    name = name or Path(interactions).name.split(".")[0]
    if Path(interactions).suffix.lower() == ".inter":
        inter_table, _ = _recbole_table(interactions)
        items_frame = None
        if items is not None:
            item_table, types = _recbole_table(items)
            items_frame = canonical_items(item_table, ("item_id", columns.item))
            if text_fields is None:
                text_fields = tuple(n for n, t in types.items() if t == "token_seq")
                categorical = categorical or tuple(
                    n for n, t in types.items() if t == "token" and n != "item_id"
                )
                numeric = numeric or tuple(n for n, t in types.items() if t == "float")
    else:
        inter_table = read_table(interactions, sep=sep, encoding=encoding)
        items_frame = None
        if items is not None:
            item_table = read_table(
                items, sep=sep if Path(items).suffix == Path(interactions).suffix else None, encoding=encoding
            )
            items_frame = canonical_items(item_table, (columns.item, "item_id"))
    frame = canonical_interactions(inter_table, columns)
    return build_dataset(
        frame,
        items_frame,
        name=name,
        source=str(interactions),
        items_source=None if items is None else str(items),
        text_fields=text_fields,
        categorical=categorical,
        numeric=numeric,
    )


def from_dataframes(
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    columns: ColumnMap | None = None,
    name: str = "dataset",
    text_fields: tuple[str, ...] | None = None,
    categorical: tuple[str, ...] = (),
    numeric: tuple[str, ...] = (),
) -> Dataset:
    """In-memory frames -> Dataset with the same checks as files; errors name the frame row (1-based)."""
    columns = columns or ColumnMap()
    frame = canonical_interactions(frame_table(interactions, f"{name} (interactions frame)"), columns)
    items_frame = None
    if items is not None:
        items_frame = canonical_items(frame_table(items, f"{name} (items frame)"), (columns.item, "item_id"))
    return build_dataset(
        frame,
        items_frame,
        name=name,
        source=f"{name} (interactions frame)",
        text_fields=text_fields,
        categorical=categorical,
        numeric=numeric,
    )


def canonical_interactions(table: Table, columns: ColumnMap) -> pd.DataFrame:
    """Select and rename mapped columns, validate each value with its file line, apply the order tie-break."""
    found = list(table.frame.columns)
    wanted: dict[str, str] = {}
    missing: list[str] = []
    for spec in fields(columns):
        file_col = getattr(columns, spec.name)
        if file_col is None:
            continue
        if file_col in found:
            wanted[spec.name] = file_col
        elif spec.name != "rating":  # rating is optional; a named event/order column must exist
            missing.append(spec.name)
    if missing:
        raise _missing_columns_error(table, columns, missing)
    frame = pd.DataFrame({CANONICAL[key]: table.frame[col] for key, col in wanted.items()})
    frame["user_id"] = _checked_ids(table, frame["user_id"], wanted["user"])
    frame["item_id"] = _checked_ids(table, frame["item_id"], wanted["item"])
    _check_not_empty(table, frame["timestamp"], wanted["timestamp"])
    frame["timestamp"] = _located(
        table, wanted["timestamp"], lambda: _parse_timestamps(_timestamp_input(frame["timestamp"]), "", 0)
    )
    if "rating" in frame.columns:
        _check_not_empty(table, frame["rating"], wanted["rating"])
        frame["rating"] = _located(table, wanted["rating"], lambda: _parse_values(frame[["rating"]], "", 0))
    if "order" in frame.columns:
        order = pd.to_numeric(frame["order"], errors="coerce")
        bad = np.flatnonzero(order.isna().to_numpy())
        if len(bad):
            raise table.error(
                f"{frame['order'].iloc[bad[0]]!r} is not a number (tie-break order column)",
                int(bad[0]),
                wanted["order"],
            )
        user_code = pd.factorize(frame["user_id"])[0]
        sort = np.lexsort((np.arange(len(frame)), order.to_numpy(), frame["timestamp"].to_numpy(), user_code))
        frame = frame.iloc[sort].drop(columns="order").reset_index(drop=True)
    return frame


def canonical_items(table: Table, candidates: Sequence[str]) -> pd.DataFrame:
    """An items frame whose key column (the first of `candidates` present) is renamed `item_id`."""
    key = next((c for c in candidates if c in table.frame.columns), None)
    if key is None:
        raise DataError(
            f"no item ID column {list(dict.fromkeys(candidates))}; found {list(table.frame.columns)}; "
            f"name the item column with item_col=... (CLI: --item-col NAME)",
            source=table.source,
            field=candidates[0],
        )
    frame = table.frame.copy()
    if key != "item_id":
        frame = frame.drop(columns=["item_id"], errors="ignore").rename(columns={key: "item_id"})
    frame["item_id"] = _checked_ids(table, frame["item_id"], key)
    return frame


def _checked_ids(table: Table, column: pd.Series, file_col: str) -> pd.Series:
    if column.dtype.kind == "f":  # Parquet/DataFrame float IDs (1.0) would become "1.0"
        whole = column.dropna()
        if (whole == whole.round()).all():
            column = column.astype("Int64")
    text = column.astype(str).where(column.notna(), "").str.strip()
    _check_not_empty(table, text, file_col)
    return text


def _check_not_empty(table: Table, column: pd.Series, file_col: str) -> None:
    empty = (column.isna() | (column.astype(str).str.strip() == "")).to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise short_row_error(table, row) or table.error("empty value", row, file_col)


def _timestamp_input(column: pd.Series) -> pd.Series:
    """Datetime columns (from Parquet or DataFrames) become unix seconds; text and numbers pass through."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(column):
        utc = pd.to_datetime(column, utc=True)
        return pd.Series((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1), index=column.index)
    return column


def _located(table: Table, file_col: str, parse):
    """Run a build-module parser with line_offset 0; re-raise its error at the real file line and column."""
    try:
        return parse()
    except DataError as exc:
        if exc.line is None:
            raise
        message = str(exc).split(": ", 1)[-1]
        raise short_row_error(table, exc.line) or table.error(message, exc.line, file_col) from None


def _missing_columns_error(table: Table, columns: ColumnMap, missing: list[str]) -> DataError:
    found = list(table.frame.columns)
    lowered = {c.lower(): c for c in found}
    hints = []
    for key in missing:
        guess = next((lowered[a] for a in _ALIASES.get(key, ()) if a in lowered), None)
        hints.append(f"{COLUMN_FLAGS[key]} {guess}" if guess else f"{COLUMN_FLAGS[key]} NAME")
    names = [f"'{getattr(columns, k)}' ({k})" for k in missing]
    return DataError(
        f"missing required column(s) {', '.join(names)}; found {found}; map them with {' '.join(hints)} "
        f"(Python: columns=ColumnMap(...))",
        source=table.source,
        field=getattr(columns, missing[0]),
    )


def _recbole_table(path: str | Path) -> tuple[Table, dict[str, str]]:
    """A RecBole atomic file with the `:type` suffixes stripped; returns the table and {field: type}."""
    table = read_table(check_file(path), sep="\t")
    types: dict[str, str] = {}
    for raw in table.frame.columns:
        name, colon, kind = str(raw).partition(":")
        if not colon or kind not in ("token", "token_seq", "float", "float_seq"):
            raise DataError(
                f"header field {raw!r} is not 'name:type' with type token, token_seq, float or "
                f"float_seq; is this a RecBole atomic file?",
                source=table.source,
                line=1,
                field=str(raw),
            )
        types[name] = kind
    table.frame.columns = list(types)
    return table, types
