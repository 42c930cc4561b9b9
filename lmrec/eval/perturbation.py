"""Accuracy under perturbation of the item side: NDCG@k of a model whose item vectors (and LM text vectors) are
moved by eps times their own length, for a growing eps, in a random direction or in the worst direction for the
next-item loss on the training data (FGSM/PGD, a white-box attacker).

    rows = perturbation_curve(model, holdout, train=split.train, n_items=n, eps=(0, 0.1, 0.2), kind="adversarial")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lmrec.data.split import Holdout
from lmrec.data.types import Interactions
from lmrec.errors import ConfigError
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.models.capabilities import PerturbableItems, supports

PerturbationKind = Literal["random", "adversarial"]


def perturbation_curve(model: Any, holdout: Holdout, *, train: Interactions, n_items: int, eps: Sequence[float],
                       kind: PerturbationKind = "random", parts: tuple[str, ...] = ("items", "text"),
                       steps: int = 1, seed: int = 0, k: int = 10,
                       options: EvalOptions | None = None) -> list[dict[str, Any]]:
    """One row per eps: {"eps", "kind", "parts", f"ndcg@{k}", "ci": [lo, hi], f"hr@{k}"}; eps 0 is the clean
    model. The model's weights are not changed."""
    if not supports(model, PerturbableItems):
        raise ConfigError(f"a {type(model).__name__} cannot be perturbed; the robustness curve is for the sequence "
                          "models")
    if kind not in ("random", "adversarial"):
        raise ConfigError(f"perturbation kind {kind!r} is not one of ['random', 'adversarial']")
    options = options or EvalOptions(ks=(k,), n_bootstrap=500)
    rows = []
    for value in eps:
        if value < 0:
            raise ConfigError(f"eps must be >= 0, got {value}")
        if value == 0:
            result = evaluate(model, holdout, n_items=n_items, options=options)
        else:
            noise = (model.random_perturbation(value, parts, seed=seed) if kind == "random" else
                     model.adversarial_perturbation(train, value, parts, steps=steps, seed=seed))
            with model.perturbed(noise):
                result = evaluate(model, holdout, n_items=n_items, options=options)
        name = f"ndcg@{k}"
        rows.append({"eps": float(value), "kind": kind, "parts": list(parts), name: result.metrics[name],
                     "ci": list(result.ci[name]), f"hr@{k}": result.metrics[f"hr@{k}"]})
    return rows
