"""Frozen dataclass configs <-> plain dicts / YAML, strictly: an unknown key is an error listing the valid ones."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from lmrec.errors import ConfigError

C = TypeVar("C")


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass (possibly nested) as a plain dict fit for YAML (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type[C], values: dict[str, Any] | None, *, where: str = "") -> C:
    """Build `cls` from a dict, coercing simple types; unknown keys and bad values raise ConfigError."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(where + k for k in unknown)} for {cls.__name__}; "
            f"valid: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    for name, value in values.items():  # a partial nested section overrides that field's own defaults
        default = _field_default(fields[name])
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            values[name] = merge(to_dict(default), value)
    kwargs = {name: _coerce(hints[name], value, where + name) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from None


def _field_default(spec: dataclasses.Field) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where=key + ".")
    if origin is Literal:
        if value not in get_args(hint):
            raise ConfigError(f"{key}={show(value)} is not one of {list(get_args(hint))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(args) < len(get_args(hint)):
            return None
        for arg in args:
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}={show(value)} does not fit {hint}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={show(value)} should be a list")
        args = get_args(hint)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, key) if inner is not Any and inner is not Ellipsis else v for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{key}={show(value)} should be true or false")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}={show(value)} should be a number")
        try:
            number = hint(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}={show(value)} should be {hint.__name__}") from None
        if not math.isfinite(number):  # a NaN weight trains a model whose every score is NaN
            raise ConfigError(f"{key}={show(value)} should be a finite number")
        if hint is int and isinstance(value, float) and value != number:
            raise ConfigError(f"{key}={show(value)} should be an integer")
        return number
    if hint is str:
        return str(value)
    return value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["model.dim=128", "train.lr=1e-3"]` -> nested dict, values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value")
        key, raw = pair.split("=", 1)
        node = tree
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r}: {part} is not a section")
        try:
            value = load_yaml_text(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node[leaf] = _number_or_self(value)
    return tree


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters with an ellipsis: values echoed in error messages stay one short line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value: Any) -> str:
    """A value's repr for an error message, shortened."""
    return shorten(repr(value))


def _number_or_self(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string; the CLI user meant a number."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            return value
    return value


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `override` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


MAX_YAML_BYTES = 1 << 20  # a config is a few KB; anything near this is not one


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without aliases: lmrec configs never need them, and expanding nested aliases ("billion laughs")
    turns a 1 KB file into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in lmrec YAML",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def load_yaml_text(text: str) -> Any:
    """Parse YAML safely: no Python objects, no aliases."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from disk with a clear one-line error for a missing, oversized, undecodable or malformed
    file (the parser's message shortened, so a hostile value is not echoed whole)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes; a config is at most {MAX_YAML_BYTES} bytes")
        loaded = load_yaml_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({shorten(' '.join(str(exc).split()), 160)})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def write_yaml(path: str | Path, values: dict[str, Any]) -> None:
    """Write YAML atomically (temp file + rename)."""
    from lmrec.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(values, sort_keys=False))
