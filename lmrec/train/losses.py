"""Loss functions as pure tensor math; models pick one and hand it to the Trainer."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """BPR: mean of -log sigmoid(s+ - s-); positive [B], negative [B, K] (or [B])."""
    if negative.dim() == positive.dim() + 1:
        positive = positive.unsqueeze(-1)  # [B, 1] against [B, K]
    return -F.logsigmoid(positive - negative).mean()


def full_softmax_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -1) -> torch.Tensor:
    """Cross-entropy over all items; logits [N, n_items], targets [N] (ignore_index rows skipped)."""
    return F.cross_entropy(logits, targets, ignore_index=ignore_index)
