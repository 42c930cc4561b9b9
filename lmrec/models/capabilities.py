"""What a model can do beyond the Recommender contract, declared as runtime-checkable protocols.

Serving, online learning and evaluation ask `supports(model, Capability)` instead of probing attributes. A class
declares a capability by implementing (and, for readers, subclassing) the protocol; an instance may narrow the
class's set in `capabilities()` (an ID-only sequence model shares its class with the text models but cannot place
an item it never saw). The registry lists each model's class capabilities (`lmrec models`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from lmrec.data.types import Catalog, Histories, Interactions, Sequences

if TYPE_CHECKING:
    from lmrec.models.base import TopK
    from lmrec.text.base import ItemEncoder
    from lmrec.train.trainer import Progress


@runtime_checkable
class Scorer(Protocol):
    """Scores every item for each history: `score(histories) -> [B, n_items]` (higher is better)."""

    def score(self, histories: Histories) -> torch.Tensor: ...


@runtime_checkable
class TopKRanker(Protocol):
    """Returns ranked lists only (candidate re-rankers, generative models): evaluation accepts it, without AUC."""

    def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True) -> TopK: ...


@runtime_checkable
class DotProductScoring(Protocol):
    """`score(h) == user_vectors(h) @ item_table().T`: the halves a vector index (FAISS) serves from. `table` is
    the item table the caller already holds (models whose user vectors read it need not recompute it)."""

    def user_vectors(self, histories: Histories, table: torch.Tensor | None = None) -> torch.Tensor: ...  # [B, D]
    def item_table(self) -> torch.Tensor: ...  # [N, D]


@runtime_checkable
class GrowableCatalogue(Protocol):
    """New items join by their text: `new_item_encoder` makes their vectors exactly as the catalogue's were made
    (a fine-tuned LM included), `add_items` appends them and returns their dense indices."""

    def new_item_encoder(self, catalog: Catalog | None) -> ItemEncoder: ...
    def add_items(self, text_vectors: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class IncrementalUpdates(Protocol):
    """Continues training on new events (plus replayed old ones) without re-initialising. `update_context()`:
    the most history items one training step reads before its target (the updater's window length)."""

    def update_context(self) -> int: ...

    def partial_fit(self, train: Interactions, *, epochs: int, replay: Interactions | None = None,
                    lr: float | None = None, progress: Progress | None = None, freeze_text: bool = False,
                    shown: Sequences | None = None, shown_weight: float = 0.1, text_lr_scale: float = 1.0) -> dict:
        ...


@runtime_checkable
class ItemVectors(Protocol):
    """Dense item vectors `[N, T]` for similarity and diversity (text vectors, or a learned item table)."""

    def item_vectors(self) -> np.ndarray: ...


@runtime_checkable
class PerturbableItems(Protocol):
    """The item side (item table, text vectors) can be perturbed, for adversarial robustness measurement:
    `perturbed(p)` scores under `p`; a perturbation moves each vector by eps times its length, in a random
    direction or in the direction that hurts the next-item loss on `train` most."""

    def perturbed(self, perturbation: Any) -> AbstractContextManager[None]: ...
    def random_perturbation(self, eps: float, parts: tuple[str, ...], *, seed: int = 0) -> Any: ...
    def adversarial_perturbation(self, train: Interactions, eps: float, parts: tuple[str, ...], *, steps: int = 1,
                                 seed: int = 0) -> Any: ...


@runtime_checkable
class SequenceLikelihood(Protocol):
    """`log_likelihood(sequences) -> [U]`: the mean log-probability the model gives each next item of each
    sequence (how expected a profile is; injected profiles tend to be unusual)."""

    def log_likelihood(self, sequences: Sequences) -> np.ndarray: ...


@runtime_checkable
class UserAttributes(Protocol):
    """Reads user attributes (demographics): `fit_user_attributes(frame)` before `fit` gives it the users'
    attribute frame (row i = dense user i), and scoring reads `Histories.users`, so a user with no history is
    served from the attributes alone. `forget_user_attributes(i)` erases user i's row from the learned state
    (True when there was one): erasure (lmrec.online.erasure) calls it."""

    def fit_user_attributes(self, frame: Any) -> None: ...
    def forget_user_attributes(self, user: int) -> bool: ...


@runtime_checkable
class RatingPredictor(Protocol):
    """`predict_ratings(histories, items) -> [B]`: the rating the user behind history b would give item b (RMSE
    and MAE in lmrec.eval.tasks)."""

    def predict_ratings(self, histories: Histories, items: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ClickPredictor(Protocol):
    """`predict_clicks(histories, items) -> [B]`: the probability that the user behind history b clicks item b
    (AUC and log-loss in lmrec.eval.tasks)."""

    def predict_clicks(self, histories: Histories, items: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class CandidateScorer(Protocol):
    """`score_candidates(histories, items [B, M]) -> [B, M]`: scores for given candidates only (a ranking model
    re-ordering a retriever's top N: `lmrec.ranking.RankerStage`, `lmrec evaluate --rank-with`)."""

    def score_candidates(self, histories: Histories, items: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class HistoryAttribution(Protocol):
    """`attribute_history(histories, items [B, M]) -> [B, M, L]`: how much each history position (left-aligned, as
    in `histories.seq`; 0 on padding) contributed to the score of each item, by a gradient method rather than by
    deleting items (lmrec.ranking.explain; its deletion test checks such attributions against deletions)."""

    def attribute_history(self, histories: Histories, items: np.ndarray, steps: int = 16) -> np.ndarray: ...


@runtime_checkable
class GenerativeLM(Protocol):
    """Holds a (possibly tuned) generative language model: `ranking_lm()` returns it, with `generate_batch` and
    `continuation_logprobs` (lmrec.text.generate.SmallLM), for an `llm:RUN` re-ranking stage; `ranking_prompt`
    gives the text it was tuned to answer after for a history (dense item indices, oldest first)."""

    def ranking_lm(self) -> Any: ...
    def ranking_prompt(self, history: np.ndarray) -> str: ...


CAPABILITIES: tuple[type, ...] = (Scorer, TopKRanker, DotProductScoring, GrowableCatalogue, IncrementalUpdates,
                                  ItemVectors, PerturbableItems, SequenceLikelihood, UserAttributes,
                                  RatingPredictor, ClickPredictor, CandidateScorer, HistoryAttribution,
                                  GenerativeLM)


@runtime_checkable
class DeclaresCapabilities(Protocol):
    """A model that states what its instance supports (every BaseRecommender)."""

    def capabilities(self) -> frozenset[type]: ...


def class_capabilities(cls: type) -> tuple[type, ...]:
    """The capability protocols a class implements (what the registry records)."""
    return tuple(c for c in CAPABILITIES if issubclass(cls, c))


def capabilities(model: Any) -> frozenset[type]:
    """What this model instance can do: its own `capabilities()` when it declares them, else the protocols it
    implements."""
    if isinstance(model, DeclaresCapabilities):
        return model.capabilities()
    return frozenset(c for c in CAPABILITIES if isinstance(model, c))


def supports(model: Any, capability: type) -> bool:
    return capability in capabilities(model)
