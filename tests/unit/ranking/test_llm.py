"""The LLM ranker re-orders only the retriever's first candidates, by the LM's likelihood of each title after a
prompt of the history's titles, alone or blended with the retriever's score."""

import numpy as np
import pytest

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.ranking import Candidates, StageInputs, parse_stages
from lmrec.ranking.llm import LLMReranker, TunedLM

NAMES = ["red apple", "green apple", "blue ocean", "deep ocean", "apple pie", "ocean wave"]


class WordLM:
    """Likes continuations that share a word with the prompt; records the prompts it saw."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def continuation_logprobs(self, prompt: str, continuations: list[str]) -> np.ndarray:
        self.prompts.append(prompt)
        words = set(prompt.lower().replace(";", " ").replace(".", " ").split())
        return np.asarray([float(len(words & set(c.lower().split()))) for c in continuations])


def test_the_lm_order_replaces_the_retrievers_within_the_candidates() -> None:
    lm = WordLM()
    found = Candidates(np.asarray([[2, 4, 3, 5, 1]]), np.asarray([[5.0, 4.0, 3.0, 2.0, 1.0]], np.float32))
    history = Histories.from_lists([[0]])  # "red apple"
    out = LLMReranker(lm, NAMES, candidates=4).rerank(found, 2, history)
    assert out.items[0, 0] == 4  # "apple pie" shares "apple"; item 1 was not among the first 4 candidates
    assert "red apple" in lm.prompts[0]
    kept = LLMReranker(WordLM(), NAMES, candidates=4, weight=0.0).rerank(found, 3, history)
    assert kept.items.tolist() == [[2, 4, 3]]  # weight 0: the retriever's order


def test_the_spec_needs_titles_and_a_number() -> None:
    with pytest.raises(ConfigError, match="needs item titles"):
        parse_stages(["llm"], StageInputs())
    with pytest.raises(ConfigError, match="only `lmrec evaluate` loads one"):
        parse_stages(["llm:runs/tuned"], StageInputs(names=NAMES))
    with pytest.raises(ConfigError, match="llm:RUN:W"):
        parse_stages(["llm:runs/tuned:x"], StageInputs(names=NAMES, language_model=lambda path: TunedLM(WordLM(), str)))


class RecordingLM(WordLM):
    """Also records the continuations it scored."""

    def __init__(self) -> None:
        super().__init__()
        self.continuations: list[list[str]] = []

    def continuation_logprobs(self, prompt: str, continuations: list[str]) -> np.ndarray:
        self.continuations.append(continuations)
        return super().continuation_logprobs(prompt, continuations)


def test_a_run_names_the_lm_that_ranks_and_its_tuned_prompt_is_the_one_scored() -> None:
    asked: list[str] = []
    tuned = RecordingLM()

    def load(path: str) -> TunedLM:
        asked.append(path)
        return TunedLM(tuned, lambda history: f"<chat>{NAMES[int(history[-1])]}</chat>Product:")

    (stage,) = parse_stages(["llm:runs/tuned:0.5"], StageInputs(names=NAMES, language_model=load))
    assert asked == ["runs/tuned"] and stage.lm is tuned and stage.weight == 0.5 and stage.name == "llm:runs/tuned"
    found = Candidates(np.asarray([[2, 4]]), np.asarray([[2.0, 1.0]], np.float32))
    stage.rerank(found, 2, Histories.from_lists([[0]]))
    assert tuned.prompts == ["<chat>red apple</chat>Product:"]  # the prompt it was tuned on, not the stage's own
    assert tuned.continuations == [["blue ocean", "apple pie"]]  # answers follow the prefix directly, as in tuning
    plain = RecordingLM()
    LLMReranker(plain, NAMES).rerank(found, 2, Histories.from_lists([[0]]))
    assert plain.continuations == [[" blue ocean", " apple pie"]] and "red apple" in plain.prompts[0]
