"""Sequence recommenders (SASRec, GRU4Rec) over ID, text or fused item towers, trained the strong way: every
position of every training sequence predicts its next item with full softmax cross-entropy (or sampled softmax
with log-Q correction for big catalogues), AdamW, early stopping on validation NDCG@10."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmrec.data.split import Holdout
from lmrec.data.types import PAD, Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import check_items
from lmrec.models.base import BaseRecommender
from lmrec.models.items import FusedItemTower, IdItemTower, TextItemTower
from lmrec.models.nets import GRU4RecNet, SASRecNet
from lmrec.text.encoder import EncoderConfig
from lmrec.train.trainer import Batch, TrainConfig, Trainer
from lmrec.train.validation import validation_ndcg

log = logging.getLogger(__name__)
ItemRepr = Literal["id", "text", "fused"]
FinetuneMode = Literal["none", "recommender", "adapter", "lora", "lora-adapter", "lora-recommender", "full"]
FINETUNE_MODES: tuple[str, ...] = get_args(FinetuneMode)


def _train_defaults() -> TrainConfig:
    # Chosen on ml-100k *validation* NDCG@10 (bench/results/sasrec_ml100k.md): converges in ~30 epochs.
    return TrainConfig(epochs=30, batch_size=128, lr=3e-3, weight_decay=0.1, optimizer="adamw", patience=10,
                       precision="auto")


@dataclass(frozen=True)
class SequentialConfig:
    """Shared by SASRec and GRU4Rec. `item_repr`: id (ID table), text (frozen LM vectors + adapter, inductive),
    fused (w_i = v_i + alpha * w'_i)."""

    dim: int = 64
    layers: int = 2
    heads: int = 2
    hidden: int = 128  # GRU state size
    max_len: int = 50
    dropout: float = 0.3
    item_repr: ItemRepr = "id"
    alpha: float = 1.0
    learn_alpha: bool = True
    loss: Literal["ce", "sampled"] = "ce"
    negatives: int = 1024  # sampled softmax only: shared popularity-sampled negatives per batch
    adapter: Literal["mlp", "moe"] = "mlp"  # text -> item vector: linear + residual MLP, or UniSRec's MoE
    experts: int = 8  # moe only
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
    # transfer (lmrec.transfer): start from a `lmrec pretrain` checkpoint and train only part of the model:
    # none (zero-shot), recommender (all but the LM), adapter (the text adapter only), lora (LoRA on the LM only),
    # lora-adapter (LoRA + the adapter), lora-recommender (LoRA + all but the LM), full (everything, the LM included)
    pretrained: str | None = None
    finetune: FinetuneMode = "recommender"
    lora_rank: int = 8
    lm_lr: float = 5e-5  # lr of the LM's own weights in finetune=full
    lora_lr: float = 1e-3  # lr of the LoRA weights (finetune=lora*)
    lm_negatives: int = 256  # lora/full: uniform negatives per batch re-encoded by the live LM beside the targets
    lm_max_tokens: int = 64

    def __post_init__(self) -> None:
        if self.adapter not in ("mlp", "moe"):
            raise ConfigError(f"model.adapter={self.adapter!r} is not one of ['mlp', 'moe']")
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"model.finetune={self.finetune!r} is not one of {list(FINETUNE_MODES)}")
        if self.finetune != "recommender" and not self.pretrained:
            raise ConfigError(f"model.finetune={self.finetune!r} needs model.pretrained=DIR (a `lmrec pretrain` "
                              "output)")


class SequenceModule(nn.Module):
    """Item tower + sequence net: hidden states [B, L, D] and the item table [N, D] they are scored against."""

    def __init__(self, tower: nn.Module, net: nn.Module) -> None:
        super().__init__()
        self.tower, self.net = tower, net

    def forward(self, seq: Tensor, last_only: bool = False) -> tuple[Tensor, Tensor]:
        table = self.tower()  # [N, D]
        if last_only and isinstance(self.net, SASRecNet):
            return self.net(seq, table, last_only=True), table  # [B, 1, D]
        return self.net(seq, table), table


