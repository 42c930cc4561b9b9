"""Sequence nets registered by name behind one forward signature (nanoGPT style: pure tensor math, no data
loading, no training loop, no I/O):

    net(seq [B, L], table [N, D], last_only=False) -> hidden [B, L, D]   ([B, 1, D] with last_only)
    net(seq, table, last_only, times=[B, L])                              a net registered with reads_time=True

Sequences enter right-aligned ("left-padded"): PAD = -1 on the left, the most recent item in the last column, so
position L-1 is always "now" and `hidden[:, -1]` is the user state. A net may compute less with `last_only`
(SASRec's last block does); every net must return at least the last position then.

    @register_net("lstm")
    def build_lstm(config: SequentialConfig) -> nn.Module: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor, nn

from lmrec.errors import ConfigError

if TYPE_CHECKING:
    from lmrec.models.sequence.config import SequentialConfig

NetFactory = Callable[["SequentialConfig"], nn.Module]
_NETS: dict[str, NetFactory] = {}
_READS_TIME: set[str] = set()


class SequenceNet(Protocol):
    def __call__(self, seq: Tensor, table: Tensor, last_only: bool = False) -> Tensor: ...


def register_net(name: str, *, reads_time: bool = False) -> Callable[[NetFactory], NetFactory]:
    """Register a net factory; `reads_time` declares that its forward takes `times` (the inputs' timestamps,
    right-aligned, 0 on padding and where unknown)."""

    def decorate(factory: NetFactory) -> NetFactory:
        if name in _NETS and _NETS[name] is not factory:
            raise ValueError(f"sequence net {name!r} registered twice")
        _NETS[name] = factory
        if reads_time:
            _READS_TIME.add(name)
        return factory

    return decorate


def net_reads_time(name: str) -> bool:
    """Whether the registered net `name` takes the inputs' timestamps."""
    from lmrec.models.registry import model_names

    model_names()  # importing the built-in models registers their nets
    return name in _READS_TIME


def build_net(config: SequentialConfig) -> nn.Module:
    """The net `config.net` names, built from the config."""
    from lmrec.models.registry import model_names

    model_names()  # importing the built-in models registers their nets
    try:
        factory = _NETS[config.net]
    except KeyError:
        raise ConfigError(f"model.net={config.net!r} is not a registered sequence net; available: "
                          f"{', '.join(sorted(_NETS))}") from None
    return factory(config)


def net_names() -> list[str]:
    return sorted(_NETS)


class Dropout(nn.Module):
    """Inverted dropout: the maths of nn.Dropout, faster on CPU, where drawing the mask dominated a SASRec
    training step (`bernoulli_` 36 % of its time in a profile on this machine; a float draw per element, 20 %).
    On CPU the mask comes from 16-bit integer draws, three per 64-bit random word (keep rate quantised to
    1/65536); elsewhere from a uniform float draw."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return x * (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))
        dropped = round(self.p * 65536)
        return x * keep_mask(x.shape, dropped) * (65536.0 / (65536 - dropped))


def keep_mask(shape: torch.Size, dropped: int) -> Tensor:
    """bool [shape]: True with probability 1 - dropped / 65536. A CPU int64 draw is uniform on [0, 2^63), so the
    top 16 bits of each word are biased (its sign bit is 0); the other three 16-bit lanes are uniform."""
    n = shape.numel()
    words = torch.empty(-(-n // 3), dtype=torch.int64).random_()
    lanes = words.view(torch.int16).view(-1, 4)[:, :3]  # little-endian: lane 3 holds the biased top bits
    return (lanes.reshape(-1)[:n] >= dropped - 32768).view(shape)


def embed(seq: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
    """(item vectors [B, L, D] with PAD positions zeroed, real-position mask [B, L, 1])."""
    real = (seq >= 0).unsqueeze(-1)
    return table[seq.clamp(min=0)] * real, real
