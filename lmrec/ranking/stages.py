"""Re-ranking stages: each takes the candidate lists and returns a re-ordered top k. A stage says how many
candidates it needs for a final k (`pool`), so evaluation and the service fetch the same lists.

    mmr = MMR(0.7, vectors)           # maximal marginal relevance over cosine item similarity
    stages = parse_stages(["mmr:0.7", "calibrated:0.5", "fair:0.3"], StageInputs(vectors, sets, counts))

Calibrated (lmrec/ranking/calibration.py) and FairExposure (lmrec/ranking/exposure.py) are the list-level
stages; they choose greedily through lmrec/ranking/greedy.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from lmrec.data.types import PAD, Histories
from lmrec.errors import ConfigError
from lmrec.models.capabilities import CandidateScorer
from lmrec.ranking.calibration import Calibrated, category_matrix
from lmrec.ranking.candidates import Candidates, Exclusions
from lmrec.ranking.exploration import EpsilonGreedy, ScoreNoise
from lmrec.ranking.exposure import AmortizedExposure, FairExposure, field_groups, popularity_groups
from lmrec.ranking.mixing import blend, ordered

MMR_CANDIDATES = 500  # candidates MMR chooses from (at least 2k): the service's default too
RANKER_CANDIDATES = 100  # candidates a ranking model re-orders (the retriever's top N)


class Stage(Protocol):
    """`rerank` gets the histories the candidates were retrieved for (a feature-aware ranker reads them; MMR
    does not)."""

    name: str

    def pool(self, k: int) -> int: ...
    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates: ...


@dataclass(frozen=True, eq=False)
class MMR:
    """Maximal marginal relevance (Carbonell & Goldstein 1998): greedily pick argmax lam * rel - (1 - lam) *
    max cosine to the items already picked. Relevance is min-max scaled over each row's candidates so both terms
    live on [0, 1]. `vectors [N, T]` are L2-normalised item vectors (zero rows: similar to nothing)."""

    lam: float
    vectors: np.ndarray
    candidates: int = MMR_CANDIDATES
    name: str = "mmr"

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.lam) <= 1.0:
            raise ConfigError(f"mmr lambda must be in [0, 1], got {self.lam}")

    def pool(self, k: int) -> int:
        return max(int(self.candidates), 2 * int(k))

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None,
               chunk: int = 64) -> Candidates:
        k = min(int(k), candidates.items.shape[1])
        parts = [self._rerank(candidates.items[s:s + chunk], candidates.scores[s:s + chunk], k)
                 for s in range(0, len(candidates), chunk)]
        if not parts:
            return candidates.head(k)
        return Candidates(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _rerank(self, items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        valid = torch.from_numpy(items >= 0)  # [B, M]
        relevance = torch.from_numpy(np.where(items >= 0, scores, 0.0).astype(np.float64))
        low = torch.where(valid, relevance, torch.inf).min(dim=1, keepdim=True).values
        high = torch.where(valid, relevance, -torch.inf).max(dim=1, keepdim=True).values
        spread = high - low
        rel = torch.where(spread > 0, (relevance - low) / torch.where(spread > 0, spread, 1.0), 1.0)
        cand = torch.from_numpy(self.vectors[np.where(items >= 0, items, 0)].astype(np.float64))  # [B, M, T]
        sims = torch.bmm(cand, cand.transpose(1, 2))  # [B, M, M]
        closest = torch.zeros(relevance.shape, dtype=torch.float64)
        taken = ~valid  # PAD columns are never picked
        rows = torch.arange(len(items))
        order = torch.full((len(items), k), -1, dtype=torch.long)
        for step in range(k):
            value = (self.lam * rel - (1.0 - self.lam) * closest).masked_fill(taken, -torch.inf)
            pick = value.argmax(dim=1)  # first of equal values, as numpy's argmax
            live = torch.isfinite(value[rows, pick])
            order[:, step] = torch.where(live, pick, -1)
            taken[rows[live], pick[live]] = True
            closest = torch.maximum(closest, sims[rows, :, pick])
        order_np = order.numpy()
        picked = order_np >= 0
        safe = np.where(picked, order_np, 0)
        out_items = np.where(picked, np.take_along_axis(items, safe, axis=1), PAD)
        out_scores = np.where(picked, np.take_along_axis(scores, safe, axis=1), -np.inf).astype(np.float32)
        return out_items, out_scores


@dataclass(frozen=True, eq=False)
class RankerStage:
    """Two-stage ranking: the retriever's first `candidates` items re-ordered by
    z(retriever score) + weight * z(ranker score), z-scored over each row's candidates, where the ranker is a
    model's `score_candidates(histories, items [B, M]) -> [B, M]` (a click model over user, item and cross
    features). `weight=None` ranks by the ranker alone; `choose_weight` picks it on a validation holdout."""

    model: CandidateScorer
    candidates: int = RANKER_CANDIDATES
    weight: float | None = None
    search: dict | None = None  # validation NDCG@10 per weight when the weight was chosen there
    name: str = "ranker"

    def __post_init__(self) -> None:
        if int(self.candidates) < 1:
            raise ConfigError(f"the ranking stage needs candidates >= 1, got {self.candidates}")
        if self.weight is not None and self.weight < 0:
            raise ConfigError(f"the ranking stage's weight must be >= 0, got {self.weight}")

    def pool(self, k: int) -> int:
        return max(int(self.candidates), int(k))

    def ranker_scores(self, candidates: Candidates, histories: Histories) -> np.ndarray:
        """[B, M] the ranking model's scores of the candidates (-inf on padding)."""
        items = candidates.items
        scores = np.asarray(self.model.score_candidates(histories, items), dtype=np.float64)
        return np.where(items >= 0, scores, -np.inf)

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        if histories is None:
            raise ConfigError("the ranking stage needs the histories the candidates were retrieved for")
        candidates = candidates.head(self.pool(k))
        combined = blend(candidates, self.ranker_scores(candidates, histories), self.weight)
        return ordered(candidates, combined).head(k)


