"""text-user: the user as text. The history's most recent item texts, joined into one passage, are read by the
language model (Recformer's idea on a sentence encoder) and matched against every item's text vector.

    h = LM("item_t ; item_t-1 ; ...")            the history read as one text, most recent first
    p = recency-weighted mean of LM(item_j)       lm-content's profile
    u = norm(h + a * p + f([h; p]))               f: a zero-initialised two-layer adapter, a learned mix weight
    v_i = norm(e_i + g(e_i))                      e_i = LM(item i); g: the item side's zero-initialised adapter
    score(u, i) = u . v_i

The language model is frozen (its vectors are cached, `lmrec.text.cache`); the adapters train with the usual
next-item softmax over the whole catalogue. Nothing is tied to an item ID, so a trained model ranks an unseen
catalogue: `init_from` starts from another catalogue's saved text-user and `finetune="none"` applies it as is
(zero-shot); untrained (no `init_from`, `finetune="none"`) it is the plain LM's history-to-item similarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions, Sequences
from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.models._scoring import check_items, item_counts, popularity_fallback, text_profiles
from lmrec.models._texts import clean, tensors_to_texts, texts_to_tensors
from lmrec.models.base import BaseRecommender
from lmrec.models.capabilities import IncrementalUpdates
from lmrec.models.registry import register
from lmrec.models.sequence.windows import pad_shown
from lmrec.text.base import EncoderConfig
from lmrec.train.batches import TensorBatch
from lmrec.train.losses import impression_loss
from lmrec.train.trainer import Progress, TrainConfig, Trainer
from lmrec.train.validation import validation_ndcg


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=30, batch_size=256, lr=1e-3, patience=3, seed=0)


@dataclass(frozen=True)
class TextUserConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # the item texts' LM (and the history's)
    history_items: int = 5  # the most recent items read as the history text
    separator: str = " ; "
    history_max_length: int = 128  # tokens of the history text the LM reads
    recency_decay: float = 0.7  # the profile p: weight of the item j positions before the last is decay**j
    profile_weight: float = 1.0  # a's starting value
    hidden: int = 256
    temperature: float = 0.05
    init_from: str | None = None  # a saved text-user (model or run directory) whose weights start this one
    finetune: Literal["adapters", "none"] = "adapters"
    train: TrainConfig = field(default_factory=_train_defaults)

    def __post_init__(self) -> None:
        if self.history_items < 1 or self.history_max_length < 8 or self.hidden < 1 or self.temperature <= 0:
            raise ConfigError(f"text-user needs history_items >= 1, history_max_length >= 8, hidden >= 1, "
                              f"temperature > 0; got {self.history_items}, {self.history_max_length}, "
                              f"{self.hidden}, {self.temperature}")
        if not 0 < self.recency_decay <= 1:
            raise ConfigError(f"text-user needs 0 < recency_decay <= 1; got {self.recency_decay}")
        if self.finetune not in ("adapters", "none"):
            raise ConfigError(f"text-user finetune={self.finetune!r} is not one of ['adapters', 'none']")


class TextUserTowers(nn.Module):
    """The two adapters over frozen LM vectors; zero-initialised outputs, so an untrained model is the LM's own
    cosine (plus the profile at weight a)."""

    def __init__(self, dim: int, hidden: int, profile_weight: float, temperature: float) -> None:
        super().__init__()
        self.user = nn.Sequential(nn.Linear(2 * dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.item = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        for tower in (self.user, self.item):
            nn.init.zeros_(tower[2].weight)
            nn.init.zeros_(tower[2].bias)
        self.profile_weight = nn.Parameter(torch.tensor(float(profile_weight)))
        # how far the adapters are trusted: 1 where they were trained; chosen on the target's validation users
        # when they come from another catalogue (a buffer: saved, never trained)
        self.register_buffer("adapter_scale", torch.tensor(1.0))
        self.scale = 1.0 / temperature

    def users(self, history: Tensor, profile: Tensor) -> Tensor:
        """[B, D] unit user vectors from the history-text vectors and profiles [B, D]."""
        mixed = history + self.profile_weight * profile + self.adapter_scale * self.user(torch.cat([history, profile],
                                                                                                   dim=1))
        return F.normalize(mixed, dim=1)

    def items(self, vectors: Tensor) -> Tensor:
        """[N, D] unit item vectors from the item-text vectors."""
        return F.normalize(vectors + self.adapter_scale * self.item(vectors), dim=1)


@dataclass(frozen=True)
class PrefixBatch(TensorBatch):
    """Training prefixes: their history-text vectors `history [B, D]`, profiles `profile [B, D]`, the item
    that followed `target [B]`, and for online updates the items shown before it and passed over."""

    history: Tensor
    profile: Tensor
    target: Tensor
    shown: Tensor | None = None  # [B, 1, M] items shown before the target and passed over (PAD where none)

    def __len__(self) -> int:
        return int(self.target.shape[0])


def training_prefixes(train: Interactions, history_items: int) -> tuple[Histories, np.ndarray, np.ndarray]:
    """Every (the `history_items` items before position t, item t) of every user's training sequence, t >= 1,
    and each target's row in `train`."""
    inputs, targets, rows = prefix_lists(train, history_items)
    if not targets:
        raise DataError("text-user: no user has two training interactions; there is nothing to train on")
    return Histories.from_lists(inputs), np.asarray(targets, dtype=np.int64), np.asarray(rows, dtype=np.int64)


