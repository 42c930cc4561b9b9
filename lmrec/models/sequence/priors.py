"""Priors a sequence model can blend with its net's scores, each z-scored per history (lmrec/models/blend.py):

    text   lm-content's score from the raw LM vectors the text part reads: the cosine between the history's
           recency-weighted mean text vector and each item's. No weight is trained, so it means the same on any
           catalogue, while a net pre-trained elsewhere may not (bench/results/zero-shot-*: the net and its adapter
           lose half of the LM's similarity on a new catalogue).
    pop    log(1 + events per item) in the interactions the model was fitted or placed on.

The weights (net first) are fixed by config or searched on the validation holdout's NDCG@10 (never test), which
is how a zero-shot model learns how far to trust its net on a catalogue it was not trained on: no network weight
changes, only how much each source counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lmrec.data.split import Holdout
from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.models._scoring import text_profiles
from lmrec.models.blend import sample_rows, search_weights, standardise

PRIORS = ("text", "pop")


def check_priors(priors: tuple[str, ...], weights: tuple[float, ...] | None, item_repr: str) -> None:
    """ConfigError for an unknown or repeated prior, text without a text part, or weights that do not fit."""
    unknown = [p for p in priors if p not in PRIORS]
    if unknown or len(set(priors)) != len(priors):
        raise ConfigError(f"model.priors={list(priors)!r}: each of {list(PRIORS)} at most once")
    if "text" in priors and item_repr == "id":
        raise ConfigError("model.priors has 'text' but item_repr='id' has no item text")
    if weights is not None:
        if len(weights) != len(priors) + 1 or not all(np.isfinite(w) and w >= 0 for w in weights) \
                or sum(weights) <= 0:
            raise ConfigError(f"model.prior_weights={list(weights)!r} needs {len(priors) + 1} finite non-negative "
                              "values (the net first, then each prior) with a positive sum")


@dataclass
class PriorBlend:
    """The fitted blend: per-item event counts and the weights of (net, *priors)."""

    priors: tuple[str, ...]
    decay: float
    counts: Tensor  # [N] float32
    weights: np.ndarray  # [1 + len(priors)] float64, summing to 1

    @property
    def names(self) -> tuple[str, ...]:
        return ("net", *self.priors)

    def prior_scores(self, name: str, histories: Histories, text_vectors: Tensor | None) -> Tensor:
        """[B, N] raw scores of one prior on `text_vectors`' device (CPU counts are moved)."""
        if name == "text":
            assert text_vectors is not None
            return text_profiles(text_vectors, histories, self.decay) @ text_vectors.T
        counts = torch.log1p(self.counts.to(text_vectors.device if text_vectors is not None else "cpu"))
        return counts.unsqueeze(0).expand(len(histories), -1)

    def parts(self, net: Tensor, histories: Histories, text_vectors: Tensor | None) -> list[Tensor]:
        """The z-scored [B, N] of the net and of each prior, on the net's device."""
        return [standardise(net)] + [standardise(self.prior_scores(name, histories, text_vectors)).to(net.device)
                                     for name in self.priors]

    def combine(self, net: Tensor, histories: Histories, text_vectors: Tensor | None) -> Tensor:
        """[B, N] sum of the weighted z-scored parts; a part with weight 0 is not computed."""
        total = float(self.weights[0]) * standardise(net)
        for weight, name in zip(self.weights[1:], self.priors, strict=True):
            if weight > 0:
                total = total + float(weight) * standardise(self.prior_scores(name, histories, text_vectors)).to(
                    net.device)
        return total

    def search(self, score_net, valid: Holdout, text_vectors: Tensor | None, grid: int = 10,
               max_users: int = 4000) -> dict:
        """Set `weights` to the simplex-grid point with the best validation NDCG@10; returns the search log.
        `score_net(histories) -> [B, N]` is the net's own score."""
        rows = sample_rows(len(valid), max_users)
        histories, targets = valid.histories(rows), valid.targets.take(rows)
        with torch.inference_mode():
            parts = torch.stack([p.cpu() for p in self.parts(score_net(histories), histories, text_vectors)])
        self.weights, log = search_weights(parts, histories, targets, self.names, grid)
        return log

    def grow(self, n: int) -> None:
        """New items start with no events."""
        self.counts = torch.cat([self.counts, torch.zeros(n, dtype=self.counts.dtype)])

    def state(self) -> dict[str, Tensor]:
        return {"prior.counts": self.counts, "prior.weights": torch.from_numpy(self.weights.astype(np.float64))}

    @classmethod
    def from_state(cls, tensors: dict[str, Tensor], priors: tuple[str, ...], decay: float) -> PriorBlend:
        """Pops its keys from `tensors`."""
        counts, weights = tensors.pop("prior.counts"), tensors.pop("prior.weights").double().numpy()
        if len(weights) != len(priors) + 1:
            raise ValueError(f"{len(weights)} prior weights for {len(priors)} priors")
        return cls(priors, decay, counts.float(), weights)
