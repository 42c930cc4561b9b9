"""Outlier channels of a BERT-style encoder, tamed before per-tensor int8 quantisation; exact in float.

ORT's dynamic int8 quantises each matmul input with one scale per tensor. In BERT-family models a few channels
of the FFN's intermediate activation and of the LayerNorm outputs are far larger than the rest, mostly on [CLS]
(MiniLM layer 0's FFN: one channel reaches 24.6, the next 5.5, the median channel 1.2), so one value sets the
step size for every token of the batch. all-MiniLM-L6-v2 on 2,000 Amazon Office
titles: plain dynamic int8 gave cosine 0.9934 mean / 0.9835 min to float32; after `tame_outliers`, 0.9986 /
0.9963 (as lmrec.text.onnx runs it). Two rewrites, both exact in float (only rounding changes):

- FFN intermediate channels above SPLIT_RATIO x the bulk move to a small float side branch (`SplitOutput`, the
  static form of LLM.int8()'s decomposition); the side MatMuls (named `outlier_*`) are left unquantised.
- Outlier input channels of Q/K/V and of the FFN's first matmul are divided down to the bulk by one `Mul`, the
  factor multiplied into the weights (SmoothQuant with scales only on the outliers). The LayerNorm output also
  feeds the residual, so the factor cannot be folded into the LayerNorm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

BULK_RANK = 8  # the "bulk" scale: the 8th largest channel |max|; larger channels count as outliers
SPLIT_RATIO = 2.0  # FFN intermediate channels this many times above the bulk go to the float side branch
SIDE_PREFIX = "outlier_"  # names of the side-branch modules, hence of their ONNX nodes
CALIBRATION_TEXTS = (  # any texts do: the outlier channels come from the weights and [CLS], not the topic
    "a sample item title to trace the graph with", "short",
    "Wireless optical mouse with USB receiver, black", "HP 61 ink cartridge, tri-color",
    "Post-it notes, 3 x 3 in, 12 pads per pack", "Ergonomic office chair with lumbar support and armrests",
    "The Shawshank Redemption (1994)", "A novel about a family across three generations, paperback edition",
    "stainless steel kitchen kettle 1.7 l", "Kids' running shoes, size 3, blue/green, breathable mesh upper",
)
_NEEDED = ("attention.self.query", "attention.self.key", "attention.self.value", "intermediate.dense",
           "intermediate.intermediate_act_fn", "output.dense", "output.dropout", "output.LayerNorm")


def tame_outliers(transformer: nn.Module, calibrate: Callable[[], Any]) -> dict[str, list[int]]:
    """Rewrite `transformer` in place (see the module docstring); `calibrate()` runs it on sample inputs once.

    Returns {"layer.<i>": FFN channels moved to the side branch}. A model without BERT's layer layout is left
    unchanged (and {} returned): it is then quantised as it is.
    """
    layers = bert_layers(transformer)
    if layers is None:
        log.info("int8 export: %s is not BERT-shaped; quantising without outlier handling",
                 type(transformer).__name__)
        return {}
    absmax: dict[tuple[str, int], torch.Tensor] = {}

    def record(key: tuple[str, int]) -> Callable[[nn.Module, tuple], None]:
        def hook(_module: nn.Module, args: tuple) -> None:
            value = args[0].detach().abs().flatten(0, -2).amax(dim=0)  # [channels]
            absmax[key] = torch.maximum(absmax[key], value) if key in absmax else value
        return hook

    hooks = []
    for i, layer in enumerate(layers):
        hooks += [layer.attention.self.register_forward_pre_hook(record(("qkv", i))),
                  layer.intermediate.register_forward_pre_hook(record(("ffn_in", i))),
                  layer.output.register_forward_pre_hook(record(("ffn_mid", i)))]
    try:
        with torch.no_grad():  # not inference_mode: the scales end up in the traced graph
            calibrate()
    finally:
        for hook in hooks:
            hook.remove()
    split: dict[str, list[int]] = {}
    with torch.no_grad():
        for i, layer in enumerate(layers):
            mid = absmax["ffn_mid", i]
            channels = torch.nonzero(mid > SPLIT_RATIO * bulk(mid)).flatten()
            if len(channels):
                layer.output = SplitOutput(layer, channels)
                split[f"layer.{i}"] = channels.tolist()
            attention = layer.attention.self
            smooth(attention, [attention.query, attention.key, attention.value], absmax["qkv", i])
            smooth(layer.intermediate, [layer.intermediate.dense], absmax["ffn_in", i])
    return split


def bert_layers(transformer: nn.Module) -> list[nn.Module] | None:
    """The encoder layers when each has BERT's attribute layout (BERT, MiniLM, RoBERTa, ...), else None."""
    layers = list(getattr(getattr(transformer, "encoder", None), "layer", None) or [])

    def has(obj: Any, dotted: str) -> bool:
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
        return obj is not None

    return layers if layers and all(has(layer, n) for layer in layers for n in _NEEDED) else None


def bulk(absmax: torch.Tensor) -> torch.Tensor:
    """The BULK_RANK-th largest channel |max|: the scale most channels stay under."""
    return absmax.sort(descending=True).values[min(BULK_RANK, len(absmax)) - 1].clamp(min=1e-6)


def smooth(owner: nn.Module, linears: list[nn.Linear], absmax: torch.Tensor) -> None:
    """Divide `owner`'s input channels above the bulk down to it; multiply the factor into `linears`."""
    scale = (absmax / bulk(absmax)).clamp(min=1.0)
    if not bool((scale > 1).any()):
        return
    for linear in linears:
        linear.weight.mul_(scale)  # weight [out, in]: column j now sees input j / scale[j]
    owner.register_forward_pre_hook(Rescale(1.0 / scale))


class Rescale:
    """Forward pre-hook multiplying a module's first input by a per-channel vector (one Mul in the graph)."""

    def __init__(self, factor: torch.Tensor) -> None:
        self.factor = factor

    def __call__(self, _module: nn.Module, args: tuple) -> tuple:
        return (args[0] * self.factor, *args[1:])


class SplitOutput(nn.Module):
    """BertOutput with a few FFN intermediate channels computed beside the (quantised) matmuls, in float.

    Those channels' rows of `intermediate.dense` (and bias) and columns of `output.dense` are zeroed, so the
    int8 activation between them holds 0 there (act(0) = 0); `outlier_in -> act -> outlier_out` adds them back.
    The widths stay as they were: ORT's int8 matmul measured 25 % slower with 1535 output columns than 1536.
    """

    def __init__(self, layer: nn.Module, channels: torch.Tensor) -> None:
        super().__init__()
        first, output = layer.intermediate.dense, layer.output
        self.outlier_in = _linear(first.weight[channels], None if first.bias is None else first.bias[channels])
        self.outlier_out = _linear(output.dense.weight[:, channels], None)
        self.act = layer.intermediate.intermediate_act_fn
        with torch.no_grad():
            first.weight[channels] = 0.0
            if first.bias is not None:
                first.bias[channels] = 0.0
            output.dense.weight[:, channels] = 0.0
        self.output = output

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        side = self.outlier_out(self.act(self.outlier_in(input_tensor)))
        hidden = self.output.dropout(self.output.dense(hidden_states) + side)
        return self.output.LayerNorm(hidden + input_tensor)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """An nn.Linear holding copies of `weight` [out, in] and `bias`."""
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        out.weight.copy_(weight)
        if bias is not None:
            out.bias.copy_(bias)
    return out
