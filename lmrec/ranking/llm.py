"""LLM re-ranking: the retriever's first `candidates` items re-ordered by how likely a small language model finds
each item's title as the continuation of a prompt built from the history's titles (the mean log-probability per
token, one batched forward pass per history), alone or blended with the retriever's score (z-scored, as the
ranking-model stage blends). The LM's ceiling is the retriever's recall at `candidates`: it can only re-order.

    stage = LLMReranker(small_lm(), item_names, candidates=20, weight=1.0)
    stage = LLMReranker.tuned(tuned_language_model(run, "runs/gen"), item_names)   # an llm-gen run's LoRA LM
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.ranking.candidates import Candidates
from lmrec.ranking.mixing import blend, ordered

LLM_CANDIDATES = 20
PROMPT = "A user chose these items, oldest first: {history}. The next item they choose is:"
HISTORY_ITEMS = 5  # the most recent history items in the prompt


@dataclass(frozen=True, eq=False)
class TunedLM:
    """A language model tuned to answer a prompt of its own (an `llm-gen` run's LoRA-tuned generator): `prompt`
    gives, for a history (dense item indices, oldest first), the exact text it was tuned to answer after, and
    an answer follows that text directly (no separating space)."""

    lm: Any
    prompt: Callable[[np.ndarray], str]


@dataclass(frozen=True, eq=False)
class LLMReranker:
    lm: Any  # lmrec.text.generate.SmallLM (or anything with continuation_logprobs(prompt, continuations))
    names: list[str]  # what the prompt calls each item (its title)
    candidates: int = LLM_CANDIDATES
    weight: float | None = None  # None: the LM's order alone; W: z(retriever) + W * z(LM)
    prompt: str = PROMPT
    name: str = "llm"
    prompt_for: Callable[[np.ndarray], str] | None = None  # a tuned LM's own prompt (`TunedLM.prompt`) instead

    @classmethod
    def tuned(cls, tuned: TunedLM, names: list[str], **options: Any) -> LLMReranker:
        """Scores titles after the prompt the LM was tuned on, as its tuning placed answers."""
        return cls(tuned.lm, names, prompt_for=tuned.prompt, **options)

    def __post_init__(self) -> None:
        if int(self.candidates) < 1:
            raise ConfigError(f"llm re-ranking needs candidates >= 1, got {self.candidates}")
        if self.weight is not None and self.weight < 0:
            raise ConfigError(f"llm re-ranking weight must be >= 0, got {self.weight}")

    def pool(self, k: int) -> int:
        return max(int(self.candidates), int(k))

    def lm_scores(self, candidates: Candidates, histories: Histories) -> np.ndarray:
        """[B, M] the LM's mean log-probability of each candidate's title after the history's prompt."""
        out = np.full(candidates.items.shape, -np.inf)
        space = "" if self.prompt_for is not None else " "
        for row in range(len(candidates)):
            history = histories.seq[row, : histories.lengths[row]]
            if self.prompt_for is not None:
                prompt = self.prompt_for(history)
            else:
                named = "; ".join(self._name(i) for i in history[-HISTORY_ITEMS:])
                prompt = self.prompt.format(history=named or "nothing yet")
            real = np.flatnonzero(candidates.items[row] >= 0)
            if len(real):
                out[row, real] = self.lm.continuation_logprobs(
                    prompt, [space + self._name(i) for i in candidates.items[row, real]])
        return out

    def rerank(self, candidates: Candidates, k: int, histories: Histories | None = None) -> Candidates:
        if histories is None:
            raise ConfigError("llm re-ranking needs the histories the candidates were retrieved for")
        candidates = candidates.head(self.pool(k))
        return ordered(candidates, blend(candidates, self.lm_scores(candidates, histories), self.weight)).head(k)

    def _name(self, item: int) -> str:
        item = int(item)
        text = self.names[item] if 0 <= item < len(self.names) else f"item {item}"
        return " ".join(str(text).split())[:60]
