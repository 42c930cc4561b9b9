"""Data layer: files and built-in datasets -> Dataset -> Split. See DESIGN.md for the flow."""

from lmrec.data.build import build_dataset
from lmrec.data.prepare import PrepareConfig, describe, prepare
from lmrec.data.readers import (
    ColumnMap,
    from_dataframes,
    load_files,
    read_interactions,
    read_items,
    read_recbole,
)
from lmrec.data.sources import dataset_info, dataset_names, load_dataset
from lmrec.data.split import Holdout, Split, SplitConfig, global_time_split, leave_last_out, make_split
from lmrec.data.types import PAD, Catalog, Dataset, Histories, IdMap, Interactions, Sequences

__all__ = [
    "PAD",
    "Catalog",
    "ColumnMap",
    "Dataset",
    "Histories",
    "Holdout",
    "IdMap",
    "Interactions",
    "PrepareConfig",
    "Sequences",
    "Split",
    "SplitConfig",
    "build_dataset",
    "dataset_info",
    "dataset_names",
    "describe",
    "from_dataframes",
    "global_time_split",
    "leave_last_out",
    "load_dataset",
    "load_files",
    "make_split",
    "prepare",
    "read_interactions",
    "read_items",
    "read_recbole",
]
