"""TiSASRec-style time-aware SASRec (`tisasrec`): the time between events reaches attention.

Li, Wang & McAuley (WSDM 2020) add embeddings of the clipped interval between every two events to attention's
keys and values. This net keeps SASRec's blocks and adds two cheaper terms that carry the same information:
- an attention bias per head for the log-bucket of |t_q - t_k| (how long before the query event the key event
  happened: a burst of recent events and a months-old one are weighed differently), and
- an input embedding of each event's log-bucketed gap since the previous one (a session break or a binge).
Buckets are log2 of minutes (1 + floor(log2(1 + gap / 60)), capped), so seconds-stamped and day-stamped data use
the same table; bucket 0 means "unknown" (padding, a history served without timestamps) and starts at zero, so
such a history is scored as plain SASRec would score it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lmrec.models.registry import register
from lmrec.models.sasrec import SASRecNet
from lmrec.models.sequence import SEQUENCE_TINY, SequentialConfig, SequentialRecommender, register_net

BUCKETS = 24  # 1 + log2 minutes up to ~2^22 minutes (8 years)


def interval_buckets(gaps: Tensor, known: Tensor, buckets: int = BUCKETS) -> Tensor:
    """Long tensor of buckets for gaps in seconds (>= 0); 0 where `known` is False."""
    minutes = gaps.clamp(min=0).double() / 60.0
    bucket = 1 + torch.floor(torch.log2(1.0 + minutes)).long().clamp(max=buckets - 2)
    return torch.where(known, bucket, torch.zeros_like(bucket))


class TimeIntervalSASRecNet(SASRecNet):
    """SASRec with a per-head attention bias over pairwise interval buckets and a gap embedding on inputs."""

    def __init__(self, dim: int, layers: int, heads: int, max_len: int, dropout: float) -> None:
        super().__init__(dim, layers, heads, max_len, dropout)
        self.heads = heads
        self.interval_bias = nn.Embedding(BUCKETS, heads)
        nn.init.zeros_(self.interval_bias.weight)
        self.gap = nn.Embedding(BUCKETS, dim)
        nn.init.normal_(self.gap.weight, std=0.02)
        with torch.no_grad():
            self.gap.weight[0].zero_()

    def forward(self, seq: Tensor, table: Tensor, last_only: bool = False, times: Tensor | None = None) -> Tensor:
        """As SASRecNet, with `times [B, L]` the inputs' timestamps (0 = unknown)."""
        if times is None:
            times = torch.zeros_like(seq)
        known = (times > 0) & (seq >= 0)  # [B, L]
        previous_known = torch.cat([torch.zeros_like(known[:, :1]), known[:, :-1]], dim=1)
        previous = torch.cat([times[:, :1], times[:, :-1]], dim=1)
        gap = interval_buckets(times - previous, known & previous_known)  # [B, L]
        x = self.inputs(seq, table, self.gap(gap))
        pair_known = known[:, :, None] & known[:, None, :]  # [B, L, L]
        pairs = interval_buckets((times[:, :, None] - times[:, None, :]).abs(), pair_known)
        bias = self.interval_bias(pairs).permute(0, 3, 1, 2).to(x.dtype)  # [B, H, L, L]
        mask = bias.masked_fill(~self.allowed(seq), float("-inf"))
        return self.encode(x, mask, last_only)


@register_net("tisasrec", reads_time=True)
def build_tisasrec(config: SequentialConfig) -> nn.Module:
    return TimeIntervalSASRecNet(config.dim, config.layers, config.heads, config.max_len, config.dropout)


register("tisasrec", defaults={"net": "tisasrec"}, tiny=SEQUENCE_TINY,
         summary="SASRec with time intervals in attention and gaps on inputs (TiSASRec-style)")(SequentialRecommender)
