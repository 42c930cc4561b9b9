"""Demographic popularity (`pop-demo`): what users who share your attributes chose, the honest baseline for a
user with no history. Each categorical user field (numeric ones cut into quintiles) gives an item distribution
P_f(i | value) shrunk toward the global one; a user's score is the mean over fields of log P_f(i | their value).
It ignores the history (like `pop`) and reads `Histories.users`; a user without attributes gets popularity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from lmrec.data.features import infer_fields
from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import history_csr
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import UserAttributes
from lmrec.models.registry import register
from lmrec.train.trainer import Progress


@dataclass(frozen=True)
class DemographicPopConfig:
    shrinkage: float = 50.0  # pseudo-events of the global distribution in each group's (small groups ~ global)
    bins: int = 5  # numeric fields: quantile bins

    def __post_init__(self) -> None:
        if self.shrinkage < 0 or self.bins < 2:
            raise ConfigError(f"pop-demo needs shrinkage >= 0 and bins >= 2; got {self}")


@register("pop-demo", summary="popularity among users who share your attributes (demographics)")
class DemographicPop(BaseRecommender, UserAttributes):
    Config = DemographicPopConfig
    personalised: ClassVar[bool] = False  # the same scores for every history; only whose history it is matters
    config: DemographicPopConfig

    def __init__(self, config: DemographicPopConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._user_frame: pd.DataFrame | None = None

    def fit_user_attributes(self, frame: Any) -> None:
        self._user_frame = frame

    def forget_user_attributes(self, user: int) -> bool:
        """Erase user `user`'s group codes (they are then served global popularity)."""
        if not 0 <= int(user) < len(self.groups_):
            return False
        had = bool((self.groups_[int(user)] >= 0).any())
        self.groups_[int(user)] = -1
        return had

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> DemographicPop:
        if len(train) == 0:
            raise DataError("no training interactions")
        n = train.n_items
        total = np.bincount(train.item, minlength=n).astype(np.float64)
        prior = (total + 1.0) / (total.sum() + n)  # add-one: an item never seen still gets a finite score
        groups = self._groups(train.n_users)  # [U, F] group code per user and field, -1 unknown
        tables = []
        for f in range(groups.shape[1]):
            codes = groups[train.user, f]
            known = codes >= 0
            n_groups = int(groups[:, f].max(initial=-1)) + 1
            counts = np.zeros((n_groups, n))
            np.add.at(counts, (codes[known], train.item[known]), 1.0)
            m = self.config.shrinkage
            tables.append(np.log((counts + m * prior) / (counts.sum(1, keepdims=True) + m)))
        self.n_items_ = n
        self.prior_ = torch.from_numpy(np.log(prior)).float()
        self.groups_ = torch.from_numpy(groups)
        self.tables_ = [torch.from_numpy(t).float() for t in tables]
        return self

    def _groups(self, n_users: int) -> np.ndarray:
        frame = self._user_frame
        if frame is None:
            raise ConfigError("pop-demo needs user attributes: pass --users FILE or use a dataset that has them")
        if len(frame) != n_users:
            raise DataError(f"user attributes have {len(frame)} rows; the data has {n_users} users")
        spec = infer_fields(frame)
        columns = []
        for name in (*spec.categorical, *spec.numeric):
            values = frame[name]
            if name in spec.numeric:
                numbers = pd.to_numeric(values, errors="coerce")
                values = pd.qcut(numbers, self.config.bins, labels=False, duplicates="drop")
            columns.append(pd.factorize(values.astype(object).where(values.notna(), None))[0])
        if not columns:
            raise DataError(f"pop-demo found no usable user attribute in {list(frame.columns)}")
        return np.stack(columns, axis=1).astype(np.int64)

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        history_csr(histories, self.n_items_)  # validates item indices
        scores = self.prior_.expand(len(histories), -1).clone()
        if histories.users is None:
            return scores
        users = torch.as_tensor(np.asarray(histories.users, np.int64))
        known = (users >= 0) & (users < len(self.groups_))
        for row in torch.nonzero(known).flatten().tolist():
            codes = self.groups_[int(users[row])]
            parts = [table[int(c)] for table, c in zip(self.tables_, codes.tolist(), strict=True) if c >= 0]
            if parts:
                scores[row] = torch.stack(parts).mean(0)
        return scores

    def _state(self) -> dict[str, torch.Tensor]:
        return {"prior": self.prior_, "groups": self.groups_, **{f"table{i}": t for i, t in enumerate(self.tables_)}}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.prior_, self.groups_ = tensors["prior"], tensors["groups"].long()
        self.tables_ = [tensors[f"table{i}"] for i in range(len([k for k in tensors if k.startswith("table")]))]