def prefix_lists(train: Interactions, history_items: int) -> tuple[list[np.ndarray], list[int], list[int]]:
    """`training_prefixes` as plain lists (empty when no user has two interactions)."""
    seqs = train.sequences()
    order = np.argsort(train.user, kind="stable")  # sequence position -> row of `train`
    inputs, targets, rows = [], [], []
    for row in range(len(seqs)):
        items, base = seqs.row(row), int(seqs.indptr[row])
        for t in range(1, len(items)):
            inputs.append(items[max(0, t - history_items):t])
            targets.append(int(items[t]))
            rows.append(int(order[base + t]))
    return inputs, targets, rows


@register("text-user", tiny={"encoder": {"cache": False}, "hidden": 64, "history_items": 3,
                             "train": {"epochs": 20, "batch_size": 32, "lr": 0.005, "threads": 1}})
class TextUserRecommender(BaseRecommender, IncrementalUpdates):
    """The history read as one text by the LM, against item text vectors, through two trained adapters."""

    Config = TextUserConfig
    config: TextUserConfig
    sequential = True

    def __init__(self, config: TextUserConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.towers_: TextUserTowers | None = None
        self._table: Tensor | None = None
        self._history_encoder = None  # the LM reading history texts (cached vectors), made on first use

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> TextUserRecommender:
        from lmrec.text.encoder import encode_catalog

        cfg = self.config
        if catalog is None or len(catalog) != train.n_items:
            raise DataError("text-user needs a catalogue with one text row per item (--items FILE)")
        self.item_texts_ = [clean(t) for t in catalog.texts(cfg.encoder.template)]
        if not any(self.item_texts_):
            raise DataError("text-user: every catalogue text is empty; set text fields or a template")
        vectors = encode_catalog(catalog, cfg.encoder, device=self.device)
        self.text_vectors_ = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self.counts_, self.n_items_ = item_counts(train), train.n_items
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train.seed)
            self.towers_ = TextUserTowers(self.text_vectors_.shape[1], cfg.hidden, cfg.profile_weight,
                                          cfg.temperature)
        if cfg.init_from:
            self.towers_.load_state_dict(_saved_towers(cfg.init_from, self.towers_))
        self.towers_.to(self.device).eval()
        self._table = None
        # adapters from another catalogue start at the weight this catalogue's validation users support (training
        # from full weight on a few users does not recover what a bad start costs)
        scale = self._choose_adapter_scale(valid) if cfg.init_from and valid is not None and len(valid) else None
        if scale is not None:  # the chosen scale's validation NDCG is where training starts
            start = scale["validation_ndcg@10"][scale["chosen"]]
        else:
            start = validation_ndcg(self, valid, k=10) if valid is not None and len(valid) else None
        if cfg.finetune == "none":
            self.fit_log_ = {"epochs": [], "stop_reason": "no training (finetune=none)", "start_valid": start}
            if scale is not None:
                self.fit_log_["adapter_scale"] = scale
            return self
        prefixes, targets, _ = training_prefixes(train, cfg.history_items)

        def validate() -> float:
            self._table = None
            return validation_ndcg(self, valid, k=10)

        initial = {k: v.detach().clone() for k, v in self.towers_.state_dict().items()}
        record = self._train(prefixes, targets, None, cfg.train, progress=progress,
                             validate=validate if valid is not None and len(valid) else None)
        kept_start = start is not None and record.get("best_valid") is not None and start > record["best_valid"]
        if kept_start:  # no epoch validated better than where training started (a transferred start): keep it
            self.towers_.load_state_dict(initial)
        self.fit_log_ = {**record, "prefixes": int(len(targets)), "start_valid": start, "adapter_scale": scale,
                         "kept_start": kept_start,
                         "trainable_parameters": int(sum(p.numel() for p in self.towers_.parameters()))}
        return self

    def _train(self, prefixes: Histories, targets: np.ndarray, shown: Sequences | None, config: TrainConfig, *,
               progress: Progress | None = None, validate=None, shown_weight: float = 0.0) -> dict:
        """The adapters trained on (prefix, next item) pairs with the next-item softmax over the catalogue, plus
        `shown_weight` times the impression loss where `shown` (one row per pair) lists items passed over."""
        cfg = self.config
        history = torch.from_numpy(self._encode_histories(prefixes))
        profile = text_profiles(self.text_vectors_, prefixes, cfg.recency_decay)
        target = torch.from_numpy(targets)
        passed = None if shown is None else pad_shown([[shown.row(r)] for r in range(len(shown))], 1)  # [P, 1, M]
        vectors = self.text_vectors_.to(self.device)

        def batches(rng: np.random.Generator):
            order = torch.from_numpy(rng.permutation(len(target)))
            for begin in range(0, len(order), config.batch_size):
                rows = order[begin:begin + config.batch_size]
                yield PrefixBatch(history[rows], profile[rows], target[rows],
                                  None if passed is None else passed[rows])

        def loss(towers: nn.Module, batch: PrefixBatch) -> Tensor:
            users, items = towers.users(batch.history, batch.profile) * towers.scale, towers.items(vectors)
            value = F.cross_entropy((users @ items.T).float(), batch.target)
            if batch.shown is not None and shown_weight > 0:
                value = value + shown_weight * impression_loss(users[:, None], items, batch.target[:, None],
                                                               batch.shown)
            return value

        self.towers_.train()
        try:
            log = Trainer(config, progress=progress, device=self.device).fit(self.towers_, batches, loss,
                                                                             validate=validate)
        finally:
            self.towers_.eval()
            self._table = None
        return log.to_dict()

    # -- online updates --------------------------------------------------------------------------------------
    def update_context(self) -> int:
        return int(self.config.history_items)

    def partial_fit(self, train: Interactions, *, epochs: int, replay: Interactions | None = None,
                    lr: float | None = None, progress: Progress | None = None, freeze_text: bool = False,
                    shown: Sequences | None = None, shown_weight: float = 0.1, text_lr_scale: float = 1.0) -> dict:
        """Continue training the adapters (all text-user trains: its language-model side) on `train`'s
        (prefix, next item) pairs plus `replay`'s, no re-initialisation, no validation, a fresh optimiser at `lr`
        times `text_lr_scale` (all of it is the LM side);
        `shown` (one row per row of `train`) adds the impression loss with weight `shown_weight`. With
        `freeze_text` there is nothing to train: only the popularity counts (the empty-history fallback) move."""
        self._check_fitted()
        for part in [train] + ([replay] if replay is not None else []):
            if len(part) and int(part.item.max()) >= self.n_items_:
                raise DataError(f"partial_fit got item indices beyond the model's {self.n_items_} items")
        self.counts_ = self.counts_ + torch.from_numpy(np.bincount(train.item, minlength=self.n_items_)).to(
            self.counts_.dtype)
        if freeze_text:
            return {"epochs": [], "stop_reason": "text frozen (text-user trains nothing else)", "seconds": 0.0}
        inputs, targets, rows = prefix_lists(train, self.config.history_items)
        replayed = prefix_lists(replay, self.config.history_items)[:2] if replay is not None else ([], [])
        if not targets and not replayed[1]:
            return {"epochs": [], "stop_reason": "no pairs", "seconds": 0.0}
        passed = None
        if shown is not None and shown_weight > 0:  # train's pairs take their rows' impressions, replay's none
            passed = Sequences.from_lists([shown.row(r) for r in rows] + [[]] * len(replayed[1]))
        prefixes, targets = Histories.from_lists(inputs + replayed[0]), np.asarray(targets + replayed[1], np.int64)
        seed = (self.config.train.seed + int(train.digest()[:8], 16)) % 2**31
        rate = float(lr or self.config.train.lr) * text_lr_scale
        config = replace(self.config.train, epochs=int(epochs), lr=rate, seed=seed)
        record = self._train(prefixes, targets, passed, config, progress=progress, shown_weight=shown_weight)
        return {**record, "windows": int(len(targets))}

    def _choose_adapter_scale(self, valid: Holdout) -> dict:
        """Adapters from another catalogue, trusted as far as this catalogue's validation users support: the
        scale in {0, 0.25, .., 1} (0 = the plain LM) with the best validation NDCG@10 (as `lmrec zero-shot`
        weighs its priors)."""
        found = {}
        for scale in (0.0, 0.25, 0.5, 0.75, 1.0):
            self.towers_.adapter_scale.fill_(scale)
            self._table = None
            found[scale] = validation_ndcg(self, valid, k=10)
        best = max(found, key=lambda s: (found[s], -abs(s - 1.0)))
        self.towers_.adapter_scale.fill_(best)
        self._table = None
        return {"chosen": best, "validation_ndcg@10": found}

    # -- scoring ---------------------------------------------------------------------------------------------
    def history_texts(self, histories: Histories) -> list[str]:
        """Each history's most recent `history_items` item texts, most recent first (the LM truncates the end)."""
        cfg, out = self.config, []
        for row in range(len(histories)):
            items = histories.seq[row, : histories.lengths[row]][-cfg.history_items:][::-1]
            out.append(cfg.separator.join(self.item_texts_[int(i)] for i in items))
        return out

    def score(self, histories: Histories) -> torch.Tensor:
        self._check_fitted()
        check_items(histories, self.n_items_)
        history = torch.from_numpy(self._encode_histories(histories)).to(self.device)
        profile = text_profiles(self.text_vectors_, histories, self.config.recency_decay).to(self.device)
        with torch.no_grad():
            users = self.towers_.users(history, profile)
            scores = (users @ self._item_table().T).float().cpu()
        return popularity_fallback(scores, histories, self.counts_)

    def _item_table(self) -> Tensor:
        if self._table is None:
            with torch.no_grad():
                self._table = self.towers_.items(self.text_vectors_.to(self.device))
        return self._table

    def _encode_histories(self, histories: Histories) -> np.ndarray:
        from lmrec.text.encoder import make_encoder

        cfg = self.config
        if self._history_encoder is None:
            config = replace(cfg.encoder, max_length=cfg.history_max_length)
            self._history_encoder = make_encoder(config, device=self.device)
        texts = self.history_texts(histories)
        return np.asarray(self._history_encoder.encode(texts, batch_size=cfg.encoder.batch_size), dtype=np.float32)

    # -- state -----------------------------------------------------------------------------------------------
    def to(self, device: torch.device) -> TextUserRecommender:
        self.device = torch.device(device)
        self._history_encoder = None  # the LM runs on the new device
        self._table = None
        if self.towers_ is not None:
            self.towers_.to(self.device)
        return self

    def _state(self) -> dict[str, Tensor]:
        towers = {f"towers.{k}": v for k, v in self.towers_.state_dict().items()}
        return {**towers, "text_vectors": self.text_vectors_, "counts": self.counts_,
                **texts_to_tensors(self.item_texts_)}

    def _set_state(self, tensors: dict[str, Tensor]) -> None:
        cfg = self.config
        self.text_vectors_, self.counts_ = tensors["text_vectors"], tensors["counts"]
        self.item_texts_ = tensors_to_texts(tensors)
        self.towers_ = TextUserTowers(self.text_vectors_.shape[1], cfg.hidden, cfg.profile_weight, cfg.temperature)
        self.towers_.load_state_dict({k[len("towers."):]: v for k, v in tensors.items() if k.startswith("towers.")})
        self.towers_.to(self.device).eval()
        self._table = None


def _saved_towers(directory: str, towers: TextUserTowers) -> dict[str, Tensor]:
    """The adapters of a saved text-user (a model directory, or a run directory holding `model/`), checked to
    fit `towers`' shapes."""
    from lmrec.models.base import load_model

    path = Path(directory)
    model_dir = path / "model" if (path / "model").is_dir() else path
    source = load_model(model_dir)
    if not isinstance(source, TextUserRecommender):
        raise ModelFileError(f"{directory}: holds {source.name!r}; model.init_from needs a saved text-user")
    state = source.towers_.state_dict()
    mine = towers.state_dict()
    differ = [k for k in mine if k not in state or state[k].shape != mine[k].shape]
    if differ:
        raise ConfigError(f"{directory}: its text-user adapters do not fit this config ({', '.join(differ)}); "
                          "use the same encoder model and hidden size")
    return state
