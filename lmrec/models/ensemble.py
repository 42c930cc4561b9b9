"""Ensemble: several registered models' per-history z-scores, weighted; the weights chosen on validation NDCG@10.

Models that read different signals (EASE: co-occurrence; lm-content: item text alone; the LM-fused SASRec: text,
IDs and order) make different mistakes, so on sparse catalogues, where no one signal is enough, a weighted sum
beats each part. Each part is an ordinary registered model fitted on the same training data (with the same
validation holdout for its own early stopping); the weights are then searched on a simplex grid (step 1/grid)
for the best validation NDCG@10 and never look at test. Without a validation holdout the configured `weights`
are used (equal by default). Parts' tensors are saved under "part<i>.", the chosen weights as "weights".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import BaseRecommender
from lmrec.models.blend import sample_rows, search_weights, standardise
from lmrec.models.capabilities import UserAttributes, supports
from lmrec.models.registry import get_model, register
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.train.trainer import Progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleConfig:
    parts: tuple[str, ...] = ("ease", "lm-content", "sasrec-fused")
    part_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # part name -> keys of its Config
    weights: tuple[float, ...] | None = None  # fixed weights; None: searched on validation (equal without one)
    fallback_parts: tuple[str, ...] = ()  # fitted instead of `parts` when the data has no item text
    grid: int = 10  # weight step 1/grid on the simplex
    max_valid_users: int = 4000  # validation users the search scores (a seeded sample beyond that)

    def __post_init__(self) -> None:
        parts, fallback = tuple(self.parts), tuple(self.fallback_parts)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "fallback_parts", fallback)
        for key, names in (("parts", parts), ("fallback_parts", fallback)):
            if (names or key == "parts") and (len(names) < 2 or len(set(names)) != len(names)):
                raise ConfigError(f"model.{key}={list(names)!r} needs two or more different registered models")
            if {"ensemble", "auto", "hybrid"} & set(names):
                raise ConfigError("ensemble parts cannot themselves be ensembles or hybrids")
        unknown = set(self.part_configs) - set(parts) - set(fallback)
        if unknown:
            raise ConfigError(f"model.part_configs names {sorted(unknown)}, which are not in model.parts")
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            if len(weights) != len(parts) or min(weights) < 0 or not 0 < sum(weights) < float("inf"):
                raise ConfigError(f"model.weights={list(weights)!r} needs {len(parts)} non-negative values with a "
                                  "positive sum")
            object.__setattr__(self, "weights", weights)
        if not 1 <= self.grid <= 100 or self.max_valid_users < 1:
            raise ConfigError(f"model.grid={self.grid} must be in [1, 100] and model.max_valid_users positive")


AUTO_PARTS = {"parts": ["ease", "tfidf", "lm-content", "sasrec-fused"], "fallback_parts": ["ease", "sasrec"]}


@register("auto", defaults=AUTO_PARTS, tiny={"parts": ["itemknn", "tfidf"], "fallback_parts": ["pop", "itemknn"]},
          summary="Picks and weighs EASE, TF-IDF, LM text similarity and the LM-fused SASRec on validation NDCG@10 "
                  "(EASE + SASRec without item text)")
@register("ensemble", tiny={"parts": ["itemknn", "sasrec"], "part_configs": {"sasrec": SEQUENCE_TINY}})
class Ensemble(BaseRecommender, UserAttributes):
    Config = EnsembleConfig
    config: EnsembleConfig

    def __init__(self, config: EnsembleConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.parts_: list[BaseRecommender] = []
        self.weights_: np.ndarray | None = None
        self._user_frame: Any = None

    def fit_user_attributes(self, frame: Any) -> None:
        """Handed to every part that reads user attributes when it is fitted."""
        self._user_frame = frame

    def forget_user_attributes(self, user: int) -> bool:
        return any([part.forget_user_attributes(user) for part in self.parts_ if supports(part, UserAttributes)])

    def _new_parts(self) -> list[BaseRecommender]:
        cfg = self.config
        return [get_model(part).create(cfg.part_configs.get(part, {})) for part in cfg.parts]

    # -- fit -----------------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> Ensemble:
        cfg = self.config
        if cfg.fallback_parts and (catalog is None or not catalog.text_fields):
            logger.info("%s: the data has no item text; fitting %s instead of %s", self.name,
                        ",".join(cfg.fallback_parts), ",".join(cfg.parts))
            self.config = replace(cfg, parts=cfg.fallback_parts, fallback_parts=(), weights=None)
        elif cfg.fallback_parts:
            self.config = replace(cfg, fallback_parts=())  # the saved config names exactly what was fitted
        parts = self._new_parts()
        for part in parts:
            if supports(part, UserAttributes):
                part.fit_user_attributes(self._user_frame)
        self.parts_ = [part.to(self.device).fit(train, valid=valid, catalog=catalog, progress=progress)
                       for part in parts]
        self.n_items_ = train.n_items
        log: dict[str, Any] = {"parts": {name: part.fit_log_ for name, part in zip(self.config.parts,
                                                                                   self.parts_, strict=True)}}
        if self.config.weights is not None or valid is None or len(valid) == 0:
            fixed = self.config.weights or (1.0,) * len(self.parts_)
            self.weights_ = np.asarray(fixed, np.float64) / sum(fixed)
        else:
            self.weights_, log["search"] = self._search(valid)
        log["weights"] = dict(zip(self.config.parts, self.weights_.round(4).tolist(), strict=True))
        self.fit_log_ = log
        return self

    def _search(self, valid: Holdout) -> tuple[np.ndarray, dict[str, Any]]:
        """The simplex-grid weights with the best validation NDCG@10 (ties: the earlier, more even grid point)."""
        rows = sample_rows(len(valid), self.config.max_valid_users)
        histories, targets = valid.histories(rows), valid.targets.take(rows)
        with torch.inference_mode():
            scores = torch.stack([standardise(part.score(histories)).to("cpu") for part in self.parts_])  # [P, B, N]
        return search_weights(scores, histories, targets, self.config.parts, self.config.grid)

    # -- score ---------------------------------------------------------------------------------------------------
    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        assert self.weights_ is not None
        total: torch.Tensor | None = None
        for weight, part in zip(self.weights_, self.parts_, strict=True):
            if weight == 0:
                continue
            part_scores = float(weight) * standardise(part.score(histories)).to(self.device)
            total = part_scores if total is None else total + part_scores
        assert total is not None
        return total  # [B, N]

    def to(self, device: torch.device) -> Ensemble:
        self.device = torch.device(device)
        for part in self.parts_:
            part.to(self.device)
        return self

    # -- persistence ---------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, torch.Tensor]:
        assert self.weights_ is not None
        state = {"weights": torch.from_numpy(self.weights_.astype(np.float64))}
        for i, part in enumerate(self.parts_):
            part.n_items_ = self.n_items_
            state.update({f"part{i}.{k}": v for k, v in part._state().items()})
        return state

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        weights = tensors.pop("weights").double().numpy()
        if len(weights) != len(self.config.parts):
            raise ValueError(f"{len(weights)} weights for {len(self.config.parts)} parts")
        self.weights_ = weights
        self.parts_ = self._new_parts()
        for i, part in enumerate(self.parts_):
            prefix = f"part{i}."
            part.n_items_ = self.n_items_
            part._set_state({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})

