"""Compression of a fitted sequence model, as `lmrec quantize --method` spells it:

    spec = CompressionSpec.parse("prune:0.5,int8")
    small, info = compress(model, spec)      # a new model; `model` is untouched

`prune:P` zeroes the fraction P of the net's weight matrices with the smallest magnitude, ranked globally (torch's
global L1 pruning, made permanent): the Linear layers and the GRU/LSTM input and recurrent matrices. Biases,
norms, the position embedding and the item table are left alone: the item table is what every user state is
scored against, and ID tables shrink better by a smaller `dim`. The zeros are ordinary float32 values: the file
keeps its size and the model keeps training (an update fills them in again).
`int8` / `onnx` set `model.inference`: the net scores through its int8 or ONNX Runtime form
(lmrec/models/sequence/inference.py), rebuilt from the float32 weights at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from lmrec.errors import ConfigError
from lmrec.models.sequence.inference import INFERENCE_FORMS, QUANTISED_LAYERS
from lmrec.models.sequence.module import SequenceModule
from lmrec.models.sequence.recommender import SequentialRecommender

PRUNE_SCOPE = "net weight matrices (Linear, GRU/LSTM); not biases, norms, position or item embeddings"
METHOD_HELP = "int8, onnx, prune:P (0 < P < 1), or a comma-separated mix such as prune:0.5,int8"


@dataclass(frozen=True)
class CompressionSpec:
    """What `--method` asks for: a pruning amount (None: no pruning) and a scoring form (None: keep the model's)."""

    prune: float | None = None
    inference: str | None = None

    @classmethod
    def parse(cls, text: str) -> CompressionSpec:
        """`int8`, `onnx`, `prune:0.5` or a comma-separated mix; ConfigError naming the bad part otherwise."""
        prune_amount: float | None = None
        form: str | None = None
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        if not parts:
            raise ConfigError(f"--method {text!r}: expected {METHOD_HELP}")
        for part in parts:
            name, _, value = part.partition(":")
            if name == "prune":
                if prune_amount is not None:
                    raise ConfigError(f"--method {text!r}: prune given twice")
                prune_amount = _amount(value, text)
            elif name in INFERENCE_FORMS and name != "float32" and not value:
                if form is not None:
                    raise ConfigError(f"--method {text!r}: choose one of int8 and onnx")
                form = name
            else:
                raise ConfigError(f"--method {text!r}: unknown part {part!r}; expected {METHOD_HELP}")
        return cls(prune_amount, form)

    def __str__(self) -> str:
        parts = ([f"prune:{self.prune:g}"] if self.prune is not None else []) + ([self.inference] if self.inference
                                                                                  else [])
        return ",".join(parts)


def _amount(value: str, text: str) -> float:
    try:
        amount = float(value)
    except ValueError:
        raise ConfigError(f"--method {text!r}: prune needs a fraction, e.g. prune:0.5") from None
    if not 0.0 < amount < 1.0:
        raise ConfigError(f"--method {text!r}: the prune fraction must be in (0, 1); got {value}")
    return amount


def compress(model: SequentialRecommender, spec: CompressionSpec) -> tuple[SequentialRecommender, dict[str, Any]]:
    """A copy of `model` compressed as `spec` asks (same name and learned state, `config.inference` set; pruned
    weights zeroed), and what was done: method, form, pruning (sparsity reached), parameter counts."""
    if not isinstance(model, SequentialRecommender):
        raise ConfigError(f"compression is for sequence models (sasrec, gru4rec, lstm4rec, ...); got a "
                          f"{type(model).__name__}")
    model._check_fitted()
    if spec.inference and (model._module().reads_time or model._module().users is not None):
        raise ConfigError(f"--method {spec}: the int8 and ONNX forms do not cover time-aware nets or user "
                          f"attributes ({model.name}); prune alone works")
    config = replace(model.config, inference=spec.inference or model.config.inference)
    out = type(model)(config, name=model.name)
    out.n_items_, out.fit_log_ = model.n_items_, model.fit_log_
    out._set_state(dict(model._state()))  # the path `load` takes: a new module with the same weights
    info: dict[str, Any] = {"method": str(spec), "inference": config.inference}
    if spec.prune is not None:
        info["pruning"] = prune_net(out._module().net, spec.prune)
    info.update(parameter_counts(out._module()))
    return out.to(model.device), info


def prunable(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """The (module, parameter name) pairs pruning ranks: every Linear weight and GRU/LSTM weight matrix."""
    pairs = []
    for module in net.modules():
        if isinstance(module, QUANTISED_LAYERS):
            pairs += [(module, name) for name, p in module.named_parameters(recurse=False)
                      if name.startswith("weight") and p.dim() == 2]
    return pairs


def prune_net(net: nn.Module, amount: float) -> dict[str, Any]:
    """Zero the `amount` fraction of smallest-magnitude weights over all of `prunable(net)` at once (global L1),
    then make it permanent (no masks or hooks left); returns the sparsity reached over those weights."""
    pairs = prunable(net)
    if not pairs:
        raise ConfigError(f"{type(net).__name__} has no Linear or recurrent weights to prune")
    prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=float(amount))
    for module, name in pairs:
        prune.remove(module, name)
    for module in net.modules():
        if isinstance(module, nn.RNNBase):  # its weights were replaced: re-pack them for cuDNN / oneDNN
            module.flatten_parameters()
    weights = [getattr(module, name) for module, name in pairs]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return {"amount": float(amount), "scope": PRUNE_SCOPE, "tensors": len(pairs), "weights": total,
            "sparsity": zeros / total}


def parameter_counts(module: nn.Module) -> dict[str, Any]:
    """Parameters, the nonzero ones, and the share that is zero, over every learned tensor of `module`."""
    with torch.no_grad():
        total = sum(p.numel() for p in module.parameters())
        nonzero = sum(int(torch.count_nonzero(p)) for p in module.parameters())
    return {"parameters": total, "nonzero_parameters": nonzero, "sparsity": 1.0 - nonzero / max(total, 1)}


def net_bytes(module: SequenceModule, form: str) -> int:
    """Bytes of the net's weights in its scoring form: 4 per float32 value; int8 quantises the weight matrices
    of its Linear and recurrent layers to 1 byte each (biases, norms and embeddings stay float32). The ONNX form
    holds the float32 weights (its graph size is reported separately by whoever exported it)."""
    quantised = {id(getattr(m, name)) for m, name in prunable(module.net)} if form == "int8" else set()
    return sum(p.numel() * (1 if id(p) in quantised else 4) for p in module.net.parameters())
