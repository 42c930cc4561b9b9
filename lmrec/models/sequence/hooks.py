"""Training-step hooks of the sequence models (lmrec.train.trainer.StepHook): extra loss terms that need the
module's named parts."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from lmrec.models.sequence.module import SequenceModule
from lmrec.train.batches import SequenceBatch
from lmrec.train.trainer import Step, StepHook


class TextIdAlignment(StepHook):
    """Contrastive alignment of each item's two views: InfoNCE between the text part and the ID part of the
    batch's target items (L2-normalised, both directions), added to the next-item loss with `weight`. An item's ID
    vector is pulled towards what its text says and away from other items' texts, so rarely seen items borrow
    structure from their text."""

    def __init__(self, weight: float, temperature: float = 0.1, max_items: int = 1024) -> None:
        self.weight, self.temperature, self.max_items = float(weight), float(temperature), int(max_items)

    def loss(self, step: Step, compute: Callable[[], Tensor]) -> Tensor:
        base = compute()
        module, batch = step.module, step.batch
        assert isinstance(module, SequenceModule) and isinstance(batch, SequenceBatch)
        items = torch.unique(batch.targets[batch.targets >= 0])
        if len(items) > self.max_items:
            items = items[torch.randperm(len(items), device=items.device)[: self.max_items]]
        if len(items) < 2:
            return base
        text, ids = module.item_views(items)
        logits = F.normalize(text, dim=-1) @ F.normalize(ids, dim=-1).T / self.temperature  # [C, C]
        labels = torch.arange(len(items), device=logits.device)
        align = 0.5 * (F.cross_entropy(logits.float(), labels) + F.cross_entropy(logits.float().T, labels))
        return base + self.weight * align
