"""`SequentialConfig`: one frozen config for every sequence model; presets (sasrec, gru4rec-fused, ...) differ
only in their registered defaults (`net`, `item_repr`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from lmrec.errors import ConfigError
from lmrec.models.sequence.priors import check_priors
from lmrec.text.base import EncoderConfig
from lmrec.train.trainer import TrainConfig

ItemRepr = Literal["id", "text", "fused"]
FinetuneMode = Literal["none", "recommender", "adapter", "lora", "lora-adapter", "lora-recommender", "full"]
FINETUNE_MODES: tuple[str, ...] = get_args(FinetuneMode)


def _train_defaults() -> TrainConfig:
    # Chosen on ml-100k *validation* NDCG@10 (bench/results/sasrec_ml100k.md): converges in ~30 epochs.
    return TrainConfig(epochs=30, batch_size=128, lr=3e-3, weight_decay=0.1, optimizer="adamw", patience=10,
                       precision="auto")


@dataclass(frozen=True)
class SequentialConfig:
    """`net`: the registered sequence net (sasrec, gru4rec, lstm, ...). `item_repr`: id (ID table), text (frozen
    LM vectors + adapter, inductive), fused (w_i = v_i + alpha * w'_i). `loss`: a registered next-item loss
    (lmrec.train.losses: ce, sampled, bpr, bce)."""

    net: str = "sasrec"
    dim: int = 64
    layers: int = 2
    heads: int = 2
    hidden: int = 128  # recurrent state size (GRU, LSTM)
    max_len: int = 50
    dropout: float = 0.3
    item_repr: ItemRepr = "id"
    alpha: float = 1.0
    learn_alpha: bool = True
    fusion: Literal["sum", "gate", "concat"] = "sum"  # fused towers: how the text and ID parts combine
    id_dropout: float = 0.0  # fused towers: share of items whose ID part is hidden at each training step
    align_weight: float = 0.0  # fused towers: weight of the InfoNCE loss aligning each item's text and ID parts
    align_temperature: float = 0.1
    # attributes (lmrec/models/attributes.py): item_attributes adds the catalogue's categorical and numeric fields
    # to a fused tower's w'_i; user_attributes joins g(x_u) to every user state and trains g(x_u) alone on the
    # same next items with weight user_loss_weight (what serves a user with no history); None: when the data has
    # user attributes (recorded in the fit log either way)
    item_attributes: bool = False
    user_attributes: bool | None = False
    item_vectors: str | None = None  # a file of per-item vectors (image, audio; lmrec/data/vectors.py) fused in w'_i
    user_loss_weight: float = 0.5
    # multi-task heads (lmrec/models/sequence/heads.py): weights of the rating (MSE) and click (BCE, sampled
    # negatives) losses beside next-item; 0 = no head
    rating_weight: float = 0.0
    click_weight: float = 0.0
    loss: str = "ce"
    negatives: int = 1024  # losses that sample: shared popularity-sampled (sampled) or per-target uniform (bpr, bce)
    adapter: Literal["mlp", "moe"] = "mlp"  # text -> item vector: linear + residual MLP, or UniSRec's MoE
    experts: int = 8  # moe only
    # priors blended with the net's score (lmrec/models/sequence/priors.py): "text" (lm-content's similarity on the
    # raw LM vectors) and "pop" (log item counts), z-scored per history; weights (net first) fixed, or searched on
    # validation NDCG@10 when None. `lmrec zero-shot` turns on both.
    priors: tuple[str, ...] = ()
    prior_weights: tuple[float, ...] | None = None
    prior_decay: float = 0.7  # the text prior's recency weight decay**j, as lm-content
    # text skip: the net's score plus tau * (lm-content's cosine), tau learned; the net learns what text similarity
    # misses, and on a new catalogue the similarity part means what it meant in training (lmrec/models/sequence/
    # module.py)
    text_skip: bool = False
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    # transfer (lmrec.transfer, run by the pipeline): start from a `lmrec pretrain` checkpoint and train only part
    # of the model: none (zero-shot), recommender (all but the LM), adapter (the text adapter only), lora (LoRA on the
    # LM only), lora-adapter (LoRA + the adapter), lora-recommender (LoRA + all but the LM), full (everything)
    pretrained: str | None = None
    finetune: FinetuneMode = "recommender"
    lora_rank: int = 8
    lm_lr: float = 5e-5  # lr of the LM's own weights in finetune=full
    lora_lr: float = 1e-3  # lr of the LoRA weights (finetune=lora*)
    lm_negatives: int = 256  # lora/full: uniform negatives per batch re-encoded by the live LM beside the targets
    lm_max_tokens: int = 64
    # how the net computes user states when scoring (`lmrec quantize`, lmrec/models/sequence/inference.py): float32,
    # int8 (dynamic quantisation) or onnx (ONNX Runtime); the weights stay float32, the form is rebuilt from them
    inference: Literal["float32", "int8", "onnx"] = "float32"

    def __post_init__(self) -> None:
        if self.adapter not in ("mlp", "moe"):
            raise ConfigError(f"model.adapter={self.adapter!r} is not one of ['mlp', 'moe']")
        object.__setattr__(self, "priors", tuple(self.priors))
        if self.prior_weights is not None:
            object.__setattr__(self, "prior_weights", tuple(float(w) for w in self.prior_weights))
        check_priors(self.priors, self.prior_weights, self.item_repr)
        if self.text_skip and self.item_repr == "id":
            raise ConfigError("model.text_skip needs item text; item_repr='id' has none")
        if self.train.adversarial.enabled and self.item_repr == "id" and "items" not in self.train.adversarial.parts:
            raise ConfigError("model.train.adversarial.parts=['text'] perturbs nothing in an ID-only model; add "
                              "'items' or use a text or fused model")
        if self.item_vectors is not None and self.item_repr != "fused":
            raise ConfigError("model.item_vectors needs item_repr='fused' (the vectors join w'_i)")
        if self.item_attributes and self.item_repr != "fused":
            raise ConfigError("model.item_attributes needs item_repr='fused' (w'_i = ID + attribute embeddings)")
        if (self.item_attributes or self.user_attributes) and self.pretrained:
            raise ConfigError("model.item_attributes / user_attributes do not combine with model.pretrained: "
                              "attributes are learned per dataset")
        if self.rating_weight < 0 or self.click_weight < 0:
            raise ConfigError(f"model.rating_weight and model.click_weight must be >= 0; got {self.rating_weight}, "
                              f"{self.click_weight}")
        if self.user_loss_weight < 0:
            raise ConfigError(f"model.user_loss_weight={self.user_loss_weight!r} must be >= 0")
        if not 0 < self.prior_decay <= 1:
            raise ConfigError(f"model.prior_decay={self.prior_decay!r} must be in (0, 1]")
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"model.finetune={self.finetune!r} is not one of {list(FINETUNE_MODES)}")
        if self.finetune != "recommender" and not self.pretrained:
            raise ConfigError(f"model.finetune={self.finetune!r} needs model.pretrained=DIR (a `lmrec pretrain` "
                              "output)")
        for key in ("dim", "layers", "hidden", "max_len", "negatives"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)!r} must be a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout!r} must be in [0, 1)")
        if not 0.0 <= self.id_dropout < 1.0 or self.align_weight < 0 or self.align_temperature <= 0:
            raise ConfigError(f"model needs 0 <= id_dropout < 1, align_weight >= 0, align_temperature > 0; got "
                              f"{self.id_dropout}, {self.align_weight}, {self.align_temperature}")

    @property
    def language_model_tuned(self) -> bool:
        """Whether fine-tuning changes the LM itself (its vectors then come from the tuned LM, saved with it)."""
        return self.finetune.startswith("lora") or self.finetune == "full"
