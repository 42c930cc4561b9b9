"""Next-item losses in one registry: a model names its loss (`loss: "ce"`) and the Trainer-side glue builds
`LossInputs`, samples the negatives the loss declares it needs, and calls it.

    @register_loss("bpr", negatives="per_row")
    def bpr(x: LossInputs) -> Tensor: ...

Every loss takes query vectors `hidden [M, D]` (a user state per position that has a target), the `targets [M]`
and the item table `[N, D]`, plus sampled negatives when it asks for them:
  none     full softmax over the whole table (exact; [M, N] logits)
  shared   one draw of K negatives for the whole batch, `negatives [K]` with `log_q [K]` (sampled softmax)
  per_row  K uniform negatives per target, `negatives [M, K]` (BPR, BCE)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lmrec.errors import ConfigError

PAD = -1
NegativeKind = Literal["none", "shared", "per_row"]


@dataclass(frozen=True)
class LossInputs:
    """What a next-item loss sees; rows whose target is PAD (-1) are ignored by every loss."""

    hidden: Tensor  # [M, D]
    targets: Tensor  # [M]
    table: Tensor  # [N, D]
    negatives: Tensor | None = None  # [K] (shared) or [M, K] (per_row)
    log_q: Tensor | None = None  # [K]: log of each shared negative's expected count in the draw


@dataclass(frozen=True)
class LossSpec:
    name: str
    negatives: NegativeKind
    fn: Callable[[LossInputs], Tensor]

    def __call__(self, inputs: LossInputs) -> Tensor:
        return self.fn(inputs)


_LOSSES: dict[str, LossSpec] = {}


def register_loss(name: str, *, negatives: NegativeKind = "none") -> Callable[[Callable], Callable]:
    def decorate(fn: Callable[[LossInputs], Tensor]) -> Callable[[LossInputs], Tensor]:
        if name in _LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        _LOSSES[name] = LossSpec(name, negatives, fn)
        return fn

    return decorate


def get_loss(name: str) -> LossSpec:
    try:
        return _LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; available: {', '.join(loss_names())}") from None


def loss_names() -> list[str]:
    return sorted(_LOSSES)


@register_loss("ce")
def full_softmax(x: LossInputs) -> Tensor:
    """Cross-entropy over every item: the strongest next-item loss when [M, N] logits fit in memory."""
    return F.cross_entropy(x.hidden @ x.table.T, x.targets, ignore_index=PAD)


@register_loss("sampled", negatives="shared")
def sampled_softmax(x: LossInputs) -> Tensor:
    """Softmax over the target plus K shared negatives, each negative's logit corrected by -log(K Q(j)), so the
    sum over samples estimates the full partition function without popularity bias (big catalogues). PAD rows
    are scored and masked out of the mean rather than dropped: a fixed row count keeps GEMM shapes few."""
    assert x.negatives is not None and x.log_q is not None, "sampled softmax needs shared negatives"
    keep = x.targets >= 0
    h, y = x.hidden, x.targets.clamp(min=0)
    positive = (h * F.embedding(y, x.table)).sum(-1, keepdim=True)  # [M, 1]
    negative = h @ F.embedding(x.negatives, x.table).T - x.log_q.to(h.dtype)  # [M, K]
    negative = negative.masked_fill(x.negatives[None, :] == y[:, None], float("-inf"))  # accidental hits
    logits = torch.cat([positive, negative], dim=1)
    losses = F.cross_entropy(logits.float(), torch.zeros(len(y), dtype=torch.long, device=logits.device),
                             reduction="none")
    return masked_mean(losses, keep)


def masked_mean(values: Tensor, keep: Tensor) -> Tensor:
    """Mean of `values` over the rows `keep` marks (broadcast over trailing dims); 0 when none is kept."""
    weights = keep.to(values.dtype).reshape(keep.shape + (1,) * (values.dim() - keep.dim())).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp(min=1)


def _pair_scores(x: LossInputs) -> tuple[Tensor, Tensor, Tensor]:
    """(positive [M], negative [M, K], keep [M]): PAD rows are scored against item 0 and masked by the caller."""
    assert x.negatives is not None and x.negatives.dim() == 2, "this loss needs per-row negatives [M, K]"
    keep = x.targets >= 0
    h, y = x.hidden, x.targets.clamp(min=0)
    # F.embedding rather than table[index]: its backward accumulates rows far faster on CPU
    positive = (h * F.embedding(y, x.table)).sum(-1)  # [M]
    negative = torch.einsum("md,mkd->mk", h, F.embedding(x.negatives, x.table))  # [M, K]
    return positive, negative, keep


@register_loss("bpr", negatives="per_row")
def bpr(x: LossInputs) -> Tensor:
    """BPR (Rendle et al. 2009): mean of -log sigmoid(s+ - s-) over each target's negatives."""
    positive, negative, keep = _pair_scores(x)
    return masked_mean(-F.logsigmoid(positive[:, None] - negative), keep)


