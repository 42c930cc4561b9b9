"""Adversarial training and the perturbations robustness is measured with (APR, He et al. 2018; Madry et al.'s
PGD): the item side of a sequence model (the item table, which is also every history's input, and the LM vectors
before the text adapter) moved within a ball of relative radius eps per vector.

    hook = AdversarialPerturbation(AdversarialConfig(eps=0.1))          # training: a StepHook
    worst = adversarial_perturbation(module, compute_loss, config)       # the worst case for a loss
    noise = random_perturbation(module, eps=0.1, parts=("items",))      # a random direction, same radius
    with module.perturbed(worst): ...
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from lmrec.models.sequence.module import Perturbation, SequenceModule
from lmrec.train.trainer import AdversarialConfig, Step, StepHook


class AdversarialPerturbation(StepHook):
    """APR-style adversarial training: the step's loss plus `weight` times the loss under the perturbation of the
    item side that hurts this batch most, within a ball of relative radius `eps` per vector (1 step: FGSM; more:
    PGD). The model learns item vectors whose neighbourhoods rank alike, so small shifts of an embedding or of an
    item's text vector move its rankings less. FGSM costs a second forward and backward pass per step."""

    def __init__(self, config: AdversarialConfig) -> None:
        self.config = config

    def loss(self, step: Step, compute: Callable[[], Tensor]) -> Tensor:
        module = step.module
        assert isinstance(module, SequenceModule)
        vectors = _vectors(module, self.config.parts)  # one pass of the tower a step: shapes and radii
        zero = zero_perturbation(vectors)
        with module.perturbed(Perturbation(**zero)):  # the clean loss, differentiable in the perturbation
            clean = compute()
        worst = adversarial_perturbation(module, compute, self.config, start=(zero, clean), vectors=vectors)
        with module.perturbed(worst):
            attacked = compute()
        return clean + self.config.weight * attacked


def zero_perturbation(vectors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Zero tensors that require grad, one per perturbed part ({"items": [N, D], "text": [N, T]})."""
    return {part: torch.zeros_like(v, dtype=torch.float32).requires_grad_(True) for part, v in vectors.items()}


def adversarial_perturbation(module: SequenceModule, compute: Callable[[], Tensor], config: AdversarialConfig, *,
                             start: tuple[dict[str, Tensor], Tensor] | None = None,
                             vectors: dict[str, Tensor] | None = None) -> Perturbation:
    """The perturbation (detached) that raises `compute()`'s loss most within relative radius `eps` per vector:
    `steps` moves of eps (FGSM) or 2.5 eps / steps (PGD, Madry et al.) along each vector's normalised gradient,
    projected back onto its ball. `start`: the zero perturbation and the loss already computed under it, so the
    first gradient costs no extra forward pass; `vectors`: the unperturbed vectors, when the caller holds them."""
    vectors = vectors if vectors is not None else _vectors(module, config.parts)
    delta, loss = start if start is not None else (zero_perturbation(vectors), None)
    if not delta:
        return Perturbation()
    radius = {part: config.eps * vectors[part].norm(dim=-1, keepdim=True).float() for part in delta}
    step_size = 1.0 if config.steps == 1 else 2.5 / config.steps
    for _ in range(config.steps):
        if loss is None:
            with module.perturbed(Perturbation(**delta)):
                loss = compute()
        grads = torch.autograd.grad(loss, list(delta.values()), retain_graph=True, allow_unused=True)
        loss = None
        moved = {}
        for (part, d), grad in zip(delta.items(), grads, strict=True):
            g = torch.zeros_like(d) if grad is None else grad
            d = d.detach() + step_size * radius[part] * F.normalize(g.float(), dim=-1)
            scale = torch.clamp(radius[part] / d.norm(dim=-1, keepdim=True).clamp_min(1e-12), max=1.0)
            moved[part] = (d * scale).requires_grad_(True)
        delta = moved
    return Perturbation(**{part: d.detach() for part, d in delta.items()})


def random_perturbation(module: SequenceModule, eps: float, parts: tuple[str, ...], *, seed: int = 0) -> Perturbation:
    """Each vector of `parts` moved by eps times its length in a uniformly random direction (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    noise = {}
    for part, vectors in _vectors(module, parts).items():
        direction = F.normalize(torch.randn(vectors.shape, generator=generator), dim=-1).to(vectors.device)
        noise[part] = direction * eps * vectors.norm(dim=-1, keepdim=True).float()
    return Perturbation(**noise)


def _vectors(module: SequenceModule, parts: tuple[str, ...]) -> dict[str, Tensor]:
    """The current vectors of each perturbable part named in `parts` (text only for text and fused towers)."""
    with torch.no_grad():
        out = {"items": module.base_table().detach()} if "items" in parts else {}
        if "text" in parts and module.text_part is not None:
            out["text"] = module.text_vectors
        return out