RANKER_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)  # the grid `choose_weight` searches (0: retriever only)


def choose_weight(pipeline, model: CandidateScorer, holdout, candidates: int = RANKER_CANDIDATES, k: int = 10,
                  limit: int = 2000) -> tuple[float | None, dict]:
    """The blend weight (from RANKER_WEIGHTS, or None: the ranker alone) with the best NDCG@k on `holdout` (a
    validation holdout; at most `limit` users, evenly spaced), retrieving with `pipeline` (no stages) as the
    stage will see it; ties go to the smaller weight. Returns (weight, {label: NDCG@k})."""
    from lmrec.metrics import hit_matrix, ndcg

    rows = np.unique(np.linspace(0, len(holdout) - 1, min(len(holdout), limit)).astype(np.int64))
    histories, targets = holdout.histories(rows), holdout.targets.take(rows)
    found = pipeline.retriever.retrieve(histories, candidates, exclude_seen=True, exclusions=Exclusions())
    stage = RankerStage(model, candidates)
    ranker = stage.ranker_scores(found, histories)
    results: dict[str, float] = {}
    best: tuple[float, float | None] = (-1.0, 0.0)
    for weight in (*RANKER_WEIGHTS, None):
        top = ordered(found, blend(found, ranker, weight)).items[:, :k]
        value = float(ndcg(hit_matrix(top, targets.indptr, targets.items, k), targets.lengths, k).mean())
        results["ranker alone" if weight is None else f"{weight:g}"] = value
        if value > best[0] + 1e-12:
            best = (value, weight)
    return best[1], results


def _llm_stage(spec: str, argument: str, weight_text: str, inputs: StageInputs) -> Stage:
    """`llm` (the small offline LM's order of the retriever's top 20), `llm:W` (blended with weight W), `llm:RUN`
    or `llm:RUN:W` (the LM of an `llm-gen` run, LoRA-tuned on the training split, instead of the plain one)."""
    from lmrec.ranking.llm import LLMReranker

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    if inputs.names is None:
        raise ConfigError(f"rerank stage {spec!r} needs item titles; this run has no catalogue")
    if not argument or number(argument) is not None:
        from lmrec.text.generate import small_lm

        return LLMReranker(small_lm(), inputs.names, weight=number(argument) if argument else None)
    if weight_text and number(weight_text) is None:
        raise ConfigError(f"rerank stage {spec!r}: expected llm:RUN:W with a weight W >= 0")
    if inputs.language_model is None:
        raise ConfigError(f"rerank stage {spec!r}: a tuned LM from a run is not available here (only `lmrec "
                          "evaluate` loads one)")
    weight = number(weight_text) if weight_text else None
    return LLMReranker.tuned(inputs.language_model(argument), inputs.names, weight=weight, name=f"llm:{argument}")


