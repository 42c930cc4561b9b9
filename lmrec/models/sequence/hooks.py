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



class Distillation(StepHook):
    """Knowledge distillation (Hinton et al. 2015) from a trained teacher sequence module over the same items:
    the student's next-item loss plus `weight` times T^2 x KL(teacher || student) of their softmax distributions
    over the whole catalogue at temperature T, at every position with a target. The teacher's full ranking (which
    near-misses are near) is a richer target than one next item; its LM-backed item vectors teach an ID-only
    student that needs no language model at serve time. The student's forward runs again for this term (the loss
    function's own pass is not reachable from a hook): a small student's cost, beside the teacher's pass."""

    def __init__(self, teacher: SequenceModule, weight: float = 1.0, temperature: float = 2.0) -> None:
        if weight < 0 or temperature <= 0:
            raise ValueError(f"distillation needs weight >= 0 and temperature > 0; got {weight}, {temperature}")
        self.teacher, self.weight, self.temperature = teacher.eval(), float(weight), float(temperature)

    def loss(self, step: Step, compute: Callable[[], Tensor]) -> Tensor:
        base = compute()
        module, batch = step.module, step.batch
        assert isinstance(module, SequenceModule) and isinstance(batch, SequenceBatch)
        keep = batch.targets >= 0
        with torch.no_grad():
            hidden, table = self.teacher(batch.inputs)
            teacher = (hidden[keep] @ table.T).float() / self.temperature  # [M, N]
        hidden, table = module(batch.inputs)
        student = (hidden[keep] @ table.T).float() / self.temperature
        kl = F.kl_div(F.log_softmax(student, dim=-1), F.log_softmax(teacher, dim=-1), log_target=True,
                      reduction="batchmean")
        return base + self.weight * self.temperature**2 * kl
