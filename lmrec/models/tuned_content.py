"""lm-tuned: text similarity through the language model tuned on the catalogue's own co-interactions.

`lm-content` compares items with a general-purpose sentence model, which on a product catalogue puts an ink
cartridge next to any ink and blurs the brand and model tokens that decide what people buy together (on sparse
Amazon Office TF-IDF beats it). `lm-tuned` fine-tunes LoRA adapters of the same LM (peft) with an in-batch
InfoNCE loss on pairs of items that follow each other in a user's training history (both directions), stops on
validation NDCG@10, and then scores exactly like `lm-content` with the tuned vectors. New items are encoded by the
tuned LM, so they land in the same space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import item_counts
from lmrec.models.registry import register
from lmrec.models.semantic import SemanticContent
from lmrec.text.base import ItemEncoder
from lmrec.text.encoder import EncoderConfig
from lmrec.train.batches import TensorBatch
from lmrec.train.trainer import Progress, TrainConfig, Trainer
from lmrec.train.validation import validation_ndcg

LM_PREFIX = "language_model."


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=4, batch_size=128, lr=1e-3, patience=1, precision="auto", seed=0)


@dataclass(frozen=True)
class TunedContentConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    recency_decay: float = 0.7  # as lm-content: weight of the item j positions before the last is decay**j
    lora_rank: int = 8
    temperature: float = 0.05  # InfoNCE temperature over cosine similarities
    window: int = 1  # pairs (i, j): j up to `window` positions after i in a user's training history
    max_tokens: int = 48
    train: TrainConfig = field(default_factory=_train_defaults)

    def __post_init__(self) -> None:
        if not 0 < self.recency_decay <= 1 or self.lora_rank < 1 or self.temperature <= 0 or self.window < 1:
            raise ConfigError(f"lm-tuned needs 0 < recency_decay <= 1, lora_rank >= 1, temperature > 0, window >= 1;"
                              f" got {self.recency_decay}, {self.lora_rank}, {self.temperature}, {self.window}")


@dataclass(frozen=True)
class ItemPairBatch(TensorBatch):
    """Co-interacted items: `left [B]` and `right [B]` (dense item indices)."""

    left: Tensor
    right: Tensor

    def __len__(self) -> int:
        return int(self.left.shape[0])


def co_interaction_pairs(train: Interactions, window: int) -> np.ndarray:
    """[P, 2] (item, a later item within `window` positions) over every user's training history, distinct."""
    seqs = train.sequences()
    pairs = []
    for gap in range(1, window + 1):
        for row in range(len(seqs)):
            items = seqs.row(row)
            if len(items) > gap:
                pairs.append(np.stack([items[:-gap], items[gap:]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    found = np.concatenate(pairs).astype(np.int64)
    found = found[found[:, 0] != found[:, 1]]
    return np.unique(found, axis=0)


@register("lm-tuned", tiny={"encoder": {"cache": False}, "max_tokens": 16,
                            "train": {"epochs": 1, "batch_size": 16, "threads": 1}})
class TunedSemanticContent(SemanticContent):
    """Cosine between a history profile and item vectors of the LM tuned (LoRA) on co-interacted item pairs."""

    Config = TunedContentConfig
    config: TunedContentConfig

    def __init__(self, config: TunedContentConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.language_model_: Any = None

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> TunedSemanticContent:
        from lmrec.text.trainable import TrainableTextEncoder

        cfg = self.config
        if catalog is None or len(catalog) != train.n_items:
            raise DataError("lm-tuned needs a catalogue with one text row per item (--items FILE)")
        pairs = co_interaction_pairs(train, cfg.window)
        if len(pairs) == 0:
            raise DataError("lm-tuned: no user has two training interactions; there is nothing to tune on")
        texts = catalog.texts(cfg.encoder.template)
        with torch.random.fork_rng(devices=[]):  # LoRA's initial draws follow the seed
            torch.manual_seed(cfg.train.seed)
            lm = TrainableTextEncoder(texts, cfg.encoder, mode="lora", lora_rank=cfg.lora_rank,
                                      max_tokens=cfg.max_tokens).to(self.device)
        self.counts_, self.n_items_ = item_counts(train), train.n_items
        self.language_model_ = lm  # item vectors are encoded before each validation and after training

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(pairs))
            for start in range(0, len(order), cfg.train.batch_size):
                chunk = torch.from_numpy(pairs[order[start:start + cfg.train.batch_size]])
                yield ItemPairBatch(chunk[:, 0], chunk[:, 1])

        def validate() -> float:
            self._refresh()
            return validation_ndcg(self, valid, k=10)

        trainer = Trainer(cfg.train, progress=progress, device=self.device)
        log = trainer.fit(lm, batches, self._loss, validate=validate if valid is not None and len(valid) else None)
        self.fit_log_ = {**log.to_dict(), "pairs": int(len(pairs))}
        self._refresh()  # the Trainer restored the best-validating weights
        return self

    def _loss(self, lm: nn.Module, batch: ItemPairBatch) -> Tensor:
        """Symmetric in-batch InfoNCE: each left item's partner is its positive, the batch's other rights the
        negatives (and the other way round)."""
        both = lm(torch.cat([batch.left, batch.right]))
        left, right = both[: len(batch)], both[len(batch):]
        logits = (F.normalize(left.float(), dim=-1) @ F.normalize(right.float(), dim=-1).T) / self.config.temperature
        labels = torch.arange(len(batch), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    def _refresh(self) -> None:
        """Item vectors [N, T] from the LM as it is now (eval mode, no gradients)."""
        self.item_vectors_ = self.language_model_.encode_all().cpu()

    def new_item_encoder(self, catalog: Catalog | None) -> ItemEncoder:
        """The tuned LM: new items land in the space the catalogue was encoded into."""
        from lmrec.text.trainable import TunedTextEncoder

        self._check_fitted()
        return TunedTextEncoder(self.language_model_)

    def to(self, device: torch.device) -> TunedSemanticContent:
        self.device = torch.device(device)
        if self.language_model_ is not None:
            self.language_model_.to(self.device)
        return self

    def _state(self) -> dict[str, Tensor]:
        lm = {LM_PREFIX + k: v for k, v in self.language_model_.adapter_state().items()}
        return {**super()._state(), **lm}

    def _set_state(self, tensors: dict[str, Tensor]) -> None:
        from lmrec.text.trainable import TrainableTextEncoder

        lm_state = {k[len(LM_PREFIX):]: v for k, v in tensors.items() if k.startswith(LM_PREFIX)}
        super()._set_state({k: v for k, v in tensors.items() if not k.startswith(LM_PREFIX)})
        cfg = self.config
        self.language_model_ = TrainableTextEncoder.from_state(lm_state, cfg.encoder, mode="lora",
                                                               lora_rank=cfg.lora_rank, max_tokens=cfg.max_tokens)