@dataclass(frozen=True, eq=False)
class StageInputs:
    """What the re-ranking stages read about the items: similarity vectors (mmr), each item's categories for a
    field (calibrated; fair with a field; None = the catalogue's first categorical field) and training
    popularity (fair's head and tail). Evaluation and the service build it from the same run; the matrices
    derived from it are built once per field and kept."""

    vectors: np.ndarray | None = None
    category_sets: Callable[[str | None], list[frozenset[str]]] | None = None
    popularity: np.ndarray | None = None
    mmr_candidates: int = MMR_CANDIDATES
    seed: int = 0  # of the exploration stages' generators
    names: list[str] | None = None  # what an LLM ranker's prompt calls each item (titles)
    language_model: Callable[[str], Any] | None = None  # llm:RUN -> that run's TunedLM (evaluation only)
    _built: dict = field(default_factory=dict, repr=False)

    def categories(self, spec: str, name: str | None) -> list[frozenset[str]]:
        if self.category_sets is None:
            raise ConfigError(f"rerank stage {spec!r} needs item categories; this run has no categorical item field")
        return self.category_sets(name or None)

    def category_matrix(self, spec: str, name: str | None) -> np.ndarray:
        key = ("matrix", name or None)
        if key not in self._built:
            self._built[key] = category_matrix(self.categories(spec, name))
        return self._built[key]

    def groups(self, spec: str, name: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
        """Provider groups of a field, or head (0) and tail (1) by training popularity without one."""
        key = ("groups", name or None)
        if key not in self._built:
            if name:
                self._built[key] = field_groups(self.categories(spec, name))
            elif self.popularity is None:
                raise ConfigError(f"rerank stage {spec!r} needs the items' training counts (head vs tail)")
            else:
                self._built[key] = (popularity_groups(self.popularity), ("head", "tail"))
        return self._built[key]


STAGE_HELP = ("mmr:LAMBDA, calibrated:LAMBDA[:FIELD], fair:LAMBDA[:FIELD], explore:EPS, noise:SIGMA, llm[:W], "
              "llm:RUN[:W]")


def parse_stages(specs: Sequence[str], inputs: StageInputs) -> tuple[Stage, ...]:
    """`["mmr:0.7", "calibrated:0.5"]` -> stages, in order; ConfigError naming the bad spec or what it lacks."""
    stages: list[Stage] = []
    for spec in specs:
        name, _, rest = spec.strip().partition(":")
        argument, _, column = rest.partition(":")
        if name not in ("mmr", "calibrated", "fair", "explore", "noise", "llm"):
            raise ConfigError(f"rerank stage {spec!r}: unknown stage {name!r}; available: {STAGE_HELP}")
        if name == "llm":
            stages.append(_llm_stage(spec, argument, column, inputs))
            continue
        try:
            lam = float(argument) if argument else 0.5
        except ValueError:
            raise ConfigError(f"rerank stage {spec!r}: expected {name}:NUMBER, e.g. {name}:0.5") from None
        if name == "mmr":
            if inputs.vectors is None:
                raise ConfigError(f"rerank stage {spec!r} needs item vectors; this model has neither text vectors nor "
                                  "an item table")
            stages.append(MMR(lam if argument else 0.7, inputs.vectors, candidates=inputs.mmr_candidates))
        elif name == "explore":
            stages.append(EpsilonGreedy(lam if argument else 0.1, seed=inputs.seed))
        elif name == "noise":
            stages.append(ScoreNoise(lam if argument else 0.5, seed=inputs.seed))
        elif name == "calibrated":
            stages.append(Calibrated(lam, inputs.category_matrix(spec, column)))
        elif column:
            groups, names = inputs.groups(spec, column)
            stages.append(AmortizedExposure(lam, groups, names))
        else:
            groups, names = inputs.groups(spec, column)
            stages.append(FairExposure(lam, groups, names))
    return tuple(stages)
