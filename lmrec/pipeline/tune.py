"""Hyper-parameter search with Optuna: TPE proposals, median pruning on the validation NDCG@10 each epoch reports,
the study in OUT/study.sqlite3 (a second call with the same OUT resumes it), the best trial's whole config written
as OUT/best.yaml (`lmrec fit --config OUT/best.yaml` trains it), every trial in OUT/trials.csv and the search as
OUT/search.png. Trial 0 is the config's own values when the space holds them, so "better than the default" is
measured. Only the validation holdout is read: the test split stays for the comparison afterwards.

A search space maps model config keys (dotted below `model`) to one of
    {"log": [low, high]}  {"float": [low, high]}  {"int": [low, high]}  {"choice": [a, b, ...]}
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmrec.config import merge, write_yaml
from lmrec.errors import ConfigError
from lmrec.pipeline.config import build_config, config_to_dict
from lmrec.train.trainer import EpochRecord

SEQUENCE_SPACE: dict[str, dict[str, list]] = {
    "dim": {"choice": [32, 64, 128]},
    "layers": {"int": [1, 3]},
    "dropout": {"float": [0.1, 0.5]},
    "train.lr": {"log": [3e-4, 1e-2]},
    "train.weight_decay": {"log": [1e-5, 0.3]},
}
DEFAULT_SPACES: dict[str, dict[str, dict[str, list]]] = {
    name: SEQUENCE_SPACE for name in ("sasrec", "sasrec-text", "sasrec-fused", "gru4rec", "gru4rec-fused",
                                      "lstm4rec", "tisasrec")
}
DEFAULT_SPACES["ease"] = {"reg_weight": {"log": [10.0, 2000.0]}}
DEFAULT_SPACES["itemknn"] = {"k": {"int": [10, 400]}, "shrink": {"float": [0.0, 100.0]}}
KINDS = ("log", "float", "int", "choice")


@dataclass(frozen=True)
class TuneResult:
    best_value: float
    best_params: dict[str, Any]
    trials: int
    pruned: int
    best_config: Path


def check_space(space: dict[str, Any]) -> dict[str, dict[str, list]]:
    """The space, or ConfigError naming the first key whose spec is not one of the four kinds."""
    if not isinstance(space, dict) or not space:
        raise ConfigError("search space: expected a mapping of model keys to {log|float|int|choice: [...]}")
    for key, spec in space.items():
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise ConfigError(f"search space {key!r}: expected one of {list(KINDS)} with its values, got {spec!r}")
        kind, values = next(iter(spec.items()))
        if not isinstance(values, list) or not values or (kind != "choice" and len(values) != 2):
            raise ConfigError(f"search space {key!r}: {kind} needs [low, high]" if kind != "choice"
                              else f"search space {key!r}: choice needs a non-empty list")
        if kind != "choice" and not values[0] < values[1]:
            raise ConfigError(f"search space {key!r}: low must be below high, got {values}")
        if kind == "log" and values[0] <= 0:
            raise ConfigError(f"search space {key!r}: log needs low > 0, got {values}")
    return space


def default_space(model: str) -> dict[str, dict[str, list]]:
    if model not in DEFAULT_SPACES:
        raise ConfigError(f"no default search space for {model!r}; give one with --space FILE "
                          f"(defaults exist for {', '.join(sorted(DEFAULT_SPACES))})")
    return DEFAULT_SPACES[model]


def suggest(trial: Any, space: dict[str, dict[str, list]]) -> dict[str, Any]:
    """The trial's values, keyed as in the space."""
    out: dict[str, Any] = {}
    for key, spec in space.items():
        kind, values = next(iter(spec.items()))
        if kind == "log":
            out[key] = trial.suggest_float(key, float(values[0]), float(values[1]), log=True)
        elif kind == "float":
            out[key] = trial.suggest_float(key, float(values[0]), float(values[1]))
        elif kind == "int":
            out[key] = trial.suggest_int(key, int(values[0]), int(values[1]))
        else:
            out[key] = trial.suggest_categorical(key, list(values))
    return out


def starting_point(model: dict[str, Any], space: dict[str, dict[str, list]]) -> dict[str, Any] | None:
    """The config's own values for the space's keys, or None when one is missing or outside its range."""
    point: dict[str, Any] = {}
    for key, spec in space.items():
        value: Any = model
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        kind, values = next(iter(spec.items()))
        inside = value in values if kind == "choice" else (isinstance(value, int | float)
                                                           and values[0] <= value <= values[1])
        if not inside:
            return None
        point[key] = value
    return point


