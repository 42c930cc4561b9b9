"""One line registers a model: `@register("ease")` puts it in the CLI, the config loader and the contract tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lmrec.errors import ConfigError

T = TypeVar("T", bound=type)
_MODELS: dict[str, type] = {}


def register(name: str) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        _MODELS[name] = cls
        return cls

    return decorate


def get_model_class(name: str) -> type:
    _import_builtin_models()
    try:
        return _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_MODELS))}") from None


def model_names() -> list[str]:
    _import_builtin_models()
    return sorted(_MODELS)


def _import_builtin_models() -> None:
    import lmrec.models  # noqa: F401  (importing the package registers every built-in model)
