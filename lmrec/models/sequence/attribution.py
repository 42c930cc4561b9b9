"""Which history items drove a sequence model's score: integrated gradients (Sundararajan et al., 2017) through
captum, over one gate per history position that scales that item's input vector from 0 (absent) to 1.

Each gate's attribution is its share of score(item | history) - score(item | every input vector zeroed): the
attributions of a history sum to that difference (IG's completeness). The gates act on the net's inputs only; the
item the score is for keeps its vector, and the demographic prior (a constant per user) drops out.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lmrec.errors import ConfigError


def gated_scores(module, seq: Tensor, gates: Tensor, items: Tensor, times: Tensor | None = None) -> Tensor:
    """[S, M] the net's scores of `items [M]` for one right-aligned history `seq [1, L]` whose input vectors are
    scaled by `gates [S, L]`: the gated vectors are appended to the item table as S * L extra rows and the
    history re-indexed onto them, so the net runs unchanged."""
    table = module.item_table()[:, : module.dim]  # [N, D]
    steps, length = gates.shape
    real = seq[0] >= 0
    gated = gates.to(table.dtype).unsqueeze(-1) * table[seq[0].clamp(min=0)].unsqueeze(0)  # [S, L, D]
    extended = torch.cat([table, gated.reshape(steps * length, -1)])
    rows = table.shape[0] + torch.arange(steps * length, device=seq.device).view(steps, length)
    seq_gated = torch.where(real.unsqueeze(0), rows, torch.full_like(rows, -1))
    if module.reads_time:
        hidden = module.net(seq_gated, extended, last_only=True,
                            times=(torch.zeros_like(seq) if times is None else times).expand(steps, -1))
    else:
        hidden = module.net(seq_gated, extended, last_only=True)
    return hidden[:, -1] @ table[items].T


def integrated_gradients(module, seq: Tensor, items: Tensor, times: Tensor | None = None, steps: int = 16
                         ) -> np.ndarray:
    """[M, L] attribution of each position of `seq [1, L]` (0 on padding) to the score of each of `items [M]`."""
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        raise ConfigError("attribution by integrated gradients needs captum: pip install 'lmrec[explain]' "
                          "(or use the leave-one-out method)") from None
    if module.tau is not None:
        raise ConfigError("integrated gradients cover the net's inputs; this model's text skip also reads the "
                          "history: use the leave-one-out method")
    was_training = module.training
    module.eval()
    try:
        with torch.enable_grad():
            method = IntegratedGradients(lambda g: gated_scores(module, seq, g, items, times))
            ones = torch.ones(len(items), seq.shape[1], device=seq.device)  # one row per item: one pass for all
            out = method.attribute(ones, baselines=torch.zeros_like(ones), target=list(range(len(items))),
                                   n_steps=steps, internal_batch_size=steps * len(items))
    finally:
        module.train(was_training)
    values = out.detach().float().cpu().numpy()  # [M, L]
    return np.where((seq[0] >= 0).cpu().numpy()[None, :], values, 0.0)
