"""Start a sequence model from a `lmrec pretrain` checkpoint and train only the part `config.finetune` names.

    none         zero-shot: the checkpoint as is, items of the new catalogue placed by their text
    recommender  every recommender weight (transformer, text adapter, ID table if fused); the LM stays frozen
    adapter      the text adapter only (UniSRec's parameter-efficient inductive fine-tuning); transformer frozen
    lora         LoRA weights inside the language model (peft) only; the recommender stays frozen
    lora-adapter LoRA weights and the text adapter (the LM and the recommender side each get a small trainable part)
    lora-recommender  LoRA weights and every recommender weight: the LM's big matrices alone stay frozen (PEFT as
                 usually practised: low-rank updates in the backbone, the small task model trained whole)
    full         everything end to end, the language model included (its weights at `lm_lr`, LoRA's at `lora_lr`)

The language model is part of the model in every mode (it makes the item vectors), so trainable fractions are of
LM + recommender parameters.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Interactions
from lmrec.errors import ConfigError, ModelFileError
from lmrec.models.sequence import SequenceModule, SequentialConfig, SequentialRecommender
from lmrec.models.sequence.windows import training_windows, window_batches
from lmrec.text.base import EncoderConfig
from lmrec.train.batches import SequenceBatch
from lmrec.train.trainer import ParameterGroups, Progress
from lmrec.train.validation import validation_ndcg

log = logging.getLogger(__name__)
ARCHITECTURE_FIELDS = ("net", "dim", "layers", "heads", "hidden", "max_len", "adapter", "experts", "text_skip")
# what each mode trains on the recommender side: named parts of the SequenceModule
_ALL_PARTS = ("net", "adapter", "ids", "alpha", "fusion")
_ITEM_PARTS = ("adapter", "ids", "alpha", "fusion")
RECOMMENDER_PARTS = {"recommender": _ALL_PARTS, "adapter": _ITEM_PARTS, "lora": (), "lora-adapter": _ITEM_PARTS,
                     "lora-recommender": _ALL_PARTS, "full": _ALL_PARTS}


def lm_mode(finetune: str) -> str:
    """How the LM itself trains in an LM-in-the-loop mode: all its weights (full) or LoRA weights (lora*)."""
    return "full" if finetune == "full" else "lora"


def pretrained_spec(directory: str | Path) -> tuple[str, SequentialConfig]:
    """(model name, config) of a `lmrec pretrain` checkpoint (DIR/model, or a saved model directory itself), read
    from its config.yaml alone: building a run's config needs no weights."""
    from lmrec.config import read_yaml
    from lmrec.models.base import CONFIG
    from lmrec.models.registry import get_model

    path = Path(directory)
    model_dir = path / "model" if (path / "model").is_dir() else path
    if not (model_dir / CONFIG).is_file():
        raise ModelFileError(f"{path}: no such pretrained model directory (write one with `lmrec pretrain`)")
    saved = read_yaml(model_dir / CONFIG)
    entry = get_model(str(saved.get("model")))
    config = entry.config(saved.get("config", {}))
    if not issubclass(entry.cls, SequentialRecommender) or config.item_repr != "text":
        raise ModelFileError(f"{path}: holds {entry.name!r}; transfer needs an inductive text sequence model "
                             "(`lmrec pretrain` writes sasrec-text): ID embeddings do not carry to a new catalogue")
    return entry.name, config


def load_pretrained(directory: str | Path) -> SequentialRecommender:
    """The text sequence model saved by `lmrec pretrain` (checked by `pretrained_spec` first)."""
    from lmrec.models.base import load_model

    pretrained_spec(directory)
    path = Path(directory)
    return load_model(path / "model" if (path / "model").is_dir() else path)  # type: ignore[return-value]


def architecture_of(config: SequentialConfig) -> dict[str, Any]:
    """The config values a model must share with the checkpoint to take its weights."""
    return {key: getattr(config, key) for key in ARCHITECTURE_FIELDS}


