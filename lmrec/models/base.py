"""The Recommender contract and the thin base class every model shares.

Estimator contract (scikit-learn): the constructor stores one frozen config and does nothing else; `fit` learns and
returns self; learned state ends in `_`. A batch of histories is the query (LensKit): a cold user, a trained user
and a user from the live stream go through one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lmrec.config import read_yaml, to_dict, write_yaml
from lmrec.data.split import Holdout
from lmrec.data.types import Catalog, Histories, Interactions
from lmrec.device import CPU
from lmrec.errors import LmrecError, ModelFileError, NotFittedError
from lmrec.io import atomic_write, atomic_write_json
from lmrec.provenance import environment
from lmrec.train.trainer import Progress

WEIGHTS, CONFIG, META = "weights.safetensors", "config.yaml", "meta.json"


@dataclass(frozen=True)
class TopK:
    """Top-k items per history: `items [B, k]` (dense indices) and `scores [B, k]`, best first."""

    items: np.ndarray
    scores: np.ndarray


@runtime_checkable
class Recommender(Protocol):
    name: str
    config: Any

    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None) -> Recommender: ...
    def score(self, histories: Histories) -> torch.Tensor: ...
    def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True) -> TopK: ...
    def save(self, directory: str | Path) -> None: ...


class BaseRecommender:
    """Shared plumbing: recommend via score + mask + top-k, save/load as safetensors + config.yaml + meta.json.

    Subclasses define `Config` (a frozen dataclass), `fit`, `score`, and `_state()` / `_set_state()` that move
    learned tensors in and out. `name` is the registered name the instance was created under (presets share a
    class); `device` is where it computes (`to(device)`; models without torch state compute on the CPU).
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]
    sequential: ClassVar[bool] = False  # learns order: the contract checks next-item learning on the ring
    personalised: ClassVar[bool] = True  # False: every history gets the same scores (popularity)

    def __init__(self, config: Any = None, *, name: str | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if name is not None:
            self.name = name  # type: ignore[misc]
        self.device = CPU
        self.n_items_: int | None = None
        self.fit_log_: dict | None = None  # what the Trainer recorded, for models that train

    # -- the contract ----------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, valid: Holdout | None = None, catalog: Catalog | None = None,
            progress: Progress | None = None):
        """Learn from `train` (`valid` steers early stopping, `catalog` gives item text); `progress` gets one
        `EpochRecord` per training epoch. Returns self."""
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
        return TopK(top.indices.cpu().numpy(), top.values.cpu().numpy())

    def capabilities(self) -> frozenset[type]:
        """The capability protocols this instance supports (lmrec.models.capabilities); subclasses narrow it
        when a config disables one."""
        from lmrec.models.capabilities import class_capabilities

        return frozenset(class_capabilities(type(self)))

    def to(self, device: torch.device) -> BaseRecommender:
        """Compute on `device` from now on; returns self. Models without torch state stay on the CPU."""
        return self

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
        write_yaml(directory / CONFIG, {"model": self.name, "config": to_dict(self.config)})  # config complete
        atomic_write_json(directory / META, {"model": self.name, **environment()})

    @classmethod
    def load(cls, directory: str | Path) -> BaseRecommender:
        """Rebuild a saved model (no code runs from the files: YAML + safetensors only)."""
        from lmrec.models.registry import get_model

        directory = Path(directory)
        for required in (WEIGHTS, CONFIG):
            if not (directory / required).is_file():
                raise ModelFileError(f"{directory}: missing {required}; not a saved lmrec model")
        saved = read_yaml(directory / CONFIG)
        try:
            entry = get_model(str(saved.get("model")))
        except LmrecError:
            entry = None
        if entry is None or not issubclass(entry.cls, cls):
            raise ModelFileError(f"{directory}: holds model {saved.get('model')!r}, not a {cls.__name__}")
        try:
            model = entry.create(saved.get("config") or {})
        except LmrecError as exc:
            raise ModelFileError(f"{directory / CONFIG}: {exc}") from None
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
    index = (torch.from_numpy(rows).to(scores.device), torch.from_numpy(histories.seq[mask]).to(scores.device))
    scores[index] = float("-inf")
    return scores


def load_model(directory: str | Path, *, device: torch.device = CPU) -> BaseRecommender:
    """Load any saved model onto `device`; the class is chosen by the name in config.yaml."""
    from lmrec.models.registry import get_model

    directory = Path(directory)
    if not (directory / CONFIG).is_file():
        raise ModelFileError(f"{directory}: no {CONFIG}; not a saved lmrec model")
    name = read_yaml(directory / CONFIG).get("model")
    try:
        entry = get_model(str(name))
    except LmrecError as exc:
        raise ModelFileError(f"{directory / CONFIG}: {exc}") from None
    return entry.cls.load(directory).to(device)

