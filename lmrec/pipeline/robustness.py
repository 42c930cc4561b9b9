"""How a run holds up: accuracy under perturbed item vectors, and data poisoning (shilling) with and without the
detection defence. Poisoning retrains the run's model, same config and split, on the attacked training data.

    rows = perturbation_report(run, eps=(0, 0.1, 0.2), kinds=("random", "adversarial"))
    rows = shilling_report(run, attacks=("random", "bandwagon"), share=0.01, n_targets=5, defend=True)

Every row names what it measured; honest users are the run's real test users (fake profiles only ever enter
training), exposure is the targets' HR@10 over real users who have not seen them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lmrec.data.types import Interactions
from lmrec.errors import ConfigError
from lmrec.eval.detection import ShillingDetector
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.eval.perturbation import perturbation_curve
from lmrec.eval.shilling import ShillingAttack, choose_targets, inject, target_exposure, target_rank
from lmrec.models.base import BaseRecommender
from lmrec.models.registry import get_model
from lmrec.pipeline.load import LoadedRun
from lmrec.train.progress import Reporter

K = 10


def perturbation_report(run: LoadedRun, *, eps: Sequence[float], kinds: Sequence[str] = ("random",),
                        parts: tuple[str, ...] = ("items", "text"), steps: int = 1, seed: int = 0,
                        progress: Reporter | None = None) -> list[dict[str, Any]]:
    """NDCG@10 on the run's test holdout for each perturbation kind and eps (eps 0 once per kind)."""
    rows: list[dict[str, Any]] = []
    for done, kind in enumerate(kinds):
        rows += perturbation_curve(run.model, run.split.test, train=run.split.train, n_items=len(run.items),
                                   eps=eps, kind=kind, parts=parts, steps=steps, seed=seed, k=K,  # type: ignore[arg-type]
                                   options=_options(run))
        if progress is not None:
            progress("perturb", done + 1, len(kinds))
    return rows


def shilling_report(run: LoadedRun, *, attacks: Sequence[str], share: float = 0.01, n_targets: int = 5,
                    defend: bool = True, seed: int = 0, progress: Reporter | None = None) -> list[dict[str, Any]]:
    """One row for the run's own model (no attack), then per attack the retrained model's honest NDCG@10 and target
    exposure; with `defend`, the same after removing the profiles a `ShillingDetector` flags (trained on simulated
    attacks with seeds of its own), with its precision and recall. The defence is also run on the clean data, to
    show what it costs honest users."""
    if run.config.pretrained:
        raise ConfigError("the shilling report retrains the model; a run fine-tuned from a checkpoint is not "
                          "supported (fit the model from scratch)")
    train, targets = run.split.train, choose_targets(run.split.train, n_targets, seed=seed)
    plans: list[tuple[str, Interactions, np.ndarray]] = [("none", train, np.zeros(0, np.int64))]
    plans += [(kind, *inject(train, ShillingAttack(kind, targets, share), seed=seed)) for kind in attacks]
    steps, total = 0, len(plans) * (2 if defend else 1) - 1  # the run's own model is not refitted

    def refit(data: Interactions) -> BaseRecommender:
        nonlocal steps
        model = _refit(run, data)
        steps += 1
        if progress is not None:
            progress("shilling", steps, total)
        return model

    rows = []
    for kind, data, fakes in plans:
        model = run.model if kind == "none" else refit(data)
        rows.append(_row(run, model, kind, "none", targets, n_fake=len(fakes)))
        if defend:
            found = ShillingDetector(seed=seed + 1, share=share, n_targets=n_targets).fit(data).detect(data)
            kept = data.select(np.flatnonzero(~np.isin(data.user, found.flagged)))
            rows.append(_row(run, refit(kept), kind, "detect", targets, n_fake=len(fakes),
                             detection=found.precision_recall(fakes)))
    return rows


def removed_exposure(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per attack, the share of the exposure it bought that the defence removed: (attacked - defended) /
    (attacked - clean); NaN when the attack bought nothing."""
    clean = next(r["exposure"] for r in rows if r["attack"] == "none" and r["defence"] == "none")
    out = {}
    for attacked in (r for r in rows if r["attack"] != "none" and r["defence"] == "none"):
        defended = next((r for r in rows if r["attack"] == attacked["attack"] and r["defence"] != "none"), None)
        gain = attacked["exposure"] - clean
        if defended is not None:
            out[attacked["attack"]] = (attacked["exposure"] - defended["exposure"]) / gain if gain > 0 else np.nan
    return out


def _refit(run: LoadedRun, train: Interactions) -> BaseRecommender:
    model = get_model(run.config.model.name).create(run.config.model.params).to(run.model.device)
    return model.fit(train, valid=run.split.valid, catalog=run.catalog)


def _row(run: LoadedRun, model: BaseRecommender, attack: str, defence: str, targets: tuple[int, ...], *,
         n_fake: int, detection: dict[str, Any] | None = None) -> dict[str, Any]:
    result = evaluate(model, run.split.test, n_items=len(run.items), options=_options(run))
    exposure = target_exposure(result.ranking, run.split.test, targets, k=K)
    return {"attack": attack, "defence": defence, "fake_profiles": n_fake, f"ndcg@{K}": result.metrics[f"ndcg@{K}"],
            "ci": list(result.ci[f"ndcg@{K}"]), "exposure": exposure.pop("mean"), "exposure_per_target": exposure,
            "target_rank": target_rank(model, run.split.test, targets),
            "targets": list(targets), **({"detection": detection} if detection is not None else {})}


def _options(run: LoadedRun) -> EvalOptions:
    return EvalOptions(ks=(K,), n_bootstrap=run.config.eval.n_bootstrap, seed=run.config.seed)