def fit_pretrained(model: SequentialRecommender, train: Interactions, *, valid: Holdout | None,
                   catalog: Catalog | None, progress: Progress | None = None,
                   text_vectors: np.ndarray | None = None) -> SequentialRecommender:
    """What the run pipeline calls instead of `model.fit` when `model.config.pretrained` is set: build the model
    on the target catalogue, take the checkpoint's net and text adapter, train what `config.finetune` names."""
    cfg = model.config
    source = load_pretrained(cfg.pretrained)
    model.n_items_ = train.n_items
    vectors = model.encode_items(catalog, text_vectors, train.n_items)
    _check_compatible(source, model, vectors)
    with model.seeded(cfg.train.seed):
        model.module_ = SequenceModule.build(cfg, train.n_items, vectors).to(model.device)
    model.module_.load_text_model(source.module_)
    lm_total = language_model_parameters(cfg.encoder)
    model.module_.eval()
    start = validation_ndcg(model, valid, k=10) if valid is not None and len(valid) else None
    if cfg.finetune == "none":
        fit_log: dict[str, Any] = {"epochs": [], "stop_reason": "zero-shot", "seconds": 0.0}
        trainable = 0
    elif cfg.finetune in ("recommender", "adapter"):
        trainable = set_trainable(model.module_, cfg.finetune)
        fit_log = model.train_module(train, valid, progress=progress).to_dict()
    else:
        fit_log, trainable = train_with_language_model(model, train, valid, catalog, progress)
    total = sum(p.numel() for p in model.module_.parameters()) + lm_total
    model.module_.eval()
    model.fit_log_ = {**fit_log, "finetune": cfg.finetune, "pretrained": str(cfg.pretrained), "start_valid": start,
                      "trainable_parameters": int(trainable), "total_parameters": int(total),
                      "language_model_parameters": int(lm_total),
                      "trainable_fraction": trainable / total if total else 0.0}
    model.fit_log_.update(model.fit_priors(train, valid))  # on the target: its counts, its validation users
    return model


def _check_compatible(source: SequentialRecommender, model: SequentialRecommender, text: Tensor | None) -> None:
    if model.config.item_repr == "id":
        raise ConfigError(f"{model.name} is ID-only; start a text or fused model from a pretrained checkpoint")
    mine, theirs = architecture_of(model.config), architecture_of(source.config)
    differ = {key: (mine[key], theirs[key]) for key in mine if mine[key] != theirs[key]}
    if differ:
        raise ConfigError("model config differs from the pretrained checkpoint in " + ", ".join(
            f"{key}={mine_!r} (checkpoint {theirs_!r})" for key, (mine_, theirs_) in differ.items()))
    if source.config.encoder.model != model.config.encoder.model or source.config.encoder.kind != \
            model.config.encoder.kind:
        raise ConfigError(f"encoder {model.config.encoder.model!r} differs from the checkpoint's "
                          f"{source.config.encoder.model!r}: the adapter only understands its own LM's vectors")
    width = source.text_vectors.shape[1]
    if text is None or text.shape[1] != width:
        raise ConfigError(f"item text vectors must be {width}-wide like the checkpoint's")


def set_trainable(module: SequenceModule, mode: str) -> int:
    """Freeze a freshly built module by mode (`RECOMMENDER_PARTS`): recommender trains everything, adapter the
    text adapter plus a fused model's new ID table, lora nothing (the LM alone learns). alpha keeps
    `learn_alpha` unless the mode freezes it. Returns the trainable count."""
    groups = module.parameter_groups()
    learn_alpha = all(p.requires_grad for p in groups["alpha"])
    keep = RECOMMENDER_PARTS[mode]
    for part, parameters in groups.items():
        for parameter in parameters:
            parameter.requires_grad_(part in keep and (part != "alpha" or learn_alpha))
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def language_model_parameters(encoder: EncoderConfig) -> int:
    """Parameter count of the sentence model behind `encoder` (0 for TF-IDF)."""
    if encoder.kind != "sentence":
        return 0
    from lmrec.text.sentence import SentenceEncoder

    return sum(p.numel() for p in SentenceEncoder(encoder).model.parameters())


class _Joint(nn.Module, ParameterGroups):
    """Sequence module + trainable LM under one state_dict, so the Trainer's best-epoch restore covers both."""

    def __init__(self, sequence: nn.Module, lm: nn.Module, lm_lr: float) -> None:
        super().__init__()
        self.sequence, self.lm, self.lm_lr = sequence, lm, lm_lr

    def param_groups(self, lr: float) -> list[dict]:
        """The recommender's weights at the main lr, the LM's (LoRA or all) at `lm_lr`."""
        lm = [p for p in self.lm.parameters() if p.requires_grad]
        lm_ids = {id(p) for p in lm}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in lm_ids]
        return ([{"params": rest, "lr": lr}] if rest else []) + [{"params": lm, "lr": self.lm_lr}]


