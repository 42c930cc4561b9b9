"""Content-based recommendation from language-model item vectors (the #2 content baseline, upgraded): the
history's recency-weighted mean vector against every item's vector. Works for items nobody has touched."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import check_items, item_counts, popularity_fallback, text_profiles
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import GrowableCatalogue, ItemVectors
from lmrec.models.hybrid import Hybrid, HybridConfig
from lmrec.models.registry import register
from lmrec.text.base import ItemEncoder
from lmrec.text.encoder import EncoderConfig
from lmrec.train.trainer import Progress


@dataclass(frozen=True)
class SemanticConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    recency_decay: float = 0.7  # weight of the item j positions before the last: decay**j

    def __post_init__(self) -> None:
        if not 0 < self.recency_decay <= 1:
            raise ConfigError(f"lm-content needs 0 < recency_decay <= 1; got {self.recency_decay}")


@register("lm-content")
class SemanticContent(BaseRecommender, GrowableCatalogue, ItemVectors):
    """Cosine between a history profile and item vectors from the item encoder (all-MiniLM-L6-v2 by default)."""

    Config = SemanticConfig

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None):
        from lmrec.text.encoder import encode_catalog

        if catalog is None or len(catalog) != train.n_items:
            raise DataError("lm-content needs a catalogue with one text row per item (--items FILE)")
        vectors = encode_catalog(catalog, self.config.encoder, device=self.device)
        if not np.any(vectors):
            raise DataError("lm-content: every catalogue text is empty; set text fields or a template")
        self.item_vectors_ = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))  # [N, T]
        self.counts_ = item_counts(train)
        self.n_items_ = train.n_items
        return self

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        check_items(histories, self.n_items_)
        profile = text_profiles(self.item_vectors_, histories, self.config.recency_decay)  # [B, T]
        scores = profile @ self.item_vectors_.T  # [B, N]
        empty = Histories(histories.seq, np.where(profile.abs().sum(1).numpy() == 0, 0, histories.lengths))
        return popularity_fallback(scores, empty, self.counts_)

    @property
    def text_vectors(self) -> torch.Tensor | None:
        """The item text vectors [N, T] scores are built from (None before fit)."""
        return self.item_vectors_ if self.n_items_ is not None else None

    def item_vectors(self) -> np.ndarray:
        self._check_fitted()
        return self.item_vectors_.numpy()

    def new_item_encoder(self, catalog: Catalog | None) -> ItemEncoder:
        """The configured encoder (TF-IDF refitted on `catalog`, which reproduces the training vectors)."""
        from lmrec.text.encoder import catalogue_encoder

        return catalogue_encoder(self.config.encoder, catalog, device=self.device)

    def add_items(self, text_vectors: np.ndarray) -> np.ndarray:
        """Append items known only by their text vectors [n, T] (no interactions yet); returns their dense indices.

        A score is a history profile against item vectors, so a new item is ranked by its text at once.
        """
        self._check_fitted()
        vectors = torch.as_tensor(np.asarray(text_vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape[1] != self.item_vectors_.shape[1]:
            raise DataError(f"new item vectors must be [n, {self.item_vectors_.shape[1]}]; got {tuple(vectors.shape)}")
        self.item_vectors_ = torch.cat([self.item_vectors_, vectors])
        self.counts_ = torch.cat([self.counts_, torch.zeros(len(vectors), dtype=self.counts_.dtype)])
        first = self.n_items_
        self.n_items_ += len(vectors)
        return np.arange(first, self.n_items_)

    def _state(self) -> dict[str, torch.Tensor]:
        return {"item_vectors": self.item_vectors_, "counts": self.counts_}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.item_vectors_, self.counts_ = tensors["item_vectors"], tensors["counts"]


@dataclass(frozen=True)
class HybridLMConfig(HybridConfig):
    content: str = "lm-content"


@register("hybrid-lm")
class HybridLM(Hybrid):
    """EASE blended with the language-model content model."""

    Config = HybridLMConfig
