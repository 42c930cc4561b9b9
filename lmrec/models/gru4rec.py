"""GRU4Rec (Hidasi et al. 2016) trained as a next-item model at every position. Registered as `gru4rec` (ID
items) and `gru4rec-fused` (text + ID)."""

from __future__ import annotations

from torch import Tensor, nn

from lmrec.models.registry import register
from lmrec.models.sequence import SEQUENCE_TINY, Dropout, SequentialConfig, SequentialRecommender, register_net


class GRU4RecNet(nn.Module):
    """GRU over item sequences; returns one user-state vector per position (right-aligned input)."""

    def __init__(self, dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.drop = Dropout(dropout)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, dim)

    def forward(self, seq: Tensor, table: Tensor, last_only: bool = False) -> Tensor:
        """seq [B, L] right-aligned (PAD=-1 on the left), table [N, D] -> hidden [B, L, D] ([B, 1, D] last_only).

        Left padding enters as zero vectors before the first real item; the GRU state stays near its start
        there, and every real position only ever sees the real items before it.
        """
        real = (seq >= 0).unsqueeze(-1)
        x = self.drop(table[seq.clamp(min=0)] * real)  # [B, L, D]
        h, _ = self.gru(x)  # [B, L, H]
        return self.out(self.drop(h[:, -1:] if last_only else h))


@register_net("gru4rec")
def build_gru4rec(config: SequentialConfig) -> nn.Module:
    return GRU4RecNet(config.dim, config.hidden, config.layers, config.dropout)


register("gru4rec", defaults={"net": "gru4rec"}, tiny=SEQUENCE_TINY,
         summary="GRU4Rec over ID embeddings")(SequentialRecommender)
register("gru4rec-fused", defaults={"net": "gru4rec", "item_repr": "fused"}, tiny=SEQUENCE_TINY,
         summary="GRU4Rec over text + ID item vectors")(SequentialRecommender)