@register_loss("bce", negatives="per_row")
def binary_cross_entropy(x: LossInputs) -> Tensor:
    """The original SASRec loss: the target is a positive, each negative a negative, independent sigmoids."""
    positive, negative, keep = _pair_scores(x)
    return -(masked_mean(F.logsigmoid(positive), keep) + masked_mean(F.logsigmoid(-negative), keep))


def bpr_loss(positive: Tensor, negative: Tensor) -> Tensor:
    """BPR on scores: positive [B], negative [B, K] (or [B])."""
    if negative.dim() == positive.dim() + 1:
        positive = positive.unsqueeze(-1)  # [B, 1] against [B, K]
    return -F.logsigmoid(positive - negative).mean()


def impression_loss(hidden: Tensor, table: Tensor, targets: Tensor, shown: Tensor) -> Tensor:
    """Softmax of each chosen item against the items shown before it and passed over (impressions as hard
    negatives): mean over the target positions that have impressions; 0 when none has. `hidden [B, L, D]`,
    `table [N, D]`, `targets [B, L]`, `shown [B, L, M]` (PAD = -1 where there is no impression). A shown item
    that is also the target is not a negative."""
    valid = (shown >= 0) & (shown != targets[..., None]) & (targets[..., None] >= 0)  # [B, L, M]
    rows = valid.any(-1)  # [B, L]
    if not bool(rows.any()):
        return hidden.new_zeros(())
    h, y, s, mask = hidden[rows], targets[rows], shown[rows].clamp(min=0), valid[rows]  # [P, D], [P], [P, M]
    positive = (h * table[y]).sum(-1, keepdim=True)  # [P, 1]
    negative = torch.einsum("pd,pmd->pm", h, table[s]).masked_fill(~mask, float("-inf"))  # [P, M]
    logits = torch.cat([positive, negative], dim=1).float()
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


class NegativeSampler:
    """Draws the negatives a loss declares: shared ones from popularity ** 0.75 (with log-Q), per-row ones
    uniformly. Draws go through numpy seeded from torch's generator, so the Trainer's seed fixes them."""

    def __init__(self, spec: LossSpec, item_counts: Tensor | list | object, n_negatives: int) -> None:
        import numpy as np

        self.kind, self.n = spec.negatives, int(n_negatives)
        counts = np.asarray(item_counts, dtype=np.float64)
        self.n_items = len(counts)
        if self.kind == "shared":
            weights = counts**0.75
            self.probabilities = weights / max(weights.sum(), 1e-30)
            self.log_q = torch.from_numpy(np.log(np.maximum(self.probabilities * self.n, 1e-30))).float()

    def __call__(self, targets: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """(negatives, log_q) for a batch whose flat targets are `targets [M]`, on their device."""
        import numpy as np

        if self.kind == "none":
            return None, None
        rng = np.random.default_rng(int(torch.randint(0, 2**31, ())))
        if self.kind == "shared":
            picked = torch.from_numpy(rng.choice(self.n_items, size=self.n, p=self.probabilities))
            return picked.to(targets.device), self.log_q[picked].to(targets.device)
        drawn = torch.from_numpy(rng.integers(0, self.n_items, size=(len(targets), self.n)))
        return drawn.to(targets.device), None