class SequentialRecommender(BaseRecommender):
    """Fit/score plumbing shared by the sequence models; subclasses pick the net."""

    Config = SequentialConfig
    architecture: str = "sasrec"
    sequential = True  # the contract checks next-item learning on the ring

    def __init__(self, config: SequentialConfig | None = None) -> None:
        super().__init__(config)
        self.module_: SequenceModule | None = None
        self.fit_log_: dict | None = None

    # -- construction ------------------------------------------------------------------------------------------
    def _build(self, n_items: int, text_vectors: Tensor | None) -> SequenceModule:
        cfg = self.config
        if cfg.item_repr == "id":
            tower: nn.Module = IdItemTower(n_items, cfg.dim)
        elif text_vectors is None:
            raise ConfigError(f"item_repr={cfg.item_repr!r} needs item text vectors (a catalogue with text)")
        elif cfg.item_repr == "text":
            tower = TextItemTower(text_vectors, cfg.dim, cfg.dropout, adapter=cfg.adapter, experts=cfg.experts)
        else:
            tower = FusedItemTower(text_vectors, n_items, cfg.dim, alpha=cfg.alpha, learn_alpha=cfg.learn_alpha,
                                   dropout=cfg.dropout, adapter=cfg.adapter, experts=cfg.experts)
        if self.architecture == "sasrec":
            net: nn.Module = SASRecNet(cfg.dim, cfg.layers, cfg.heads, cfg.max_len, cfg.dropout)
        else:
            net = GRU4RecNet(cfg.dim, cfg.hidden, cfg.layers, cfg.dropout)
        return SequenceModule(tower, net)

    def _text_vectors(self, catalog: Catalog | None, n_items: int) -> Tensor | None:
        if self.config.item_repr == "id":
            return None
        if catalog is None:
            raise ConfigError(f"{self.name} needs item text: pass --items FILE or use a dataset with a catalogue")
        from lmrec.text.encoder import encode_catalog

        vectors = encode_catalog(catalog, self.config.encoder)
        if vectors.shape[0] != n_items:
            raise DataError(f"catalogue has {vectors.shape[0]} items, interactions index {n_items}")
        return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))

    # -- fit ---------------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            text_vectors: np.ndarray | None = None):
        """Learn from `train`; item text comes from `catalog` (encoded here) or ready-made `text_vectors`.
        With `config.pretrained` the model starts from that checkpoint and trains what `config.finetune` says."""
        cfg = self.config
        if len(train) == 0 and not (cfg.pretrained and cfg.finetune == "none"):
            raise DataError("no training interactions")
        torch.manual_seed(cfg.train.seed)
        self.n_items_ = train.n_items
        vectors = (torch.as_tensor(np.asarray(text_vectors, dtype=np.float32)) if text_vectors is not None
                   else self._text_vectors(catalog, train.n_items))
        if cfg.pretrained:
            from lmrec.transfer.finetune import finetune_pretrained

            finetune_pretrained(self, train, valid=valid, catalog=catalog, text_vectors=vectors)
            return self
        self.module_ = self._build(train.n_items, vectors)
        self.fit_log_ = self._train(train, valid)
        return self

    def _train(self, train: Interactions, valid: Holdout | None) -> dict:
        """Next-item training of `self.module_`'s trainable parameters through the one Trainer; returns its log."""
        cfg = self.config
        windows = training_windows(train, cfg.max_len)
        if not windows:
            raise DataError("no user has 2 or more training interactions; a sequence model cannot learn")
        batches = window_batches(windows, cfg.train.batch_size, cfg.max_len)
        loss_fn = self._loss(np.bincount(train.item, minlength=train.n_items))
        validate = (lambda: validation_ndcg(self, valid, k=10)) if valid is not None and len(valid) else None
        fit_log = Trainer(cfg.train, progress=getattr(self, "progress", None)).fit(
            self.module_, batches, loss_fn, validate=validate)
        self.module_.eval()
        return fit_log.to_dict()

    def partial_fit(self, train: Interactions, *, epochs: int, replay: Interactions | None = None,
                    lr: float | None = None) -> dict:
        """Continue training the fitted module on `train`'s next-item windows plus `replay`'s (earlier data, so
        old knowledge is rehearsed, not forgotten): same loss and Trainer as `fit`, no re-initialisation, no
        early stopping, a fresh optimiser at `lr` (default: the config's). Item indices must already be known
        (`add_items` first for new items); user indices are free, only each user's row order matters.
        Returns the Trainer's fit log as a dict (empty `epochs` when there was nothing to learn)."""
        self._check_fitted()
        assert self.module_ is not None
        cfg = self.config
        parts = [train] + ([replay] if replay is not None else [])
        for part in parts:
            if part.n_items > self.n_items_ or (len(part) and int(part.item.max()) >= self.n_items_):
                raise DataError(f"partial_fit got item indices beyond the model's {self.n_items_} items; "
                                "add new items first")
        windows = [w for part in parts for w in training_windows(part, cfg.max_len)]
        if not windows:
            return {"epochs": [], "stop_reason": "no windows", "seconds": 0.0}
        counts = sum(np.bincount(p.item, minlength=self.n_items_) for p in parts)
        seed = (cfg.train.seed + int(train.digest()[:8], 16)) % 2**31  # a new data draw gets new dropout/order
        config = replace(cfg.train, epochs=int(epochs), lr=float(lr or cfg.train.lr), seed=seed)
        fit_log = Trainer(config, progress=getattr(self, "progress", None)).fit(
            self.module_, window_batches(windows, config.batch_size, cfg.max_len), self._loss(counts))
        self.module_.eval()
        return {**fit_log.to_dict(), "windows": len(windows)}

    def _loss(self, item_counts: np.ndarray):
        """Next-item loss over every non-PAD target: full softmax, or sampled softmax from counts ** 0.75."""
        cfg = self.config
        popularity = np.asarray(item_counts, dtype=np.float64)
        sampler = popularity ** 0.75 / (popularity ** 0.75).sum() if cfg.loss == "sampled" else None

        def loss_fn(module: nn.Module, batch: Batch) -> Tensor:
            inputs, targets = batch
            hidden, table = module(inputs)  # [B, L, D], [N, D]
            if sampler is None:
                h, y = valid_positions(hidden, targets)  # [M', D], [M'] with M' rounded up, PAD rows ignored
                return F.cross_entropy(h @ table.T, y, ignore_index=PAD)  # [M', N] full softmax
            keep = targets >= 0
            return sampled_softmax(hidden[keep], targets[keep], table, sampler, cfg.negatives)

        return loss_fn

    # -- score -------------------------------------------------------------------------------------------------
    def score(self, histories: Histories) -> torch.Tensor:
        """[B, n_items]: the last position's state against every item vector."""
        self._check_fitted()
        assert self.module_ is not None
        check_items(histories, self.n_items_)
        seq = torch.from_numpy(right_align(histories, self.config.max_len))
        with torch.inference_mode():
            hidden, table = self.module_(seq, last_only=True)
            return hidden[:, -1] @ table.T

    # -- new items -------------------------------------------------------------------------------------------
    @property
    def text_vectors(self) -> Tensor | None:
        """The frozen item text vectors [N, T] of a text or fused model (None for ID-only)."""
        tower = self.module_.tower if self.module_ is not None else None
        text = getattr(tower, "text", tower)
        return getattr(text, "text_vectors", None)

    def add_items(self, text_vectors: np.ndarray) -> np.ndarray:
        """Append items known only by their text vectors [n, T]; returns their new dense indices.

        Text and fused models represent a new item by its text at once (a fused model's ID part starts at the
        mean ID vector of its text neighbours and is learned when interactions arrive); an ID-only model has no way
        to place an unseen item.
        """
        self._check_fitted()
        if self.config.item_repr == "id":
            raise ConfigError(f"{self.name} is ID-only and cannot add items from text; use sasrec-text or "
                              "sasrec-fused")
        vectors = torch.as_tensor(np.asarray(text_vectors, dtype=np.float32))
        current = self.text_vectors
        if vectors.ndim != 2 or vectors.shape[1] != current.shape[1]:
            raise DataError(f"new item vectors must be [n, {current.shape[1]}]; got {tuple(vectors.shape)}")
        tower = self.module_.tower
        text_tower = getattr(tower, "text", tower)
        text_tower.text_vectors = torch.cat([current, vectors])
        if self.config.item_repr == "fused":
            old = tower.ids.embedding
            grown = nn.Embedding(old.num_embeddings + len(vectors), old.embedding_dim)
            with torch.no_grad():
                grown.weight[: old.num_embeddings] = old.weight
                grown.weight[old.num_embeddings :] = neighbour_mean(vectors, current, old.weight)
            tower.ids.embedding = grown
        first = self.n_items_
        self.n_items_ += len(vectors)
        return np.arange(first, self.n_items_)

    def tuned_text_encoder(self):
        """The fine-tuned language model (finetune=lora/full) that made this model's text vectors, wrapped to
        encode new item texts the same way; None when the item vectors come from the plain encoder config."""
        lm = getattr(self, "language_model_", None)
        if lm is None:
            return None
        from lmrec.transfer.finetune import TunedTextEncoder

        return TunedTextEncoder(lm)

    # -- persistence -------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, torch.Tensor]:
        assert self.module_ is not None
        state = dict(self.module_.state_dict())
        lm = getattr(self, "language_model_", None)
        if lm is not None:  # LoRA weights (or the whole LM for finetune=full): new items need the tuned LM
            state.update({LM_PREFIX + k: v for k, v in lm.adapter_state().items()})
        return state

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        lm_state = {k[len(LM_PREFIX):]: tensors.pop(k) for k in [k for k in tensors if k.startswith(LM_PREFIX)]}
        text = next((v for k, v in tensors.items() if k.endswith("text_vectors")), None)
        self.module_ = self._build(self.n_items_, text)
        self.module_.load_state_dict(tensors)
        self.module_.eval()
        if lm_state:
            from lmrec.transfer.finetune import tuned_language_model

            self.language_model_ = tuned_language_model(self.config, lm_state)