def train_with_language_model(model: SequentialRecommender, train: Interactions, valid: Holdout | None,
                              catalog: Catalog | None, progress: Progress | None = None) -> tuple[dict, int]:
    """lora* / full: the batch's target items and `lm_negatives` uniform negatives are re-encoded by the live LM
    (with gradients) and form the softmax (log-Q corrected); input sequences read the catalogue vectors the LM
    gave at the start of the epoch (re-encoded whenever the LM has stepped since). A full softmax mixing live and
    stale columns was also tried: it can lower the loss by lifting every live item at once (only those are seen
    moving), and it validated worse in a short check. The final text vectors come from the best-validating LM."""
    from lmrec.text.trainable import TrainableTextEncoder
    from lmrec.train.trainer import Trainer

    cfg = model.config
    if catalog is None:
        raise ConfigError(f"finetune={cfg.finetune!r} needs the catalogue's item text")
    if cfg.text_skip:
        raise ConfigError(f"finetune={cfg.finetune!r} does not support model.text_skip (the skip reads the "
                          "catalogue's text vectors, which the live LM changes every step)")
    assert model.module_ is not None
    mode = lm_mode(cfg.finetune)
    lm = TrainableTextEncoder(catalog.texts(cfg.encoder.template), cfg.encoder, mode=mode,
                              lora_rank=cfg.lora_rank, max_tokens=cfg.lm_max_tokens).to(model.device)
    sequence = model.module_
    set_trainable(sequence, cfg.finetune)
    joint = _Joint(sequence, lm, cfg.lm_lr if mode == "full" else cfg.lora_lr)
    stale = {"value": True}

    def refresh() -> None:
        if stale["value"]:
            sequence.set_text_vectors(lm.encode_all())
            stale["value"] = False

    windows = training_windows(train, cfg.max_len)
    if not windows:
        raise ConfigError("no user has 2 or more training interactions; nothing to fine-tune on")
    base = window_batches(windows, cfg.train.batch_size, cfg.max_len)
    n_items = int(model.n_items_)
    counts = np.bincount(train.item, minlength=n_items).astype(np.float64)
    popularity = torch.from_numpy(counts / max(counts.sum(), 1.0)).float().to(model.device)

    def batches(rng: np.random.Generator):
        refresh()
        yield from base(rng)

    def loss_fn(module: nn.Module, batch: SequenceBatch) -> Tensor:
        stale["value"] = True
        hidden = sequence.net(batch.inputs, sequence.item_table())  # [B, L, D] over the epoch's cached item table
        keep = batch.targets >= 0
        h, y = hidden[keep], batch.targets[keep]
        candidates, position = candidate_items(y, cfg.lm_negatives, n_items)
        live = sequence.items_from_text(lm(candidates), candidates)  # [C, D] with gradients into the LM
        # mixed negative sampling: the batch's targets (drawn ~ popularity) and uniform extras, each logit
        # corrected by -log of its expected inclusion, so popular items are not punished for being in batches
        inclusion = len(y) * popularity[candidates] + (len(candidates) - position.max() - 1) / n_items
        logits = h @ live.T.to(h.dtype) - torch.log(inclusion.clamp_min(1e-12)).to(h.dtype)
        return F.cross_entropy(logits.float(), position[: len(y)])

    def validate() -> float:
        refresh()
        return validation_ndcg(model, valid, k=10)

    fit_log = Trainer(cfg.train, progress=progress, device=model.device).fit(
        joint, batches, loss_fn, validate=validate if valid is not None and len(valid) else None)
    stale["value"] = True
    refresh()  # the restored (best) LM's vectors
    lm_trainable, _ = lm.parameter_counts()
    trainable = lm_trainable + sum(p.numel() for p in sequence.parameters() if p.requires_grad)
    model.attach_language_model(lm)
    return fit_log.to_dict(), trainable


def candidate_items(targets: Tensor, negatives: int, n_items: int, multiple: int = 128) -> tuple[Tensor, Tensor]:
    """The batch's distinct targets plus uniform negatives (no repeats), padded to a multiple of `multiple` items
    so the LM sees few batch shapes (oneDNN caches one primitive per shape: memory grew to 12 GB without this);
    returns (candidates [C], each target's position in them)."""
    distinct, position = torch.unique(targets, return_inverse=True)
    size = min(n_items, -(-(len(distinct) + negatives) // multiple) * multiple)
    free = torch.ones(n_items, dtype=torch.bool, device=targets.device)
    free[distinct] = False
    pool = free.nonzero().squeeze(1)
    extra = pool[torch.randperm(len(pool), device=targets.device)[: size - len(distinct)]]
    return torch.cat([distinct, extra]), position
