"""`dcn`: a click model over user, item and cross features (DCN-v2, Wang et al. 2021), the ranking stage of
two-stage recommendation: a sequence model retrieves the top N, `dcn` re-orders them.

    p(click | u, i) = sigmoid(w . [cross(x0); deep(x0)]),  x0 = [e_i; a_i; t_i; mean(e_h); e_last; g_u]

e_i the item's ID embedding, a_i its attribute embedding (categorical and numeric catalogue fields), t_i a
projection of its frozen LM text vector, e_h the history's item embeddings (mean and last), g_u the user's
attribute embedding; the cross layers x_{l+1} = x0 * (W_l x_l + b_l) + x_l learn bounded-degree feature crosses
(user attributes x item attributes x context), the deep tower the rest. Trained with BCE: every observed next
item is a click, sampled items (uniform, and by popularity, which are harder) are not.

    lmrec fit -d amazon-office-2014 -m dcn --out runs/dcn
    lmrec evaluate runs/sasrec --rank-with runs/dcn          # sasrec's top 100 re-ordered by dcn
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lmrec.data.split import Holdout
from lmrec.data.types import PAD, Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models._scoring import check_items
from lmrec.models.attributes import AttributeEmbedding
from lmrec.models.base import mask_seen
from lmrec.models.capabilities import CandidateScorer, ClickPredictor, UserAttributes
from lmrec.models.registry import register
from lmrec.models.sequence.attributes import USER_PREFIX, fit_attributes
from lmrec.models.sequence.windows import right_align
from lmrec.models.torch_base import TorchRecommender
from lmrec.text.base import EncoderConfig
from lmrec.train.batches import TensorBatch
from lmrec.train.trainer import Progress, TrainConfig

ITEM_PREFIX = "items."
UNSEEN_ITEM = -1e30  # the score of a candidate the ranker never saw (finite: it stays in the list)
VALIDATION_USERS = 500  # validation NDCG@10 ranks the whole catalogue per pair of features: a fixed sample


def _train_defaults() -> TrainConfig:
    return TrainConfig(epochs=20, batch_size=512, lr=1e-3, weight_decay=0.0, optimizer="adamw", patience=3)


@dataclass(frozen=True)
class DCNConfig:
    dim: int = 32
    cross_layers: int = 2
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    max_len: int = 50  # history items the mean and last embeddings read
    negatives: int = 4  # sampled non-clicks per click
    popular_negatives: float = 0.5  # share of them drawn by popularity (the rest uniformly)
    # hard negatives: a saved retriever (RUN/model, fitted on the same data) whose top `hard_pool` items for each
    # training history supply `hard_share` of the negatives, so the ranker learns to order what it will be shown
    hard_negatives_from: str | None = None
    hard_pool: int = 100
    hard_share: float = 0.5
    item_attributes: bool = True  # the catalogue's categorical / numeric fields, when it has any
    text: bool = True  # the items' LM vectors, when the catalogue has text
    user_attributes: bool | None = None  # None: when the data has them
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    train: TrainConfig = field(default_factory=_train_defaults)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.dim < 1 or self.cross_layers < 0 or self.negatives < 1 or self.max_len < 1 or not (
                0.0 <= self.popular_negatives <= 1.0) or any(h < 1 for h in self.hidden) or self.hard_pool < 1 or not (
                0.0 <= self.hard_share <= 1.0):
            raise ConfigError(f"dcn needs dim >= 1, cross_layers >= 0, negatives >= 1, max_len >= 1, "
                              "0 <= popular_negatives <= 1, positive hidden sizes, hard_pool >= 1, "
                              f"0 <= hard_share <= 1; got {self}")


@dataclass(frozen=True)
class ClickBatch(TensorBatch):
    """`history [B, L]` right-aligned, `users [B]`, `items [B, 1 + K]` (the click first), `labels [B, 1 + K]`."""

    history: Tensor
    users: Tensor
    items: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return int(self.history.shape[0])


class CrossNetwork(nn.Module):
    """DCN-v2 cross layers beside a deep tower, one logit."""

    def __init__(self, width: int, layers: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.cross = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        deep: list[nn.Module] = []
        last = width
        for size in hidden:
            deep += [nn.Linear(last, size), nn.ReLU(), nn.Dropout(dropout)]
            last = size
        self.deep = nn.Sequential(*deep)
        self.out = nn.Linear(width + last, 1)

    def forward(self, x0: Tensor) -> Tensor:  # [..., W] -> [...]
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return self.out(torch.cat([x, self.deep(x0)], dim=-1)).squeeze(-1)


class DCNModule(nn.Module):
    """Feature embeddings and the cross network: logits for (history, user, item) triples."""

    def __init__(self, n_items: int, config: DCNConfig, *, text: Tensor | None = None,
                 items: AttributeEmbedding | None = None, users: AttributeEmbedding | None = None) -> None:
        super().__init__()
        dim = config.dim
        self.ids = nn.Embedding(n_items, dim)
        nn.init.normal_(self.ids.weight, std=0.05)
        self.items, self.users = items, users
        if text is not None:
            self.register_buffer("text_vectors", text.float(), persistent=True)
            self.text = nn.Linear(text.shape[1], dim)
        else:
            self.text_vectors, self.text = None, None
        fields = 3 + (items is not None) + (text is not None) + (users is not None)  # item, mean, last, ...
        self.network = CrossNetwork(fields * dim, config.cross_layers, config.hidden, config.dropout)

    def forward(self, history: Tensor, users: Tensor | None, items: Tensor) -> Tensor:
        """history [B, L] (PAD -1), users [B] or None, items [B, M] -> logits [B, M]."""
        real = (history >= 0).unsqueeze(-1).float()
        embedded = self.ids(history.clamp(min=0)) * real  # [B, L, D]
        mean = embedded.sum(1) / real.sum(1).clamp(min=1.0)
        last = embedded[:, -1]
        context = [mean, last]
        if self.users is not None:
            context.append(self.users.rows(users) if users is not None else torch.zeros_like(mean))
        side = torch.cat(context, dim=-1)  # [B, C]
        item_parts = [self.ids(items)]
        if self.items is not None:
            item_parts.append(self.items.rows(items))
        if self.text is not None:
            item_parts.append(self.text(self.text_vectors[items]))
        item_side = torch.cat(item_parts, dim=-1)  # [B, M, I]
        x0 = torch.cat([item_side, side.unsqueeze(1).expand(-1, items.shape[1], -1)], dim=-1)
        return self.network(x0)


@register("dcn", tiny={"dim": 8, "hidden": (16,), "max_len": 8, "encoder": {"cache": False},
                       "train": {"epochs": 30, "batch_size": 64, "lr": 0.01, "patience": 30, "threads": 1}},
          summary="DCN-v2 click model over user, item and cross features: the ranking stage (--rank-with)")
class DCNRanker(TorchRecommender, CandidateScorer, ClickPredictor, UserAttributes):
    Config = DCNConfig
    config: DCNConfig
    module_: DCNModule | None

    def __init__(self, config: DCNConfig | None = None, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self._user_frame: pd.DataFrame | None = None

    def capabilities(self) -> frozenset[type]:
        found = super().capabilities()
        return found - {UserAttributes} if self.config.user_attributes is False else found

    def fit_user_attributes(self, frame: Any) -> None:
        self._user_frame = frame

    def forget_user_attributes(self, user: int) -> bool:
        module = self.module_
        return module.users.forget(int(user)) if module is not None and module.users is not None else False

    # -- fit ---------------------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> DCNRanker:
        if len(train) == 0:
            raise DataError("no training interactions")
        cfg = self.config
        self.n_items_ = train.n_items
        text = None
        if cfg.text and catalog is not None and any(t.strip() for t in catalog.texts()):
            from lmrec.text.encoder import encode_catalog

            text = torch.from_numpy(np.ascontiguousarray(encode_catalog(catalog, cfg.encoder, device=self.device),
                                                         dtype=np.float32))
        wants_items = cfg.item_attributes and catalog is not None and bool(catalog.categorical or catalog.numeric)
        attributes = fit_attributes(catalog, self._user_frame, train, item_attributes=wants_items,
                                    user_attributes=cfg.user_attributes)
        with self.seeded(cfg.train.seed):
            modules = attributes.modules(cfg.dim)
            self.module_ = DCNModule(train.n_items, cfg, text=text, items=modules["item_attributes"],
                                     users=modules["user_attributes"])
        samples = click_samples(train, cfg.max_len)
        if not len(samples[0]):
            raise DataError("no user has 2 or more training interactions; nothing to learn clicks from")
        counts = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
        pools = None
        if cfg.hard_negatives_from is not None:
            pools = retriever_pools(cfg.hard_negatives_from, samples[0], train.n_items, cfg.hard_pool)
        batches = click_batches(samples, counts, cfg, pools)
        loss = lambda module, batch: F.binary_cross_entropy_with_logits(  # noqa: E731
            module(batch.history, batch.users, batch.items), batch.labels)
        self.fit_log_ = self._train(self.module_, batches, loss, config=cfg.train, valid=_sample(valid),
                                    progress=progress).to_dict()
        self.fit_log_["attributes"] = attributes.summary
        self.fit_log_["features"] = {"text": text is not None, **{k: (v if isinstance(v, str) else v["fields"])
                                                                  for k, v in attributes.summary.items()}}
        return self

    # -- scoring -----------------------------------------------------------------------------------------------
    def score_candidates(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        """[B, M] click logits of candidate `items [B, M]` after each history: PAD entries get -inf, items added
        to the catalogue after this model was trained get UNSEEN_ITEM (after every item it knows, in the
        retriever's order)."""
        self._check_fitted()
        items = np.asarray(items, np.int64)
        if items.ndim != 2 or len(items) != len(histories):
            raise DataError(f"candidates must be [{len(histories)}, M]; got {items.shape}")
        known = (items >= 0) & (items < self.n_items_)
        with torch.inference_mode():
            logits = self._logits(histories, torch.from_numpy(np.where(known, items, 0)))
        scores = np.where(known, logits.float().cpu().numpy(), np.where(items >= 0, UNSEEN_ITEM, -np.inf))
        return scores.astype(np.float32)

    def predict_clicks(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        """[B] click probability of item b after history b."""
        logits = self.score_candidates(histories, np.asarray(items, np.int64)[:, None])[:, 0]
        return 1.0 / (1.0 + np.exp(-logits))

    def score(self, histories: Histories) -> Tensor:
        """[B, n_items] click logits over the whole catalogue (chunked: every item is one feature row)."""
        self._check_fitted()
        n = self.n_items_
        width = self.module_.network.out.in_features  # type: ignore[union-attr]
        rows = max(1, (1 << 24) // max(n * width, 1))
        parts = []
        with torch.inference_mode():
            for start in range(0, len(histories), rows):
                chunk = Histories(histories.seq[start:start + rows], histories.lengths[start:start + rows],
                                  None if histories.times is None else histories.times[start:start + rows],
                                  None if histories.users is None else histories.users[start:start + rows])
                every = torch.arange(n).expand(len(chunk), -1)
                parts.append(self._logits(chunk, every).float().cpu())
        return torch.cat(parts) if parts else torch.zeros((0, n))

    def _logits(self, histories: Histories, items: Tensor) -> Tensor:
        check_items(histories, self.n_items_)
        module = self.module_
        assert module is not None
        module.eval()
        history = torch.from_numpy(right_align(histories, self.config.max_len)).to(self.device)
        users = None
        if histories.users is not None and module.users is not None:
            users = torch.as_tensor(np.asarray(histories.users, np.int64), device=self.device)
        return module(history, users, items.to(self.device))

    # -- persistence -------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Tensor]:
        assert self.module_ is not None
        return dict(self.module_.state_dict())

    def _set_state(self, tensors: dict[str, Tensor]) -> None:
        dim = self.config.dim
        items = AttributeEmbedding.from_state(tensors, ITEM_PREFIX, dim) if ITEM_PREFIX + "codes" in tensors else None
        users = AttributeEmbedding.from_state(tensors, USER_PREFIX, dim) if USER_PREFIX + "codes" in tensors else None
        self.module_ = DCNModule(int(self.n_items_ or 0), self.config, text=tensors.get("text_vectors"), items=items,
                                 users=users)
        self.module_.load_state_dict(tensors)
        self.module_.eval()


def click_samples(train: Interactions, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(histories [S, L] right-aligned, users [S], clicked items [S]): every event after a user's first, with the
    `max_len` events before it."""
    seqs = train.sequences()
    histories, users, items = [], [], []
    for u in range(len(seqs)):
        row = seqs.row(u)
        for t in range(1, len(row)):
            window = row[max(0, t - max_len):t]
            padded = np.full(max_len, PAD, np.int64)
            padded[max_len - len(window):] = window
            histories.append(padded)
            users.append(u)
            items.append(row[t])
    if not histories:
        return np.zeros((0, max_len), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.stack(histories), np.asarray(users, np.int64), np.asarray(items, np.int64)


def retriever_pools(path: str, histories: np.ndarray, n_items: int, pool: int, chunk: int = 512) -> np.ndarray:
    """[S, pool] the saved retriever's best items for each right-aligned training history (its own items
    masked)."""
    from lmrec.models.base import load_model

    retriever = load_model(path)
    if retriever.n_items_ != n_items:
        raise ConfigError(f"model.hard_negatives_from={path}: the retriever scores {retriever.n_items_} items, "
                          f"the data has {n_items}; fit it on the same data")
    out = np.zeros((len(histories), min(pool, n_items)), np.int64)
    for start in range(0, len(histories), chunk):
        rows = histories[start:start + chunk]
        left = [row[row >= 0] for row in rows]
        query = Histories.from_lists(left)
        with torch.inference_mode():
            scores = mask_seen(retriever.score(query).float().clone(), query)
            out[start:start + len(rows)] = scores.topk(out.shape[1], dim=1).indices.numpy()
    return out


def click_batches(samples: tuple[np.ndarray, np.ndarray, np.ndarray], counts: np.ndarray, config: DCNConfig,
                  pools: np.ndarray | None = None):
    """The Trainer's batch source: clicks in a fresh order each epoch, each with `negatives` sampled items (with
    `pools`, `hard_share` of them from the retriever's top items for that history)."""
    histories, users, clicked = samples
    n_items = len(counts)
    popularity = counts / counts.sum()
    k = config.negatives
    hard = 0 if pools is None else int(round(k * config.hard_share))
    popular = int(round((k - hard) * config.popular_negatives))

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(clicked))
        for start in range(0, len(order), config.train.batch_size):
            picked = order[start:start + config.train.batch_size]
            b = len(picked)
            parts = [rng.choice(n_items, size=(b, popular), p=popularity),
                     rng.integers(0, n_items, size=(b, k - hard - popular))]
            if hard:
                drawn = np.take_along_axis(pools[picked], rng.integers(0, pools.shape[1], size=(b, hard)), axis=1)
                clash = drawn == clicked[picked, None]  # the click itself is no negative
                drawn[clash] = rng.integers(0, n_items, size=int(clash.sum()))
                parts.append(drawn)
            negatives = np.concatenate(parts, axis=1)
            items = np.concatenate([clicked[picked, None], negatives], axis=1)
            labels = np.zeros(items.shape, np.float32)
            labels[:, 0] = 1.0
            yield ClickBatch(torch.from_numpy(histories[picked]), torch.from_numpy(users[picked]),
                             torch.from_numpy(items), torch.from_numpy(labels))

    return batches


def _sample(valid: Holdout | None) -> Holdout | None:
    """At most VALIDATION_USERS validation users (evenly spaced, so the choice is fixed)."""
    if valid is None or len(valid) <= VALIDATION_USERS:
        return valid
    rows = np.linspace(0, len(valid) - 1, VALIDATION_USERS).astype(np.int64)
    return Holdout(valid.users[rows], valid.inputs.take(rows), valid.targets.take(rows))


__all__ = ["DCNConfig", "DCNRanker", "click_samples"]
