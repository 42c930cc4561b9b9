"""Attributes as model inputs: a frame of user or item attributes -> `FeatureTable` (categorical codes and
standardised numbers, one row per dense index), with the fields declared or inferred.

    table = encode_features(catalog.frame, FieldSpec.declared(catalog.categorical, catalog.numeric), kind="item")
    table = encode_features(dataset.user_attributes, infer_fields(dataset.user_attributes), kind="user")

Categorical fields may be multi-valued ('|'-joined, as `Catalog` holds genres). Code 0 is "no value"; every
field's values get their own codes, so a model reads them through one embedding table and averages each field's
values. Numbers are standardised on the rows given (missing -> 0 plus a missing flag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmrec.errors import DataError

ID_COLUMNS = ("user_id", "item_id")
CODE_SUFFIXES = ("_code", "_id", "postcode", "postal")  # numbers that name things (and any "zip" column)
MAX_CARDINALITY_SHARE = 0.5  # an inferred categorical field with more distinct values per row looks like an ID


@dataclass(frozen=True)
class FieldSpec:
    """Which columns are categorical and which numeric; `inferred` records whether a person declared them."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    inferred: bool = False
    skipped: tuple[str, ...] = ()  # inferred only: columns left out, with the reason in `describe`

    @classmethod
    def declared(cls, categorical: tuple[str, ...], numeric: tuple[str, ...]) -> FieldSpec:
        return cls(tuple(categorical), tuple(numeric))

    def __bool__(self) -> bool:
        return bool(self.categorical or self.numeric)


def infer_fields(frame: pd.DataFrame, *, exclude: tuple[str, ...] = ()) -> FieldSpec:
    """Numbers (every non-empty value parses) are numeric unless they look like codes (at most 20 distinct
    integers, a name ending in _code/_id, a zip or postal code); other columns are categorical unless nearly
    every row has its own value (an identifier or free text, skipped)."""
    categorical, numeric, skipped = [], [], []
    for column in frame.columns:
        if column in ID_COLUMNS or column in exclude:
            continue
        values = frame[column]
        present = values[values.notna() & (values.astype(str).str.strip() != "")]
        if not len(present):
            skipped.append(column)
            continue
        parsed = pd.to_numeric(present, errors="coerce")
        distinct = present.astype(str).nunique()
        code_like = str(column).lower().endswith(CODE_SUFFIXES) or "zip" in str(column).lower() or (
            parsed.notna().all() and (parsed == parsed.round()).all() and distinct <= 20)
        if parsed.notna().all() and not code_like:
            numeric.append(column)
        elif distinct <= max(2, MAX_CARDINALITY_SHARE * len(present)):
            categorical.append(column)
        else:
            skipped.append(column)
    return FieldSpec(tuple(categorical), tuple(numeric), inferred=True, skipped=tuple(skipped))


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Rows of attributes as arrays: `codes [R, M]` (0 = none) with `weights [R, M]` (1 / the number of values
    of that code's field in the row, so each field contributes its mean), `numeric [R, 2F]` (standardised
    values, then missing flags). `n_codes` counts code 0."""

    codes: np.ndarray
    weights: np.ndarray
    numeric: np.ndarray
    n_codes: int
    fields: tuple[dict, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def describe(self) -> str:
        """One line: each field with its kind and size ("genres (categorical, 19 values), year (numeric)")."""
        return ", ".join(f"{f['name']} ({f['kind']}" + (f", {f['values']} values)" if f["kind"] == "categorical"
                                                         else ")") for f in self.fields) or "none"


def encode_features(frame: pd.DataFrame, spec: FieldSpec, *, kind: str, source: str | None = None) -> FeatureTable:
    """Encode `spec`'s columns of `frame` (row i = dense index i). A declared numeric value that does not parse
    is a DataError naming the row and field; a missing declared column names the columns there are."""
    where = source or f"{kind} attributes"
    missing = [c for c in (*spec.categorical, *spec.numeric) if c not in frame.columns]
    if missing:
        raise DataError(f"no {kind} attribute column(s) {missing}; columns: {list(frame.columns)}", source=where)
    rows = len(frame)
    code_columns: list[np.ndarray] = []
    weight_columns: list[np.ndarray] = []
    fields: list[dict] = []
    next_code = 1
    for name in spec.categorical:
        value_lists = [_values(v) for v in frame[name].tolist()]
        vocabulary = {v: i for i, v in enumerate(sorted({v for values in value_lists for v in values}))}
        width = max((len(values) for values in value_lists), default=0) or 1
        codes = np.zeros((rows, width), np.int64)
        weights = np.zeros((rows, width), np.float32)
        for r, values in enumerate(value_lists):
            for j, value in enumerate(values):
                codes[r, j] = next_code + vocabulary[value]
                weights[r, j] = 1.0 / len(values)
        code_columns.append(codes)
        weight_columns.append(weights)
        fields.append({"name": name, "kind": "categorical", "values": len(vocabulary)})
        next_code += len(vocabulary)
    numeric_columns: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    for name in spec.numeric:
        values = _numbers(frame[name], name, where)
        known = ~np.isnan(values)
        mean = float(values[known].mean()) if known.any() else 0.0
        std = float(values[known].std()) if known.sum() > 1 else 1.0
        numeric_columns.append(np.where(known, (values - mean) / (std or 1.0), 0.0).astype(np.float32))
        flags.append((~known).astype(np.float32))
        fields.append({"name": name, "kind": "numeric", "mean": mean, "std": std})
    codes = np.concatenate(code_columns, axis=1) if code_columns else np.zeros((rows, 1), np.int64)
    weights = np.concatenate(weight_columns, axis=1) if weight_columns else np.zeros((rows, 1), np.float32)
    numeric = (np.stack(numeric_columns + flags, axis=1) if numeric_columns
               else np.zeros((rows, 0), np.float32))
    return FeatureTable(codes, weights, numeric.astype(np.float32), next_code, tuple(fields))


def _values(cell: object) -> list[str]:
    """A cell's values: '|'-separated, stripped, empty and NaN left out, duplicates once."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return list(dict.fromkeys(v.strip() for v in str(cell).split("|") if v.strip() and v.strip() != "nan"))


def _numbers(column: pd.Series, name: str, where: str) -> np.ndarray:
    text = column.astype(object).where(column.notna(), "").astype(str).str.strip()
    parsed = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy() & (text != "").to_numpy())
    if len(bad):
        raise DataError(f"{text.iloc[bad[0]]!r} is not a number (row {int(bad[0]) + 1})", source=where, field=name)
    return parsed.to_numpy(np.float64)
