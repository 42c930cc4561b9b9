"""`DataConfig`: where a run's data comes from (a built-in dataset, or files with a column mapping), and
`load_data` that reads it and applies the preparation config."""

from __future__ import annotations

from dataclasses import dataclass

from lmrec.data.prepare import PrepareConfig
from lmrec.data.types import Dataset
from lmrec.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """A built-in dataset name, or generic files with a column mapping."""

    dataset: str | None = None
    interactions: str | None = None
    items: str | None = None
    users: str | None = None  # user attributes: user_id + columns (CSV/TSV/Parquet or a RecBole .user file)
    data_dir: str | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    timestamp_col: str = "timestamp"
    rating_col: str | None = "rating"
    event_col: str | None = None  # event type (view, click, purchase, ...), kept in Interactions.event
    order_col: str | None = None
    sep: str | None = None
    pseudonymize: bool = False  # user IDs replaced by a keyed HMAC at ingestion (lmrec/data/pseudonym.py)

    def check(self, where: str = "") -> None:
        """ConfigError unless exactly one of a dataset name or an interactions file is given."""
        if not self.dataset and not self.interactions:
            raise ConfigError(f"{where}no data given: use --dataset NAME or --interactions FILE")
        if self.dataset and self.interactions:
            raise ConfigError(f"{where}give either --dataset or --interactions, not both")


def load_data(data: DataConfig, prepare_config: PrepareConfig | None = None) -> Dataset:
    """Read the dataset `data` names and apply the preparation config."""
    from lmrec.data.prepare import prepare
    from lmrec.data.readers import ColumnMap, load_files
    from lmrec.data.sources import load_dataset

    if data.dataset:
        dataset = load_dataset(data.dataset, data_dir=data.data_dir)
    else:
        columns = ColumnMap(user=data.user_col, item=data.item_col, timestamp=data.timestamp_col,
                            rating=data.rating_col, event=data.event_col, order=data.order_col)
        dataset = load_files(data.interactions, data.items, columns=columns, sep=data.sep)
    if data.users:
        from lmrec.data.build import attach_user_attributes
        from lmrec.data.readers import read_users

        dataset = attach_user_attributes(dataset, read_users(data.users, user_col=data.user_col), source=data.users)
    dataset = prepare(dataset, prepare_config or PrepareConfig())
    if data.pseudonymize:
        from lmrec.data.pseudonym import pseudonym_key, pseudonymize

        dataset = pseudonymize(dataset, pseudonym_key())
    return dataset
