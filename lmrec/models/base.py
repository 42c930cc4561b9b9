"""The Recommender contract and the thin base class every model shares.

Estimator contract (scikit-learn): the constructor stores one frozen config and does nothing else; `fit` learns and
returns self; learned state ends in `_`. A batch of histories is the query (LensKit): a cold user, a trained user
and a user from the live stream go through one code path.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lmrec.config import from_dict, read_yaml, to_dict, write_yaml
from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.errors import ModelFileError, NotFittedError
from lmrec.io import atomic_write, atomic_write_json

WEIGHTS, CONFIG, META = "weights.safetensors", "config.yaml", "meta.json"


@dataclass(frozen=True)
class TopK:
    """Top-k items per history: `items [B, k]` (dense indices) and `scores [B, k]`, best first."""

    items: np.ndarray
    scores: np.ndarray


@runtime_checkable
class Recommender(Protocol):
    name: ClassVar[str]
    config: Any

    def fit(self, train: Interactions, *, valid: Holdout | None = None,
            catalog: Catalog | None = None) -> Recommender: ...
    def score(self, histories: Histories) -> torch.Tensor: ...
    def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True) -> TopK: ...
    def save(self, directory: str | Path) -> None: ...


class BaseRecommender:
    """Shared plumbing: recommend via score + mask + top-k, save/load as safetensors + config.yaml + meta.json.

    Subclasses define `Config` (a frozen dataclass), `fit`, `score`, and `_state()` / `_set_state()` that move
    learned tensors in and out.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.n_items_: int | None = None

    # -- the contract ----------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None):
        raise NotImplementedError

    def score(self, histories: Histories) -> torch.Tensor:
        """[B, n_items] float32 scores; higher is better."""
        raise NotImplementedError

    def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True) -> TopK:
        """Top-k per history, optionally masking the items the history contains."""
        self._check_fitted()
        with torch.inference_mode():
            scores = self.score(histories).float().clone()  # never mask a model's cached tensor
            if exclude_seen:
                scores = mask_seen(scores, histories)
            k = min(k, scores.shape[1])
            top = torch.topk(scores, k, dim=1)
        return TopK(top.indices.numpy(), top.values.numpy())

    # -- persistence -----------------------------------------------------------------------------------------
    def _state(self) -> dict[str, torch.Tensor]:
        return {}

    def _set_state(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    def save(self, directory: str | Path) -> None:
        """weights.safetensors + config.yaml + meta.json, each written atomically."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous().cpu() for k, v in self._state().items()}
        tensors["_n_items"] = torch.tensor([self.n_items_], dtype=torch.int64)
        atomic_write(directory / WEIGHTS, lambda tmp: save_file(tensors, str(tmp)))
        write_yaml(directory / CONFIG, {"model": self.name, "config": to_dict(self.config)})
        atomic_write_json(directory / META, {"model": self.name, **environment()})

    @classmethod
    def load(cls, directory: str | Path) -> BaseRecommender:
        """Rebuild a saved model (no code runs from the files: YAML + safetensors only)."""
        directory = Path(directory)
        for required in (WEIGHTS, CONFIG):
            if not (directory / required).is_file():
                raise ModelFileError(f"{directory}: missing {required}; not a saved lmrec model")
        saved = read_yaml(directory / CONFIG)
        if saved.get("model") != cls.name:
            raise ModelFileError(f"{directory}: holds model {saved.get('model')!r}, not {cls.name!r}")
        model = cls(from_dict(cls.Config, saved.get("config", {})))
        try:
            tensors = load_file(str(directory / WEIGHTS))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ModelFileError(f"{directory / WEIGHTS}: unreadable weights ({exc})") from None
        try:
            model.n_items_ = int(tensors.pop("_n_items")[0])
            model._set_state(tensors)
        except (KeyError, ValueError, RuntimeError) as exc:  # weights written by another model or config
            raise ModelFileError(f"{directory / WEIGHTS}: weights do not fit model {cls.name!r} ({exc!r})") from None
        return model

    def _check_fitted(self) -> None:
        if self.n_items_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first")


def mask_seen(scores: torch.Tensor, histories: Histories) -> torch.Tensor:
    """Set the score of every item in each history to -inf (in place on a float tensor; returns it)."""
    mask = histories.mask
    rows = np.broadcast_to(np.arange(len(histories))[:, None], histories.seq.shape)[mask]
    scores[torch.from_numpy(rows), torch.from_numpy(histories.seq[mask])] = float("-inf")
    return scores


def environment() -> dict[str, str]:
    """Library versions recorded beside every model and result."""
    import lmrec

    versions = {"lmrec": lmrec.__version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__}
    for name in ("scipy", "pandas", "sklearn", "safetensors"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return {"versions": versions, "platform": platform.platform()}


def load_model(directory: str | Path) -> BaseRecommender:
    """Load any saved model; the class is chosen by the name in config.yaml."""
    from lmrec.models.registry import get_model_class

    directory = Path(directory)
    if not (directory / CONFIG).is_file():
        raise ModelFileError(f"{directory}: no {CONFIG}; not a saved lmrec model")
    name = read_yaml(directory / CONFIG).get("model")
    return get_model_class(str(name)).load(directory)

