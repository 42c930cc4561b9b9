"""Hybrid: a collaborative model's scores blended with a content model's, each z-normalised per history.

score = alpha * z(cf) + (1 - alpha) * z(content); z standardises each history's row over all items, so the two
parts are on one scale whatever their raw ranges. Both parts are ordinary registered models; their tensors are
saved in the hybrid's one safetensors file under the prefixes "cf." and "content.".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError
from lmrec.models.base import BaseRecommender
from lmrec.models.blend import standardise
from lmrec.models.registry import get_model, register
from lmrec.train.trainer import Progress


@dataclass(frozen=True)
class HybridConfig:
    cf: str = "ease"
    content: str = "tfidf"
    alpha: float = 0.8  # weight of the collaborative part
    cf_config: dict[str, Any] = field(default_factory=dict)  # keys of the cf model's Config
    content_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"hybrid alpha must be in [0, 1], got {self.alpha}")
        if "hybrid" in (self.cf, self.content):
            raise ConfigError("hybrid parts cannot themselves be hybrids")


@register("hybrid")
class Hybrid(BaseRecommender):
    Config = HybridConfig

    def __init__(self, config: HybridConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.cf_: BaseRecommender | None = None
        self.content_: BaseRecommender | None = None

    def _parts(self) -> tuple[BaseRecommender, BaseRecommender]:
        cfg = self.config
        cf, content = get_model(cfg.cf), get_model(cfg.content)
        return (cf.cls(cf.config(cfg.cf_config, where="cf_config."), name=cf.name),
                content.cls(content.config(cfg.content_config, where="content_config."), name=content.name))

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> Hybrid:
        cf, content = self._parts()
        self.cf_ = cf.to(self.device).fit(train, valid=valid, catalog=catalog, progress=progress)
        self.content_ = content.to(self.device).fit(train, valid=valid, catalog=catalog, progress=progress)
        self.n_items_ = train.n_items
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        alpha = self.config.alpha
        return alpha * standardise(self.cf_.score(histories)) + (1 - alpha) * standardise(
            self.content_.score(histories).to(self.cf_.device)
        )  # [B, N]

    def to(self, device: torch.device) -> Hybrid:
        self.device = torch.device(device)
        for part in (self.cf_, self.content_):
            if part is not None:
                part.to(self.device)
        return self

    def _state(self) -> dict[str, torch.Tensor]:
        return {
            **{f"cf.{k}": v for k, v in self.cf_._state().items()},
            **{f"content.{k}": v for k, v in self.content_._state().items()},
        }

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.cf_, self.content_ = self._parts()
        for prefix, part in (("cf.", self.cf_), ("content.", self.content_)):
            part.n_items_ = self.n_items_
            part._set_state({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})