def as_tree(params: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr": 1e-3, "dim": 64} -> {"model": {"train": {"lr": 1e-3}, "dim": 64}}."""
    tree: dict[str, Any] = {}
    for key, value in params.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return {"model": tree}


def tune(base: dict[str, Any], out: str | Path, *, trials: int, space: dict[str, dict[str, list]] | None = None,
         seed: int = 0, timeout: float | None = None, device: str = "auto", prune_after: int = 5,
         log: Callable[[str], None] = lambda _: None) -> TuneResult:
    """Run up to `trials` more trials of the search (Optuna study in OUT, resumed when it exists) for the run
    config tree `base` (data, split, model name and fixed settings) and write OUT/best.yaml, trials.csv and
    search.png. From epoch `prune_after` on, a trial stops when its validation NDCG@10 falls below the median
    of the finished trials' at the same epoch (once 3 trials have finished)."""
    import optuna

    from lmrec.data.config import load_data
    from lmrec.pipeline.fit import fit
    from lmrec.train.validation import validation_ndcg

    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    start_config = build_config(base, {})
    space = check_space(space if space is not None else default_space(start_config.model.name))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_data(start_config.data, start_config.prepare)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="lmrec", direction="maximize", storage=f"sqlite:///{out / 'study.sqlite3'}", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed), pruner=optuna.pruners.MedianPruner(n_startup_trials=3,
                                                                                          n_warmup_steps=prune_after))
    study.set_user_attr("model", start_config.model.name)
    if not study.trials:  # the configured values are trial 0, so "better than the default" is measured, not assumed
        default = starting_point(config_to_dict(start_config)["model"], space)
        if default:
            study.enqueue_trial(default, user_attrs={"default": True})

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        config = build_config(merge(base, as_tree(params)), {})
        started = time.perf_counter()

        def report(record: EpochRecord) -> None:
            if record.valid is not None:
                trial.report(record.valid, record.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"epoch {record.epoch}: validation NDCG@10 {record.valid:.4f}")

        try:
            fitted = fit(config, dataset=dataset, device=device, on_epoch=report)
        except optuna.TrialPruned as pruned:
            log(f"trial {trial.number}: pruned at {pruned} {params}")
            raise
        value = validation_ndcg(fitted.model, fitted.split.valid, k=10)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        log(f"trial {trial.number}: validation NDCG@10 {value:.4f} {params}")
        return value

    study.optimize(objective, n_trials=trials, timeout=timeout, catch=())
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise ConfigError("no trial finished (all were pruned or failed); widen the space or run more trials")
    best = study.best_trial
    best_config = build_config(merge(base, as_tree(best.params)), {})
    write_yaml(out / "best.yaml", config_to_dict(best_config))
    write_trials(study, out / "trials.csv")
    plot_search(study, out / "search.png")
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return TuneResult(float(best.value), dict(best.params), len(study.trials), pruned, out / "best.yaml")


def write_trials(study: Any, path: Path) -> None:
    import pandas as pd

    from lmrec.io import atomic_write_text

    rows = [{"trial": t.number, "state": t.state.name, "value": t.value, "default": bool(t.user_attrs.get("default")),
             "seconds": t.user_attrs.get("seconds"), **t.params} for t in study.trials]
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))


def plot_search(study: Any, path: Path) -> None:
    """Validation NDCG@10 of each finished trial and the best so far; pruned trials at the last value they
    reported (an early epoch's, not comparable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def points(state: str) -> list[tuple[int, float]]:
        return [(t.number, t.value) for t in study.trials
                if t.state.name == state and t.value is not None and math.isfinite(t.value)]

    figure, axis = plt.subplots(figsize=(6, 3.5))
    done, pruned = points("COMPLETE"), points("PRUNED")
    if done:
        numbers, values = zip(*done, strict=True)
        best = [max(values[: i + 1]) for i in range(len(values))]
        axis.plot(numbers, values, "o", label="finished trial")
        axis.step(numbers, best, where="post", label="best so far")
    if pruned:
        numbers, values = zip(*pruned, strict=True)
        axis.plot(numbers, values, "x", color="grey", label="pruned (its last epoch)")
    if done or pruned:
        axis.legend()
    axis.set_xlabel("trial")
    axis.set_ylabel("validation NDCG@10")
    axis.set_title(f"lmrec tune {study.user_attrs.get('model', '')}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
