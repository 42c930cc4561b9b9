"""llm-gen: generative interests. A small instruction LM (SmolLM2-135M-Instruct, shipped offline) reads a prompt
built from the history's most recent item titles and writes what the user will want next; the item LM embeds that
text and every catalogue item is scored by its cosine to it (full ranking, so every metric applies).

    prompt    = config.prompt.format(history="title_t; title_t-1; ...")
    interest  = SmallLM.generate(prompt)                     greedy, batched, cached per prompt
    score(i)  = cos(ItemLM(interest), ItemLM(item i)) + profile_weight * cos(profile, item i)

`finetune="lora"` first tunes LoRA adapters of the generator (peft) to answer the prompt of a training prefix
with the title of the item that followed it (the loss on the answer's tokens only; `max_pairs` prefixes drawn at
random from the training split). The tuned generator is also what `--rerank llm:RUN` loads as a ranker
(`GenerativeLM`). Generation is the cost: about one user per second per CPU core at 24 new tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import check_items, item_counts, popularity_fallback, text_profiles
from lmrec.models._texts import clean, tensors_to_texts, texts_to_tensors
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import GenerativeLM
from lmrec.models.registry import register
from lmrec.text.base import EncoderConfig
from lmrec.train.batches import TensorBatch
from lmrec.train.trainer import Progress, TrainConfig, Trainer

PROMPT = ("A shopper's recent purchases, most recent first: {history}. "
          "Name the one product they are most likely to buy next.")
SYSTEM = "You are a shopping assistant. Answer with one product name only."
LORA_PREFIX = "lora."
CACHE_LIMIT = 200_000  # generated interests kept per model (prompt -> text)


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=8, lr=5e-4, patience=0, seed=0)


@dataclass(frozen=True)
class GenerativeConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # embeds the interests and the items
    prompt: str = PROMPT  # {history}: the most recent titles, most recent first, "; "-joined
    system: str | None = SYSTEM
    answer_prefix: str = "Product:"  # starts the model's answer (generation continues it; tuning answers after it)
    history_items: int = 5
    title_chars: int = 80  # each title is cut to this many characters in the prompt (and as a LoRA answer)
    max_new_tokens: int = 24
    generation_batch: int = 16
    profile_weight: float = 0.0  # > 0 blends in lm-content's recency-weighted history profile
    recency_decay: float = 0.7
    finetune: Literal["none", "lora"] = "none"
    lora_rank: int = 8
    max_pairs: int = 2000  # LoRA training prefixes drawn from the training split
    train: TrainConfig = field(default_factory=_train_defaults)

    def __post_init__(self) -> None:
        if "{history}" not in self.prompt:
            raise ConfigError("llm-gen prompt must contain {history} (where the history's titles go)")
        if min(self.history_items, self.title_chars, self.max_new_tokens, self.generation_batch, self.lora_rank,
               self.max_pairs) < 1:
            raise ConfigError("llm-gen needs history_items, title_chars, max_new_tokens, generation_batch, "
                              "lora_rank and max_pairs >= 1")
        if self.finetune not in ("none", "lora"):
            raise ConfigError(f"llm-gen finetune={self.finetune!r} is not one of ['none', 'lora']")
        if self.profile_weight < 0 or not 0 < self.recency_decay <= 1:
            raise ConfigError("llm-gen needs profile_weight >= 0 and 0 < recency_decay <= 1")


@dataclass(frozen=True)
class AnswerBatch(TensorBatch):
    """Chat-formatted prompts with their answers: the tokens, the mask, and labels (-100 outside the answer)."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def training_pairs(train: Interactions, max_pairs: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """Up to `max_pairs` (history before position t, item t) prefixes, t >= 1, drawn uniformly over every
    user's training transitions."""
    seqs = train.sequences()
    where = [(row, t) for row in range(len(seqs)) for t in range(1, len(seqs.row(row)))]
    if not where:
        raise DataError("llm-gen: no user has two training interactions; there is nothing to tune on")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(where), size=min(max_pairs, len(where)), replace=False)
    return [(seqs.row(where[i][0])[: where[i][1]], int(seqs.row(where[i][0])[where[i][1]])) for i in picked]


@register("llm-gen", tiny={"encoder": {"cache": False}, "max_new_tokens": 2, "generation_batch": 64,
                           "history_items": 2, "title_chars": 24, "profile_weight": 1.0, "max_pairs": 8,
                           "train": {"batch_size": 4, "threads": 1}})
