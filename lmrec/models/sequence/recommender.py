"""`SequentialRecommender`: any registered sequence net over an ID, text or fused item tower, trained the strong
way: every position of every training window predicts its next item with a registered loss (full softmax by
default, sampled softmax with log-Q correction for big catalogues, BPR, BCE), AdamW, early stopping on validation
NDCG@10, through the one Trainer."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions, Sequences
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import check_items
from lmrec.models.capabilities import (
    ClickPredictor,
    DotProductScoring,
    GrowableCatalogue,
    HistoryAttribution,
    IncrementalUpdates,
    ItemVectors,
    PerturbableItems,
    RatingPredictor,
    SequenceLikelihood,
    UserAttributes,
)
from lmrec.models.sequence.attributes import (
    attribute_only_loss,
    fit_attributes,
    item_vector_modality,
    prior_fixed,
    saved_attributes,
)
from lmrec.models.sequence.config import SequentialConfig
from lmrec.models.sequence.module import Perturbation, SequenceModule
from lmrec.models.sequence.priors import PriorBlend
from lmrec.models.sequence.windows import (
    Windows,
    pad_windows,
    right_align,
    training_windows,
    user_windows,
    valid_positions,
    window_batches,
)
from lmrec.models.torch_base import TorchRecommender
from lmrec.text.base import ItemEncoder
from lmrec.train.batches import SequenceBatch
from lmrec.train.losses import LossInputs, NegativeSampler, get_loss, impression_loss
from lmrec.train.trainer import AdversarialConfig, FitLog, LossFn, Progress, StepHook, TrainConfig

LM_PREFIX = "language_model."


class SequentialRecommender(TorchRecommender, DotProductScoring, GrowableCatalogue, IncrementalUpdates, ItemVectors,
                            PerturbableItems, SequenceLikelihood, UserAttributes, RatingPredictor, ClickPredictor,
                            HistoryAttribution):
    """The sequence recommender; `config.net` picks the net, `config.item_repr` the item tower."""

    Config = SequentialConfig
    name: ClassVar[str] = "sasrec"  # a default config is the sasrec preset; registered presets name themselves
    sequential: ClassVar[bool] = True  # the contract checks next-item learning on the ring
    adversarial_training: ClassVar[bool] = True  # train.adversarial: perturbed item and text vectors (hooks.py)
    config: SequentialConfig
    module_: SequenceModule | None

    def __init__(self, config: SequentialConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.language_model_: Any = None  # a fine-tuned LM (lmrec.text.trainable) when transfer tuned one
        self.priors_: PriorBlend | None = None  # config.priors fitted: item counts and blend weights
        self._user_frame: pd.DataFrame | None = None  # given by fit_user_attributes, read by fit

    def capabilities(self) -> frozenset[type]:
        """ID-only models cannot place an item they never saw; priors make a score more than one dot product (and
        more than the net that gradient attribution explains, as does the text skip)."""
        found = super().capabilities()
        if self.config.priors:
            found -= {DotProductScoring, HistoryAttribution}
        if self.config.text_skip or self.config.inference != "float32":
            found -= {HistoryAttribution}
        if self.config.user_attributes is False:
            found -= {UserAttributes}
        if self.config.rating_weight <= 0:
            found -= {RatingPredictor}
        if self.config.click_weight <= 0:
            found -= {ClickPredictor}
        return found - {GrowableCatalogue} if self.config.item_repr == "id" else found

    # -- fit ---------------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None, text_vectors: np.ndarray | None = None,
            hooks: tuple[StepHook, ...] = ()) -> SequentialRecommender:
        """Learn from `train`; item text comes from `catalog` (encoded here) or ready-made `text_vectors`; `hooks`
        change each training step beside the config's own (e.g. distillation from a teacher)."""
        if self.config.pretrained:
            raise ConfigError("model.pretrained is set: a checkpoint is fine-tuned by the run pipeline (`lmrec fit "
                              "--pretrained DIR`) or lmrec.transfer.fit_pretrained, not by fit()")
        if len(train) == 0:
            raise DataError("no training interactions")
        self.n_items_ = train.n_items
        vectors = self.encode_items(catalog, text_vectors, train.n_items)
        attributes = fit_attributes(catalog, self._user_frame, train, item_attributes=self.config.item_attributes,
                                    user_attributes=self.config.user_attributes)
        with self.seeded(self.config.train.seed):
            mean_rating = float(np.mean(train.value)) if train.value is not None and len(train.value) else 0.0
            modality, modality_log = item_vector_modality(self.config.item_vectors, catalog, train.n_items,
                                                          self.config.dim)
            self.module_ = SequenceModule.build(self.config, train.n_items, vectors, mean_rating=mean_rating,
                                                n_users=train.n_users, modality=modality,
                                                **attributes.modules(self.config.dim))
        self.fit_log_ = self.train_module(train, valid, progress=progress, hooks=hooks).to_dict()
        if attributes.summary or modality_log:
            self.fit_log_["attributes"] = {**attributes.summary,
                                           **({"item_vectors": modality_log} if modality_log else {})}
        self.fit_log_.update(self.fit_priors(train, valid))
        return self

    def fit_user_attributes(self, frame: pd.DataFrame | None) -> None:
        """The users' attribute frame (row i = dense user i) the next `fit` reads when config.user_attributes."""
        self._user_frame = frame

    def forget_user_attributes(self, user: int) -> bool:
        """Erase user `user`'s attribute row from the model (its demographic prior becomes the anonymous one)."""
        module = self._module()
        return module.users.forget(int(user)) if module.users is not None else False

    def fit_priors(self, train: Interactions, valid: Holdout | None) -> dict[str, Any]:
        """Count `train`'s events per item and set the weights of the net and `config.priors` (the configured
        ones, else searched on `valid`, else equal); returns the fit-log entries (empty without priors)."""
        cfg = self.config
        if not cfg.priors:
            self.priors_ = None
            return {}
        counts = torch.from_numpy(np.bincount(train.item, minlength=self.n_items_).astype(np.float32))
        fixed = cfg.prior_weights or (1.0,) * (len(cfg.priors) + 1)
        self.priors_ = PriorBlend(cfg.priors, cfg.prior_decay, counts, np.asarray(fixed, np.float64) / sum(fixed))
        log: dict[str, Any] = {}
        if cfg.prior_weights is None and valid is not None and len(valid):
            self._module().eval()
            log["search"] = self.priors_.search(self._net_scores, valid, self.text_vectors)
        log["weights"] = dict(zip(self.priors_.names, self.priors_.weights.round(4).tolist(), strict=True))
        return log

    def encode_items(self, catalog: Catalog | None, text_vectors: np.ndarray | None, n_items: int) -> Tensor | None:
        """The item text vectors [N, T] a text or fused tower reads (None for ID-only)."""
        if self.config.item_repr == "id":
            return None
        if text_vectors is None:
            if catalog is None:
                raise ConfigError(f"{self.name} needs item text: pass --items FILE or use a dataset with a "
                                  "catalogue")
            from lmrec.text.encoder import encode_catalog

            text_vectors = encode_catalog(catalog, self.config.encoder, device=self.device)
        if text_vectors.shape[0] != n_items:
            raise DataError(f"catalogue has {text_vectors.shape[0]} items, interactions index {n_items}")
        return torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32))

    def train_module(self, train: Interactions, valid: Holdout | None = None, *, progress: Progress | None = None,
                     config: TrainConfig | None = None, hooks: tuple[StepHook, ...] = ()) -> FitLog:
        """Next-item training of `module_`'s trainable parameters on `train`'s windows (transfer freezes parts
        first and calls this)."""
        windows = user_windows(train, self.config.max_len)
        if not len(windows):
            raise DataError("no user has 2 or more training interactions; a sequence model cannot learn")
        config = config or self.config.train
        module = self._module()
        rates = module.heads is not None and module.heads.rating is not None
        if rates and windows.values is None:
            raise DataError(f"{self.name} trains a rating head: the interactions need ratings (a rating column)")
        batches = window_batches(windows, config.batch_size, self.config.max_len,
                                 users=module.users is not None or rates,
                                 times=module.reads_time,
                                 values=module.heads is not None and module.heads.rating is not None)
        loss = self.next_item_loss(np.bincount(train.item, minlength=train.n_items))
        return self._train(self._module(), batches, loss, config=config, valid=valid, progress=progress,
                           hooks=(*self.config_hooks(), *hooks))

    def config_hooks(self) -> tuple[StepHook, ...]:
        """The step hooks the config asks for: text-ID alignment for a fused tower, adversarial training (last,
        so it perturbs the next-item loss alone)."""
        from lmrec.models.sequence.adversarial import AdversarialPerturbation
        from lmrec.models.sequence.hooks import TextIdAlignment

        cfg, hooks = self.config, []
        if cfg.align_weight > 0 and cfg.item_repr == "fused":
            hooks.append(TextIdAlignment(cfg.align_weight, cfg.align_temperature))
        if cfg.train.adversarial.enabled:
            hooks.append(AdversarialPerturbation(cfg.train.adversarial))
        return tuple(hooks)

    def update_context(self) -> int:
        return int(self.config.max_len)

    def partial_fit(self, train: Interactions, *, epochs: int, replay: Interactions | None = None,
                    lr: float | None = None, progress: Progress | None = None, freeze_text: bool = False,
                    shown: Sequences | None = None, shown_weight: float = 0.1, text_lr_scale: float = 1.0) -> dict:
        """Continue training the fitted module on `train`'s next-item windows plus `replay`'s (earlier data, so
        old knowledge is rehearsed, not forgotten): same loss and Trainer as `fit`, no re-initialisation, no
        early stopping, a fresh optimiser at `lr` (default: the config's). Item indices must already be known
        (`add_items` first for new items); user indices are free, only each user's row order matters.
        `freeze_text` keeps the text part (the adapter from frozen LM vectors) fixed, so only ID embeddings and
        the net move; otherwise it learns at `text_lr_scale` times `lr`. `shown` (one row per row of `train`:
        items shown before that event and not chosen) adds, with weight `shown_weight`, a softmax of each chosen
        item against its impressions to the loss, so items users saw and passed over are pushed below the one
        they took. Returns the Trainer's fit log as a dict (empty `epochs` when there was nothing to learn)."""
        self._check_fitted()
        cfg = self.config
        parts = [train] + ([replay] if replay is not None else [])
        for part in parts:
            if part.n_items > self.n_items_ or (len(part) and int(part.item.max()) >= self.n_items_):
                raise DataError(f"partial_fit got item indices beyond the model's {self.n_items_} items; "
                                "add new items first")
        windows: list[np.ndarray] | Windows = []
        if shown is None or shown_weight <= 0:
            windows = [w for part in parts for w in training_windows(part, cfg.max_len)]
        else:  # new windows carry their impressions, replayed ones none
            fresh = user_windows(train, cfg.max_len, shown)
            old = training_windows(replay, cfg.max_len) if replay is not None else []
            empty = np.zeros(0, np.int64)
            windows = Windows(fresh.items + old, np.zeros(0, np.int64), [], None,
                              fresh.shown + [[empty] * (len(w) - 1) for w in old])  # type: ignore[operator]
        if not len(windows):
            return {"epochs": [], "stop_reason": "no windows", "seconds": 0.0}
        counts = sum(np.bincount(p.item, minlength=self.n_items_) for p in parts)
        if self.priors_ is not None:  # the popularity prior counts the new events (replay was counted before)
            self.priors_.counts += torch.from_numpy(np.bincount(train.item, minlength=self.n_items_)).float()
        seed = (cfg.train.seed + int(train.digest()[:8], 16)) % 2**31  # a new data draw gets new dropout/order
        config = replace(cfg.train, epochs=int(epochs), lr=float(lr or cfg.train.lr), seed=seed)
        frozen = [p for p in self._module().parameter_groups()["adapter"] if p.requires_grad] if freeze_text else []
        for parameter in frozen:
            parameter.requires_grad_(False)
        self._module().text_lr_scale = float(text_lr_scale)
        try:
            batches = window_batches(windows, config.batch_size, cfg.max_len, shown=isinstance(windows, Windows))
            fit_log = self._train(self._module(), batches, self.next_item_loss(counts, shown_weight=shown_weight),
                                  config=config, progress=progress)
        finally:
            self._module().text_lr_scale = 1.0
            for parameter in frozen:
                parameter.requires_grad_(True)
        return {**fit_log.to_dict(), "windows": len(windows)}

    def next_item_loss(self, item_counts: np.ndarray, *, shown_weight: float = 0.0) -> LossFn:
        """The configured loss over every non-PAD target position of a `SequenceBatch`, plus `shown_weight` times
        the impression loss where the batch carries impressions."""
        spec = get_loss(self.config.loss)
        sampler = NegativeSampler(spec, item_counts, self.config.negatives)
        user_weight = self.config.user_loss_weight
        heads = self._module().heads

        def loss_fn(module: nn.Module, batch: SequenceBatch) -> Tensor:
            hidden, table = module(batch.inputs, users=batch.users, times=batch.times)  # [B, L, D], [N, D]
            extra = 0.0
            demographic = batch.users is not None and module.users is not None and user_weight > 0
            if demographic:  # the demographic prior alone predicts them too
                extra = user_weight * attribute_only_loss(module.prior_logits(batch.users, table), batch.targets)
            if heads is not None:
                extra = extra + self.head_losses(heads, hidden, table, batch)
            if demographic:
                hidden, table = prior_fixed(hidden, table, self.config.dim)
            if batch.shown is not None and shown_weight > 0:
                extra = extra + shown_weight * impression_loss(hidden, table, batch.targets, batch.shown)
            h, y = valid_positions(hidden, batch.targets)  # [M', D], [M'] (M' rounded up, PAD rows ignored)
            negatives, log_q = sampler(y)
            return spec(LossInputs(h, y, table, negatives, log_q)) + extra

        return loss_fn

    def head_losses(self, heads, hidden: Tensor, table: Tensor, batch: SequenceBatch) -> Tensor:
        """The weighted rating (MSE on targets with a value) and click (BCE against one uniform item per target)
        losses at every real target position."""
        dim = self.config.dim
        keep = batch.targets >= 0
        states, items = hidden[..., :dim][keep], batch.targets[keep]
        vectors = table[items, :dim]
        total = hidden.new_zeros(())
        if heads.rating is not None and batch.values is not None:
            users = None if batch.users is None else batch.users[:, None].expand_as(batch.targets)[keep]
            total = total + self.config.rating_weight * heads.rating_loss(states, items, vectors, batch.values[keep],
                                                                          users)
        if heads.click is not None:
            negatives = torch.randint(table.shape[0], items.shape, device=items.device)
            total = total + self.config.click_weight * heads.click_loss(states, vectors, table[negatives, :dim])
        return total

    # -- per-task predictions ------------------------------------------------------------------------------------
    def predict_ratings(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        """[B] the rating head's prediction for item `items[b]` after history b."""
        return self._head_outputs(histories, items, "rating")

    def predict_clicks(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        """[B] the click head's probability for item `items[b]` after history b."""
        return self._head_outputs(histories, items, "click")

    def _head_outputs(self, histories: Histories, items: np.ndarray, task: str) -> np.ndarray:
        heads = self._module().heads
        if heads is None or (heads.rating if task == "rating" else heads.click) is None:
            raise ConfigError(f"{self.name} has no {task} head (set model.{task}_weight > 0)")
        index = torch.as_tensor(np.asarray(items, np.int64), device=self.device)
        if len(index) != len(histories) or (len(index) and (int(index.min()) < 0 or int(index.max()) >= self.n_items_)):
            raise DataError(f"items must be one known item index per history ({len(histories)}); got {len(index)}")
        with torch.inference_mode():
            table = self.item_table()
            states = self.user_vectors(histories, table)[:, : self.config.dim]
            vectors = table[index, : self.config.dim]
            if task == "rating":
                users = (None if histories.users is None
                         else torch.as_tensor(np.asarray(histories.users, np.int64), device=self.device))
                return heads.predict_rating(states, index, vectors, users).float().cpu().numpy()
            return torch.sigmoid(heads.click_logit(states, vectors)).float().cpu().numpy()

    # -- score -------------------------------------------------------------------------------------------------
    def score(self, histories: Histories) -> Tensor:
        """[B, n_items] on the model's device: the last position's state against every item vector, blended with
        the priors when the config names any."""
        net = self._net_scores(histories)
        if self.priors_ is None:
            return net
        with torch.inference_mode():
            return self.priors_.combine(net, histories, self.text_vectors)

    def _net_scores(self, histories: Histories) -> Tensor:
        with torch.inference_mode():
            table = self.item_table()
            return self.user_vectors(histories, table) @ table.T

    def user_vectors(self, histories: Histories, table: Tensor | None = None) -> Tensor:
        """[B, D] user states for a batch of histories (the last `max_len` items of each); `table` is the
        `item_table()` the caller already holds, if any (a text tower costs a pass over every item)."""
        self._check_fitted()
        check_items(histories, self.n_items_)
        seq = torch.from_numpy(right_align(histories, self.config.max_len)).to(self.device)
        users = times = None
        if histories.users is not None and self._module().users is not None:
            users = torch.as_tensor(np.asarray(histories.users, np.int64), device=self.device)
        if self._module().reads_time:
            times = torch.from_numpy(right_align(histories, self.config.max_len, times=True)).to(self.device)
        with torch.inference_mode():
            if self.config.inference != "float32":  # the net's int8 / ONNX Runtime form
                from lmrec.models.sequence.inference import compressed_user_vectors

                return compressed_user_vectors(self._module(), self.config.inference, seq, table,
                                               max_len=self.config.max_len)
            return self._module().user_vectors(seq, table, users, times)

    def attribute_history(self, histories: Histories, items: np.ndarray, steps: int = 16) -> np.ndarray:
        """[B, M, L] integrated-gradients attribution of each history position (left-aligned as `histories.seq`)
        to the net's score of `items [B, M]`; positions before the last `max_len` get 0 (the net never reads
        them). lmrec/models/sequence/attribution.py says what the gradients are taken over."""
        from lmrec.models.sequence.attribution import integrated_gradients

        if HistoryAttribution not in self.capabilities():
            raise ConfigError(f"{self.name}: gradient attribution explains the net alone, and this model's score "
                              "has more (priors, a text skip or a compressed net); use leave-one-out")
        self._check_fitted()
        check_items(histories, self.n_items_)
        items = np.asarray(items, np.int64).reshape(len(histories), -1)
        out = np.zeros((len(histories), items.shape[1], histories.seq.shape[1]), np.float64)
        for b in range(len(histories)):
            one = histories.rows([b])
            seq = torch.from_numpy(right_align(one, self.config.max_len)).to(self.device)
            times = (torch.from_numpy(right_align(one, self.config.max_len, times=True)).to(self.device)
                     if self._module().reads_time else None)
            values = integrated_gradients(self._module(), seq, torch.from_numpy(items[b]).to(self.device), times,
                                          steps)
            n = int(histories.lengths[b])
            width = min(n, seq.shape[1])
            out[b, :, n - width:n] = values[:, seq.shape[1] - width:]
        return out

    def item_table(self) -> Tensor:
        """[N, D] item vectors on the model's device."""
        self._check_fitted()
        with torch.inference_mode():
            return self._module().item_table()

    def item_vectors(self) -> np.ndarray:
        """[N, T] for similarity and diversity: the text vectors of a text or fused model, else the ID table."""
        vectors = self.text_vectors
        if vectors is None:
            self._check_fitted()
            with torch.inference_mode():
                vectors = self._module().base_table()
        table = vectors
        return table.detach().float().cpu().numpy()

    # -- robustness ------------------------------------------------------------------------------------------
    def perturbed(self, perturbation: Perturbation) -> AbstractContextManager[None]:
        """Score with `perturbation` added to the item side (lmrec.models.sequence.adversarial)."""
        return self._module().perturbed(perturbation)

    def random_perturbation(self, eps: float, parts: tuple[str, ...], *, seed: int = 0) -> Perturbation:
        from lmrec.models.sequence.adversarial import random_perturbation

        return random_perturbation(self._module(), eps, parts, seed=seed)

    def adversarial_perturbation(self, train: Interactions, eps: float, parts: tuple[str, ...], *, steps: int = 1,
                                 seed: int = 0, windows: int = 256) -> Perturbation:
        """The worst case within radius eps for the next-item loss on a sample of `windows` of `train`'s training
        windows (a white-box attacker who knows the model and its training data), without dropout."""
        from lmrec.models.sequence.adversarial import adversarial_perturbation

        module = self._module().eval()
        drawn = training_windows(train, self.config.max_len)
        picked = np.random.default_rng(seed).permutation(len(drawn))[:windows]
        inputs, targets = pad_windows([drawn[i] for i in picked], self.config.max_len)
        batch = SequenceBatch(inputs, targets).to(self.device)
        loss = self.next_item_loss(np.bincount(train.item, minlength=self.n_items_))
        config = AdversarialConfig(eps=eps, steps=steps, parts=parts)
        with torch.enable_grad():
            return adversarial_perturbation(module, lambda: loss(module, batch), config)

    def log_likelihood(self, sequences: Sequences) -> np.ndarray:
        """[U] mean log-probability (full softmax over the catalogue) of each sequence's items after its first,
        each given the items before it (the last `max_len`); NaN for sequences shorter than 2."""
        self._check_fitted()
        module, out = self._module().eval(), np.full(len(sequences), np.nan)
        rows = np.flatnonzero(sequences.lengths >= 2)
        with torch.inference_mode():
            for start in range(0, len(rows), 256):
                chunk = rows[start:start + 256]
                windows = [sequences.row(r)[-(self.config.max_len + 1):] for r in chunk]
                inputs, targets = pad_windows(windows, self.config.max_len)
                inputs, targets = inputs.to(self.device), targets.to(self.device)
                hidden, table = module(inputs)  # [B, L, D], [N, D] (the table is cached in eval mode)
                logp = torch.log_softmax((hidden @ table.T).float(), dim=-1)  # [B, L, N]
                picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                real = targets >= 0
                out[chunk] = ((picked * real).sum(1) / real.sum(1)).cpu().numpy()
        return out

    # -- new items -------------------------------------------------------------------------------------------
    @property
    def text_vectors(self) -> Tensor | None:
        """The frozen item text vectors [N, T] of a text or fused model (None for ID-only)."""
        return None if self.module_ is None else self.module_.text_vectors

    def new_item_encoder(self, catalog: Catalog | None) -> ItemEncoder:
        """The fine-tuned LM when transfer tuned one, else the configured encoder (TF-IDF refitted on `catalog`,
        which reproduces the training vectors)."""
        if self.config.item_repr == "id":
            raise ConfigError(f"{self.name} is ID-only and cannot encode new items; use a text or fused model")
        if self.language_model_ is not None:
            from lmrec.text.trainable import TunedTextEncoder

            return TunedTextEncoder(self.language_model_)
        from lmrec.text.encoder import catalogue_encoder

        return catalogue_encoder(self.config.encoder, catalog, device=self.device)

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
        self._module().grow(vectors)
        if self.priors_ is not None:
            self.priors_.grow(len(vectors))
        first = self.n_items_
        self.n_items_ += len(vectors)
        return np.arange(first, self.n_items_)

    def attach_language_model(self, lm: nn.Module) -> None:
        """Keep the fine-tuned LM that made this model's text vectors; it is saved with the model and encodes
        new items (`new_item_encoder`)."""
        self.language_model_ = lm

    def to(self, device: torch.device) -> SequentialRecommender:
        super().to(device)
        if self.language_model_ is not None:
            self.language_model_.to(self.device)
        return self

    # -- persistence -------------------------------------------------------------------------------------------
    def _module(self) -> SequenceModule:
        assert self.module_ is not None, "fit() or load() first"
        return self.module_

    def _state(self) -> dict[str, Tensor]:
        state = dict(self._module().state_dict())
        if self.language_model_ is not None:  # LoRA weights (or the whole LM for finetune=full)
            state.update({LM_PREFIX + k: v for k, v in self.language_model_.adapter_state().items()})
        if self.priors_ is not None:
            state.update(self.priors_.state())
        return state

    def _set_state(self, tensors: dict[str, Tensor]) -> None:
        lm_state = {k[len(LM_PREFIX):]: tensors.pop(k) for k in [k for k in tensors if k.startswith(LM_PREFIX)]}
        cfg = self.config
        self.priors_ = PriorBlend.from_state(tensors, cfg.priors, cfg.prior_decay) if cfg.priors else None
        text = next((v for k, v in tensors.items() if k.endswith("text_vectors")), None)
        user_bias = tensors.get("heads.user_bias.weight")
        self.module_ = SequenceModule.build(self.config, int(self.n_items_ or 0), text,
                                            n_users=0 if user_bias is None else int(user_bias.shape[0]),
                                            **saved_attributes(tensors, self.config.dim))
        self.module_.load_state_dict(tensors)
        self.module_.eval()
        if lm_state:
            from lmrec.text.trainable import TrainableTextEncoder

            self.language_model_ = TrainableTextEncoder.from_state(
                lm_state, cfg.encoder, mode="full" if cfg.finetune == "full" else "lora", lora_rank=cfg.lora_rank,
                max_tokens=cfg.lm_max_tokens)
