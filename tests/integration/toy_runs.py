"""Small generic runs the service and re-ranking tests share: two taste groups over 40 items with text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data import from_dataframes
from lmrec.data.types import Dataset
from lmrec.pipeline import build_config, fit_run

FRUIT = [f"item{i:02d}" for i in range(20)]
OCEAN = [f"item{i:02d}" for i in range(20, 40)]


def two_groups() -> Dataset:
    """Two taste groups over 40 items; item text and a `genre` field say which group an item belongs to."""
    inter, items = two_groups_frames()
    return from_dataframes(inter, items, name="toy", categorical=("genre",))


def write_two_groups(folder: Path) -> tuple[Path, Path]:
    """`two_groups` as files (interactions.csv, items.csv) for the CLI."""
    inter, items = two_groups_frames()
    folder.mkdir(parents=True, exist_ok=True)
    inter.to_csv(folder / "interactions.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return folder / "interactions.csv", folder / "items.csv"


def two_groups_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(80):
        group = u % 2
        items = rng.choice(np.arange(20) + 20 * group, size=8, replace=False)
        rows += [(f"user{u}", f"item{i:02d}", 1_600_000_000 + 60 * t) for t, i in enumerate(items)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    words = ["red apple fruit sweet", "blue ocean water wave"]
    items = pd.DataFrame({"item_id": [f"item{i:02d}" for i in range(40)],
                          "title": [f"{words[i // 20]} number {i}" for i in range(40)],
                          "genre": ["fruit|food" if i < 20 else "ocean" for i in range(40)]})
    return inter, items


def fit_toy_run(dataset: Dataset, out: Path, model: dict) -> Path:
    config = build_config(None, {"data": {"interactions": "toy.csv"}, "model": model, "eval": {"n_bootstrap": 10}})
    fit_run(config, out, dataset=dataset, device="cpu")
    return out
