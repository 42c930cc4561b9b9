"""Ordering candidates by a second score: z-scores over each row's real candidates and their blend, shared by the
ranking-model stage (stages.RankerStage) and the LLM ranker (llm.LLMReranker)."""

from __future__ import annotations

import numpy as np

from lmrec.ranking.candidates import Candidates


def blend(candidates: Candidates, ranker: np.ndarray, weight: float | None) -> np.ndarray:
    """[B, M] z(retriever) + weight * z(ranker) over each row's real candidates (the ranker alone when None)."""
    real = candidates.items >= 0
    if weight is None:
        return np.where(real, ranker, -np.inf)
    return np.where(real, _row_z(candidates.scores.astype(np.float64), real) + weight * _row_z(ranker, real), -np.inf)


def ordered(candidates: Candidates, scores: np.ndarray) -> Candidates:
    order = np.argsort(-scores, axis=1, kind="stable")
    return Candidates(np.take_along_axis(candidates.items, order, axis=1),
                      np.take_along_axis(scores, order, axis=1).astype(np.float32))


def _row_z(values: np.ndarray, real: np.ndarray) -> np.ndarray:
    safe = np.where(real & np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"):
        mean = np.nanmean(safe, axis=1, keepdims=True)
        std = np.nanstd(safe, axis=1, keepdims=True)
    z = (safe - np.nan_to_num(mean)) / np.where(np.nan_to_num(std) > 1e-12, std, 1.0)
    return np.nan_to_num(z, nan=-1e6)
