"""`RunConfig`: everything a run is made of (data, preparation, split, model, evaluation, seed), strictly built
from a nested dict (YAML + `--set` overrides) and written in full beside every model."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from lmrec.config import from_dict, merge, to_dict
from lmrec.data.config import DataConfig
from lmrec.data.prepare import PrepareConfig
from lmrec.data.split import SplitConfig
from lmrec.errors import ConfigError
from lmrec.models.registry import ModelSpec, get_model


@dataclass(frozen=True)
class EvalConfig:
    ks: tuple[int, ...] = (10, 20)
    exclude_seen: bool = True
    n_bootstrap: int = 1000


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelSpec
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    split: SplitConfig = SplitConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = 0

    @property
    def pretrained(self) -> str | None:
        """The `lmrec pretrain` checkpoint the model starts from, if any (the pipeline's transfer step)."""
        return self.model.params.get("pretrained")


def resolve_config(values: dict[str, Any]) -> RunConfig:
    """Strictly build a RunConfig from a nested dict (YAML + --set overrides)."""
    values = dict(values)
    allowed = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"unknown config section(s) {unknown}; valid: {sorted(allowed)}")
    model_values = dict(values.get("model") or {})
    name = model_values.pop("name", None)
    if not name:
        raise ConfigError("no model given (--model NAME or model.name in the config)")
    entry = get_model(str(name))
    seed = int(values.get("seed", 0))
    if "seed" in entry.config_keys and "seed" not in model_values:
        model_values["seed"] = seed
    if "train" in entry.config_keys and "seed" not in (model_values.get("train") or {}):
        model_values["train"] = {**(model_values.get("train") or {}), "seed": seed}
    params = to_dict(entry.config(model_values))
    data = from_dict(DataConfig, values.get("data"), where="data.")
    data.check()
    return RunConfig(
        data=data,
        model=ModelSpec(str(name), params),
        prepare=from_dict(PrepareConfig, values.get("prepare"), where="prepare."),
        split=from_dict(SplitConfig, values.get("split"), where="split."),
        eval=from_dict(EvalConfig, values.get("eval"), where="eval."),
        seed=seed,
    )


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return {
        "data": to_dict(config.data),
        "prepare": to_dict(config.prepare),
        "split": to_dict(config.split),
        "model": {"name": config.model.name, **config.model.params},
        "eval": {**to_dict(config.eval), "ks": list(config.eval.ks)},
        "seed": config.seed,
    }


def build_config(base: dict[str, Any] | None, overrides: dict[str, Any]) -> RunConfig:
    return resolve_config(merge(base or {}, overrides))


def model_overrides(name: str, extra: dict[str, Any], others: tuple[str, ...] = (), *,
                    label: str | None = None) -> dict[str, Any]:
    """The config tree for model `name` from shared `--set` overrides, as `lmrec benchmark` and `cold-start`
    read them: `model.x=v` reaches the models whose config has `x`, `NAME.x=v` only model NAME (a benchmark
    variant `LABEL=MODEL` takes `LABEL.x=v`, not its model's); other sections (`split.*`, `data.*`, ...) apply to
    all."""
    label = label or name
    keys = get_model(name).config_keys
    shared = {key: v for key, v in (extra.get("model") or {}).items() if key in keys}
    tree = {key: v for key, v in extra.items() if key not in ("model", name, label) and key not in others}
    return merge(tree, {"model": {"name": name, **shared, **(extra.get(label) or {})}})
