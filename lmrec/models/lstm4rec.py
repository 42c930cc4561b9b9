"""LSTM4Rec: an LSTM over the item sequence, trained as a next-item model at every position (the seeds' worked
model). Registered as `lstm4rec`; `--set model.item_repr=fused` (or text) gives it language-model items too.

This file is the whole model: the net, its registration under a name, and the preset that makes it a model.
"""

from __future__ import annotations

from torch import Tensor, nn

from lmrec.models.registry import register
from lmrec.models.sequence import SEQUENCE_TINY, Dropout, SequentialConfig, SequentialRecommender, register_net


class LSTMNet(nn.Module):
    """`layers` LSTM layers of `hidden` units over the item vectors, projected back to the item space."""

    def __init__(self, dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.drop = Dropout(dropout)
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, dim)

    def forward(self, seq: Tensor, table: Tensor, last_only: bool = False) -> Tensor:
        """seq [B, L] right-aligned (PAD=-1 on the left), table [N, D] -> hidden [B, L, D] ([B, 1, D] last_only).
        Left padding enters as zero vectors: every real position sees only the real items before it."""
        x = self.drop(table[seq.clamp(min=0)] * (seq >= 0).unsqueeze(-1))  # [B, L, D]
        h, _ = self.lstm(x)  # [B, L, H]
        return self.out(self.drop(h[:, -1:] if last_only else h))


@register_net("lstm")
def build_lstm(config: SequentialConfig) -> nn.Module:
    return LSTMNet(config.dim, config.hidden, config.layers, config.dropout)


register("lstm4rec", defaults={"net": "lstm"}, tiny=SEQUENCE_TINY, summary="LSTM over ID embeddings")(
    SequentialRecommender)