LM_PREFIX = "language_model."


def valid_positions(hidden: Tensor, targets: Tensor, multiple: int = 64) -> tuple[Tensor, Tensor]:
    """The non-PAD positions of [B, L, D] as rows [M', D] with targets [M'], M' = M rounded up to `multiple`
    (extra rows carry PAD targets). Only real positions pay for the [M', N] softmax, and GEMM shapes stay few:
    a new shape per batch made oneDNN's primitive cache grow batch after batch under bf16."""
    flat_targets = targets.reshape(-1)
    rows = (flat_targets >= 0).nonzero().squeeze(1)  # [M]
    padded = -(-max(len(rows), 1) // multiple) * multiple
    rows = torch.cat([rows, rows.new_zeros(padded - len(rows))])
    y = flat_targets[rows].clone()
    y[len(y) - (padded - int((flat_targets >= 0).sum())) :] = PAD
    return hidden.reshape(-1, hidden.shape[-1])[rows], y


def neighbour_mean(new_text: Tensor, text: Tensor, ids: Tensor, k: int = 10) -> Tensor:
    """A new item's starting ID vector: the direction of the mean ID vector of its k nearest items by text cosine,
    at the typical ID-vector length. A zero start left new items of a fused model far below their peers (the ID
    part carries about twice the text part's norm)."""
    sims = torch.nn.functional.normalize(new_text, dim=1) @ torch.nn.functional.normalize(text, dim=1).T  # [n, N]
    nearest = sims.topk(min(k, text.shape[0]), dim=1).indices  # [n, k]
    mean = ids[nearest].mean(dim=1)  # [n, D]
    # a mean of k vectors is shorter than its parts (0.54 vs 1.28 on Amazon Office), which kept new items out of
    # every top 10; give it the typical length of a trained ID vector
    typical = ids.norm(dim=1).mean()
    return mean * (typical / mean.norm(dim=1, keepdim=True).clamp_min(1e-12))


def training_windows(train: Interactions, max_len: int) -> list[np.ndarray]:
    """Each user's chronological sequence cut into windows of max_len+1 items from the end backwards; a window
    trains every position to predict the next item, so long histories are used whole."""
    seqs = train.sequences()
    windows = []
    for u in range(len(seqs)):
        items = seqs.row(u)
        end = len(items)
        while end >= 2:
            windows.append(items[max(0, end - max_len - 1) : end])
            end -= max_len
    return windows


def window_batches(windows: list[np.ndarray], batch_size: int, max_len: int | None = None):
    """The Trainer's batch source: windows in a fresh random order each epoch, padded by `pad_windows`."""

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(windows))
        for start in range(0, len(order), batch_size):
            yield pad_windows([windows[i] for i in order[start : start + batch_size]], max_len)

    return batches


