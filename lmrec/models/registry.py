"""One line registers a model: `@register("ease")` puts it in the CLI, the config loader and the contract tests.

A registration may also be a preset of a class already registered: the same class under another name with other
config defaults, declared beside the config (`register("sasrec-fused", defaults={"item_repr": "fused"})(...)`).
`tiny` names the config values that make the model train in seconds on the toy data; the contract suite enrols
every registered model through it. The registry records what each model can do (its declared capabilities).

    entry = get_model("sasrec-fused")
    model = entry.create({"dim": 32})          # the preset's defaults, then the given values
    entry.capabilities                         # ('DotProductScoring', 'GrowableCatalogue', ...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar

from lmrec.config import from_dict, merge
from lmrec.errors import ConfigError

T = TypeVar("T", bound=type)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ModelSpec:
    """A model as a run names it: the registered name and its own config values (validated by the entry)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    """A registered name: the class, the preset's config defaults and its tiny (contract-test) settings."""

    name: str
    cls: type
    defaults: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    tiny: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    summary: str = field(default="", compare=False)

    @property
    def config_class(self) -> type:
        return self.cls.Config

    @property
    def config_keys(self) -> frozenset[str]:
        return frozenset(f.name for f in fields(self.cls.Config))

    def config(self, values: Mapping[str, Any] | None = None, *, where: str = "model.") -> Any:
        """The model's frozen config: the class defaults, then this preset's, then `values` (strictly checked)."""
        return from_dict(self.cls.Config, merge(dict(self.defaults), dict(values or {})), where=where)

    def create(self, values: Mapping[str, Any] | None = None) -> Any:
        """An unfitted model of this name."""
        return self.cls(self.config(values), name=self.name)

    def create_tiny(self) -> Any:
        """An unfitted model with the settings that train in seconds on `lmrec.testing.toy` data."""
        return self.create(self.tiny)

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Names of the capability protocols this preset supports (its class declares them; its defaults may
        narrow them, as an ID-only sequence model cannot grow its catalogue). See lmrec.models.capabilities."""
        from lmrec.models.capabilities import CAPABILITIES, capabilities

        found = capabilities(self.create())
        return tuple(c.__name__ for c in CAPABILITIES if c in found)


_MODELS: dict[str, ModelEntry] = {}


def register(name: str, *, defaults: Mapping[str, Any] | None = None, tiny: Mapping[str, Any] | None = None,
             summary: str = "") -> Callable[[T], T]:
    """Register `cls` under `name`; a class registered several times (presets) keeps its first name as
    `cls.name`, the name a directly constructed instance reports."""

    def decorate(cls: T) -> T:
        entry = ModelEntry(name, cls, MappingProxyType(dict(defaults or {})), MappingProxyType(dict(tiny or {})),
                           summary or (cls.__doc__ or "").strip().split("\n")[0])
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        if "name" not in cls.__dict__:
            cls.name = name  # type: ignore[attr-defined]
        _MODELS[name] = entry
        return cls

    return decorate


def get_model(name: str) -> ModelEntry:
    _import_builtin_models()
    try:
        return _MODELS[str(name)]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_MODELS))}") from None


def model_names() -> list[str]:
    _import_builtin_models()
    return sorted(_MODELS)


def create_model(name: str, values: Mapping[str, Any] | None = None) -> Any:
    """`get_model(name).create(values)`: an unfitted model by registered name."""
    return get_model(name).create(values)


def _import_builtin_models() -> None:
    import lmrec.models  # noqa: F401  (importing the package registers every built-in model)
