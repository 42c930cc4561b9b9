from dataclasses import dataclass, field

import pytest

from lmrec.config import from_dict, parse_overrides
from lmrec.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    epochs: int = 10


@dataclass(frozen=True)
class Outer:
    dim: int = 64
    train: Inner = field(default_factory=lambda: Inner(lr=5e-3))


def test_partial_nested_section_keeps_the_fields_own_defaults() -> None:
    config = from_dict(Outer, {"train": {"epochs": 3}})
    assert config.train == Inner(lr=5e-3, epochs=3)


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid: dim, train"):
        from_dict(Outer, {"dimm": 3})


def test_values_are_coerced_or_rejected() -> None:
    assert from_dict(Outer, {"dim": "32"}).dim == 32
    with pytest.raises(ConfigError, match="dim"):
        from_dict(Outer, {"dim": "abc"})


def test_overrides_nest_by_dots_and_parse_yaml_scalars() -> None:
    assert parse_overrides(["model.train.lr=1e-2", "seed=3"]) == {"model": {"train": {"lr": 0.01}}, "seed": 3}
    with pytest.raises(ConfigError):
        parse_overrides(["novalue"])