class GenerativeInterests(BaseRecommender, GenerativeLM):
    """The small LM writes the next interest from the history's titles; the item LM matches it to the catalogue."""

    Config = GenerativeConfig
    config: GenerativeConfig
    sequential = False  # generation reads titles, it does not learn item order (the ring contract does not apply)

    def __init__(self, config: GenerativeConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.lm_: Any = None
        self.lora_: dict[str, Tensor] | None = None
        self._interests: dict[str, str] = {}
        self._encoder: Any = None

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> GenerativeInterests:
        from lmrec.text.encoder import encode_catalog

        cfg = self.config
        if catalog is None or len(catalog) != train.n_items:
            raise DataError("llm-gen needs a catalogue with one text row per item (--items FILE)")
        self.item_texts_ = [clean(t, cfg.title_chars) for t in catalog.texts(cfg.encoder.template)]
        vectors = encode_catalog(catalog, cfg.encoder, device=self.device)
        self.item_vectors_ = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self.counts_, self.n_items_ = item_counts(train), train.n_items
        self.lm_ = self._load_lm(None)
        self._interests = {}
        if cfg.finetune == "lora":
            self.fit_log_ = self._tune(train, progress)
        else:
            self.fit_log_ = {"epochs": [], "stop_reason": "zero-shot (finetune=none)"}
        return self

    def _load_lm(self, lora: dict[str, Tensor] | None) -> Any:
        from lmrec.text.generate import SmallLM

        lm = SmallLM(str(self.device), private=True)  # LoRA must not touch the process's shared small_lm()
        if lora is not None:
            lm.add_lora(self.config.lora_rank, state=lora)
            lm.merge_lora()
        return lm

    def _tune(self, train: Interactions, progress: Progress | None) -> dict:
        cfg = self.config
        pairs = training_pairs(train, cfg.max_pairs, cfg.train.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            trainable = self.lm_.add_lora(cfg.lora_rank)
        prompts = [self.prompt(history) for history, _ in pairs]
        answers = [self.item_texts_[target] for _, target in pairs]

        def batches(rng: np.random.Generator):
            order = rng.permutation(len(pairs))
            for begin in range(0, len(order), cfg.train.batch_size):
                rows = order[begin:begin + cfg.train.batch_size]
                tokens = self.lm_.answer_batch([prompts[i] for i in rows], [answers[i] for i in rows],
                                               system=cfg.system, prefix=cfg.answer_prefix)
                yield AnswerBatch(**tokens)

        def loss(model: torch.nn.Module, batch: AnswerBatch) -> Tensor:
            return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss

        self.lm_.model.train()
        log = Trainer(cfg.train, progress=progress, device=self.device).fit(self.lm_.model, batches, loss)
        self.lora_ = self.lm_.lora_state()
        self.lm_.merge_lora()
        return {**log.to_dict(), "pairs": len(pairs), "trainable_parameters": int(trainable)}

    # -- scoring ---------------------------------------------------------------------------------------------
    def prompt(self, history: np.ndarray) -> str:
        """The prompt for one history (dense item indices, oldest first)."""
        recent = [self.item_texts_[int(i)] for i in history[-self.config.history_items:][::-1]]
        return self.config.prompt.format(history="; ".join(recent))

    def interests(self, histories: Histories, progress: Any = None) -> list[str]:
        """The generated text for each history ("" for an empty one); cached per prompt."""
        prompts = [self.prompt(histories.seq[r, : histories.lengths[r]]) if histories.lengths[r] else ""
                   for r in range(len(histories))]
        missing = sorted({p for p in prompts if p and p not in self._interests})
        if missing:
            if len(self._interests) + len(missing) > CACHE_LIMIT:
                self._interests = {}
            made = self.lm_.generate_batch(missing, system=self.config.system,
                                           max_new_tokens=self.config.max_new_tokens,
                                           batch_size=self.config.generation_batch,
                                           prefix=self.config.answer_prefix, progress=progress)
            self._interests.update(zip(missing, made, strict=True))
        return [self._interests.get(p, "") for p in prompts]

    def score(self, histories: Histories) -> Tensor:
        self._check_fitted()
        check_items(histories, self.n_items_)
        texts = self.interests(histories)
        wanted = torch.from_numpy(np.asarray(self._item_encoder().encode(texts), dtype=np.float32))  # [B, T]
        scores = wanted @ self.item_vectors_.T
        if self.config.profile_weight > 0:
            profile = text_profiles(self.item_vectors_, histories, self.config.recency_decay)
            scores = scores + self.config.profile_weight * (profile @ self.item_vectors_.T)
        empty = Histories(histories.seq, np.where([bool(t.strip()) for t in texts], histories.lengths, 0))
        return popularity_fallback(scores, empty, self.counts_)

    def _item_encoder(self) -> Any:
        from lmrec.text.encoder import make_encoder

        if self._encoder is None:
            self._encoder = make_encoder(self.config.encoder, device=self.device)
        return self._encoder

    def ranking_lm(self) -> Any:
        """The generator (LoRA merged when tuned): what an `llm:RUN` re-ranking stage scores titles with."""
        self._check_fitted()
        return self.lm_

    def ranking_prompt(self, history: np.ndarray) -> str:
        """The chat-formatted prompt plus answer prefix the generator answers (and LoRA tuning trained it to
        answer) after: an answer follows it directly."""
        self._check_fitted()
        return self.lm_.chat_prompt(self.prompt(np.asarray(history)), system=self.config.system) + \
            self.config.answer_prefix

    # -- state -----------------------------------------------------------------------------------------------
    def to(self, device: torch.device) -> GenerativeInterests:
        self.device = torch.device(device)
        self._encoder = None
        if self.lm_ is not None:
            self.lm_.to(str(self.device))
        return self

    def _state(self) -> dict[str, Tensor]:
        lora = {LORA_PREFIX + k: v for k, v in (self.lora_ or {}).items()}
        return {"item_vectors": self.item_vectors_, "counts": self.counts_, **texts_to_tensors(self.item_texts_),
                **lora}

    def _set_state(self, tensors: dict[str, Tensor]) -> None:
        self.item_vectors_, self.counts_ = tensors["item_vectors"], tensors["counts"]
        self.item_texts_ = tensors_to_texts(tensors)
        lora = {k[len(LORA_PREFIX):]: v for k, v in tensors.items() if k.startswith(LORA_PREFIX)}
        if self.config.finetune == "lora" and not lora:
            raise ConfigError("llm-gen: the model says finetune=lora but its weights file holds no LoRA tensors")
        self.lora_ = lora or None
        self.lm_ = self._load_lm(self.lora_)
        self._interests = {}
