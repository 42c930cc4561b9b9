"""SASRec (Kang & McAuley 2018): a causal Transformer over the item sequence. Registered as `sasrec` (ID items),
`sasrec-text` (items from their text alone: inductive) and `sasrec-fused` (text + ID)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmrec.models.registry import register
from lmrec.models.sequence import SEQUENCE_TINY, Dropout, SequentialConfig, SequentialRecommender, register_net


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, allowed: Tensor, last_only: bool = False) -> Tensor:
        """x [B, L, D] -> [B, L, D], or [B, 1, D] for the last position alone (scoring needs nothing else)."""
        b, length, dim = x.shape
        q, k, v = self.qkv(x).split(dim, dim=2)
        if last_only:
            q, allowed = q[:, -1:], allowed[:, :, -1:]
        q, k, v = (t.view(b, t.shape[1], self.heads, dim // self.heads).transpose(1, 2) for t in (q, k, v))
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):  # CPU flash attention in bf16 is ~2.7x
            with torch.autocast("cpu", enabled=False):  # slower than in float32 (fwd + bwd here)
                y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=allowed)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # [B,H,Lq,d]; dropout: on hidden states
        return self.out(y.transpose(1, 2).reshape(b, q.shape[2], dim))


class Block(nn.Module):
    """Pre-norm Transformer block."""

    def __init__(self, dim: int, heads: int, dropout: float, inner: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.ff = nn.Sequential(nn.Linear(dim, inner), nn.GELU(), Dropout(dropout), nn.Linear(inner, dim))
        self.drop = Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor, last_only: bool = False) -> Tensor:
        residual = x[:, -1:] if last_only else x
        x = residual + self.drop(self.attn(self.norm1(x), allowed, last_only))
        return x + self.drop(self.ff(self.norm2(x)))


class SASRecNet(nn.Module):
    """Causal Transformer over item sequences; returns one user-state vector per position."""

    def __init__(self, dim: int, layers: int, heads: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.dim = dim
        self.position = nn.Embedding(max_len, dim)
        nn.init.normal_(self.position.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout, 4 * dim) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.drop = Dropout(dropout)

    def forward(self, seq: Tensor, table: Tensor, last_only: bool = False) -> Tensor:
        """seq [B, L] right-aligned item indices (PAD=-1), table [N, D] item vectors -> hidden [B, L, D]
        ([B, 1, D] with `last_only`: the final block then computes the last position alone, ~half the work)."""
        return self.encode(self.inputs(seq, table), self.allowed(seq), last_only)

    def inputs(self, seq: Tensor, table: Tensor, extra: Tensor | None = None) -> Tensor:
        """[B, L, D] scaled item vectors + positions (+ `extra`), dropout, zeros on padding."""
        length = seq.shape[1]
        real = seq >= 0  # [B, L]
        x = table[seq.clamp(min=0)] * math.sqrt(self.dim)  # [B, L, D]
        x = x + self.position.weight[-length:] if length <= self.position.num_embeddings else x
        if extra is not None:
            x = x + extra
        return self.drop(x * real.unsqueeze(-1))

    @staticmethod
    def allowed(seq: Tensor) -> Tensor:
        """[B, 1, L, L] bool: a query may see earlier real items and always itself (so padded rows never attend
        to nothing)."""
        steps = torch.arange(seq.shape[1], device=seq.device)
        causal = steps[:, None] >= steps[None, :]  # [L, L]; comparisons: ONNX Runtime has no bool EyeLike
        return ((causal & (seq >= 0)[:, None, :]) | (steps[:, None] == steps[None, :])).unsqueeze(1)

    def encode(self, x: Tensor, mask: Tensor, last_only: bool) -> Tensor:
        """The blocks over inputs `x [B, L, D]` with attention `mask` (bool allowed, or a float bias with -inf
        where not allowed), then the final norm."""
        for depth, block in enumerate(self.blocks):
            x = block(x, mask, last_only and depth == len(self.blocks) - 1)
        return self.norm(x)


@register_net("sasrec")
def build_sasrec(config: SequentialConfig) -> nn.Module:
    return SASRecNet(config.dim, config.layers, config.heads, config.max_len, config.dropout)


register("sasrec", defaults={"net": "sasrec"}, tiny=SEQUENCE_TINY,
         summary="SASRec over ID embeddings")(SequentialRecommender)
register("sasrec-text", defaults={"net": "sasrec", "item_repr": "text"}, tiny=SEQUENCE_TINY,
         summary="SASRec over language-model item vectors (inductive)")(SequentialRecommender)
register("sasrec-fused", defaults={"net": "sasrec", "item_repr": "fused"}, tiny=SEQUENCE_TINY,
         summary="SASRec over text + ID item vectors")(SequentialRecommender)
register("sasrec-attr", defaults={"net": "sasrec", "item_repr": "fused", "item_attributes": True,
                                  "user_attributes": None}, tiny=SEQUENCE_TINY,
         summary="SASRec over text + ID + attribute item vectors, user attributes joined when the data has them"
         )(SequentialRecommender)
register("sasrec-mtl", defaults={"net": "sasrec", "rating_weight": 1.0, "click_weight": 0.5}, tiny=SEQUENCE_TINY,
         summary="SASRec with next-item, rating (MSE) and click (BCE) heads on shared towers"
         )(SequentialRecommender)
