"""Multi-task heads on the shared towers of a sequence model (`sasrec-mtl`): beside next-item softmax, a rating
head (MSE on explicit ratings) and a click head (BCE, the observed next item against sampled items). Each reads
the state h_t after a history prefix and the item vector w_i the towers give:

    rating(h, u, i) = mean + b_u + b_i + <R h, w_i>          click(h, i) = sigmoid(<C h, w_i> + c)

so the heads share everything the next-item task learns and add two D x D maps and user and item biases (b_u of
a training user; 0 for a user the model did not train on: the history says what they like, not how they rate).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lmrec.models.items import zero_grown


class MultiTaskHeads(nn.Module):
    """The rating and/or click head (absent ones are None)."""

    def __init__(self, dim: int, n_items: int, *, rating: bool, click: bool, mean_rating: float = 0.0,
                 n_users: int = 0) -> None:
        super().__init__()
        self.rating = nn.Linear(dim, dim, bias=False) if rating else None
        self.item_bias = nn.Embedding(n_items, 1) if rating else None
        self.user_bias = nn.Embedding(max(n_users, 1), 1) if rating else None
        if self.user_bias is not None:
            nn.init.zeros_(self.user_bias.weight)
        self.register_buffer("mean_rating", torch.tensor(float(mean_rating)), persistent=True)
        if self.item_bias is not None:
            nn.init.zeros_(self.item_bias.weight)
        self.click = nn.Linear(dim, dim, bias=False) if click else None
        self.click_bias = nn.Parameter(torch.zeros(())) if click else None

    def predict_rating(self, states: Tensor, items: Tensor, vectors: Tensor, users: Tensor | None = None) -> Tensor:
        """[M] ratings of `items [M]` (item vectors `vectors [M, D]`) after states [M, D] of `users [M]` (dense
        indices; None or unknown: no user bias)."""
        assert self.rating is not None and self.item_bias is not None and self.user_bias is not None, "no rating head"
        out = self.mean_rating + self.item_bias(items).squeeze(-1) + (self.rating(states) * vectors).sum(-1)
        if users is not None:
            known = (users >= 0) & (users < self.user_bias.num_embeddings)
            bias = self.user_bias(torch.where(known, users, torch.zeros_like(users))).squeeze(-1)
            out = out + bias * known.to(bias.dtype)
        return out

    def click_logit(self, states: Tensor, vectors: Tensor) -> Tensor:
        """[M] click logits of items with vectors [M, D] after states [M, D]."""
        assert self.click is not None and self.click_bias is not None, "no click head"
        return (self.click(states) * vectors).sum(-1) + self.click_bias

    def rating_loss(self, states: Tensor, items: Tensor, vectors: Tensor, values: Tensor,
                    users: Tensor | None = None) -> Tensor:
        known = torch.isfinite(values)
        if not bool(known.any()):
            return states.new_zeros(())
        predicted = self.predict_rating(states[known], items[known], vectors[known],
                                        None if users is None else users[known])
        return F.mse_loss(predicted.float(), values[known].float())

    def click_loss(self, states: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """BCE: each observed next item (vectors [M, D]) is a click, a sampled item ([M, D]) is not."""
        logits = torch.cat([self.click_logit(states, positives), self.click_logit(states, negatives)]).float()
        labels = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).to(logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels)

    def grow(self, n: int) -> None:
        """Room for `n` new items (rating bias 0: the mean until their ratings arrive)."""
        if self.item_bias is not None:
            self.item_bias = zero_grown(self.item_bias, n)