def pad_windows(chunk: list[np.ndarray], max_len: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-aligned (inputs, next-item targets) [B, L], PAD on the left. With `max_len`, L is the longest window
    rounded up to a multiple of 8 (at most max_len): a handful of shapes for oneDNN to cache instead of one per
    batch, without padding short-sequence data all the way to max_len."""
    longest = max(len(w) for w in chunk) - 1
    width = longest if max_len is None else max(longest, min(max_len, -(-longest // 8) * 8))
    inputs = np.full((len(chunk), width), PAD, dtype=np.int64)
    targets = np.full((len(chunk), width), PAD, dtype=np.int64)
    for row, window in enumerate(chunk):
        n = len(window) - 1
        inputs[row, width - n :] = window[:-1]
        targets[row, width - n :] = window[1:]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def right_align(histories: Histories, max_len: int) -> np.ndarray:
    """Left-aligned Histories -> [B, L] right-aligned last `max_len` items, PAD on the left (L >= 1)."""
    width = int(min(max(int(histories.lengths.max(initial=0)), 1), max_len))
    offsets = histories.lengths[:, None] - width + np.arange(width)[None, :]  # [B, L] source column
    valid = offsets >= 0
    rows = np.arange(len(histories))[:, None]
    picked = histories.seq[rows, np.clip(offsets, 0, max(histories.seq.shape[1] - 1, 0))]
    return np.where(valid, picked, PAD).astype(np.int64)


def sampled_softmax(h: Tensor, y: Tensor, table: Tensor, sampler: np.ndarray, n: int) -> Tensor:
    """Softmax over the target plus `n` shared negatives drawn from `sampler`; each negative's logit is corrected
    by -log(n Q(j)), so the sum over samples estimates the full partition function without popularity bias."""
    negatives = torch.from_numpy(np.random.default_rng(int(torch.randint(0, 2**31, ())))
                                 .choice(len(sampler), size=n, p=sampler))
    log_q = torch.from_numpy(np.log(np.maximum(sampler * n, 1e-30))).float()  # unsampled items: never drawn
    positive = (h * table[y]).sum(-1, keepdim=True)  # [M, 1]
    negative = h @ table[negatives].T - log_q[negatives]  # [M, n]
    negative = negative.masked_fill(negatives[None, :] == y[:, None], float("-inf"))  # accidental hits
    logits = torch.cat([positive, negative], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long))
