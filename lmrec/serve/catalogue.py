"""What the service knows about items besides the model: text, attributes and categories, growing with POST /items.

Immutable: adding items returns a new `ItemCatalogue`, so a request always sees one consistent version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.types import Catalog, category_values
from lmrec.errors import ConfigError


@dataclass(frozen=True, eq=False)
class ItemCatalogue:
    """Per dense item index: text, attributes, categories of the catalogue's first categorical field."""

    texts: list[str]
    frame: pd.DataFrame | None = None  # the trained catalogue's rows (first len(frame) items)
    category_field: str | None = None
    categories: list[frozenset[str]] = field(default_factory=list)
    added: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> attributes of an added item
    by_category: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, catalog: Catalog | None, n_items: int) -> ItemCatalogue:
        if catalog is None:
            return cls([""] * n_items)
        name = catalog.categorical[0] if catalog.categorical else None
        categories = catalog.category_sets(name) if name else []
        return cls(catalog.texts(), catalog.frame, name, categories, {}, _invert(categories))

    def __len__(self) -> int:
        return len(self.texts)

    def attributes(self, index: int) -> dict[str, Any]:
        if index in self.added:
            return dict(self.added[index])
        if self.frame is None or index >= len(self.frame):
            return {}
        row = self.frame.iloc[index].to_dict()
        row.pop("item_id", None)
        return {str(k): _plain(v) for k, v in row.items()}

    def with_items(self, texts: Sequence[str], attributes: Sequence[dict[str, Any]]) -> ItemCatalogue:
        """A new catalogue with items appended (indices continue from len(self))."""
        first = len(self.texts)
        added = dict(self.added)
        categories = list(self.categories)
        for offset, attrs in enumerate(attributes):
            added[first + offset] = dict(attrs)
            if self.category_field is not None:
                categories.append(category_values(attrs.get(self.category_field)))
        by_category = _invert(categories) if self.category_field is not None else {}
        return ItemCatalogue([*self.texts, *texts], self.frame, self.category_field, categories, added, by_category)

    def category_sets(self, name: str | None) -> list[frozenset[str]]:
        """Each item's values of a categorical field (None: the first one), added items included."""
        if name is None or name == self.category_field:
            if self.category_field is None:
                raise ConfigError("the catalogue has no categorical field")
            return list(self.categories)
        if self.frame is None or name not in self.frame.columns or name == "item_id":
            raise ConfigError(f"the catalogue has no field {name!r}")
        trained = [category_values(None if pd.isna(v) else v) for v in self.frame[name].tolist()]
        return trained + [category_values(self.added.get(i, {}).get(name)) for i in range(len(trained), len(self))]

    def keep_mask(self, include: Sequence[str] | None, exclude: Sequence[str] | None) -> np.ndarray:
        """[N] bool: items with any included category (all items when include is None) and no excluded one."""
        n = len(self.texts)
        keep = np.zeros(n, dtype=bool) if include else np.ones(n, dtype=bool)
        for name in include or ():
            keep[self.by_category.get(name, _EMPTY)] = True
        for name in exclude or ():
            keep[self.by_category.get(name, _EMPTY)] = False
        return keep


_EMPTY = np.zeros(0, dtype=np.int64)


def _invert(categories: list[frozenset[str]]) -> dict[str, np.ndarray]:
    lists: dict[str, list[int]] = {}
    for index, values in enumerate(categories):
        for value in values:
            lists.setdefault(value, []).append(index)
    return {name: np.asarray(indices, dtype=np.int64) for name, indices in lists.items()}


def _plain(value: Any) -> Any:
    """JSON-safe scalar: numpy scalars to Python, NaN/NA to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)
