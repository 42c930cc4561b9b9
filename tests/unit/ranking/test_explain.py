"""Explanations: gradient attribution is exact where it must be (full gates = the model's score, completeness),
points at the history item that drives a ring walk, leave-one-out works for any scorer, and the sentence says only
what the attribution and the catalogue say."""

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.models.registry import get_model
from lmrec.models.sequence.attribution import gated_scores
from lmrec.models.sequence.windows import right_align
from lmrec.ranking.explain import attributions, explain, leave_one_out, reason_text
from lmrec.testing.toy import ring_data

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def ring():
    return ring_data()


@pytest.fixture(scope="module")
def sasrec(ring):
    return get_model("sasrec").create_tiny().fit(ring.dataset.interactions, catalog=ring.dataset.catalog)


HISTORY = np.asarray([7, 8, 9, 10, 11])  # a ring walk: the next item is 12, and item 11 says so


def test_full_gates_give_the_models_own_scores_and_attributions_add_up(sasrec) -> None:
    module = sasrec._module().eval()
    seq = torch.from_numpy(right_align(Histories.from_lists([HISTORY.tolist()]), sasrec.config.max_len))
    items = torch.as_tensor([12, 3])
    with torch.no_grad():
        full = gated_scores(module, seq, torch.ones(1, seq.shape[1]), items)[0]
        empty = gated_scores(module, seq, torch.zeros(1, seq.shape[1]), items)[0]
        direct = sasrec.score(Histories.from_lists([HISTORY.tolist()]))[0, items]
    torch.testing.assert_close(full, direct.float(), atol=1e-4, rtol=1e-4)
    weights, method = attributions(sasrec, HISTORY, items.numpy(), steps=64)
    assert method == "gradients" and weights.shape == (2, 5)
    np.testing.assert_allclose(weights.sum(axis=1), (full - empty).numpy(), rtol=0.05, atol=0.05)


def test_the_last_item_of_a_walk_drives_the_next(sasrec) -> None:
    for method in ("gradients", "leave-one-out"):
        weights, used = attributions(sasrec, HISTORY, np.asarray([12]), method=method)
        assert used == method and int(np.argmax(weights[0])) == len(HISTORY) - 1, (method, weights)


def test_leave_one_out_works_for_any_scorer(ring) -> None:
    knn = get_model("itemknn").create().fit(ring.dataset.interactions)
    weights = leave_one_out(knn, HISTORY, np.asarray([12]))
    assert weights.shape == (1, 5) and int(np.argmax(weights[0])) == 4  # item 11 co-occurs with 12
    assert attributions(knn, HISTORY, np.asarray([12]))[1] == "leave-one-out"  # auto: no gradients declared
    with pytest.raises(ConfigError, match="no gradient attribution"):
        attributions(knn, HISTORY, np.asarray([12]), method="gradients")


def test_explanations_name_the_drivers_and_what_they_share(sasrec, ring) -> None:
    (found,) = explain(sasrec, HISTORY, np.asarray([12]), catalog=ring.dataset.catalog)
    assert found.drivers[0][0] == 11 and found.method == "gradients"
    titles = ring.dataset.catalog.frame["title"].tolist()
    assert found.reason.startswith(f"Because you chose {titles[11]}")
    shelves = ring.dataset.catalog.category_sets("shelf")
    assert found.shared.get("shelf", []) == sorted(shelves[12] & set().union(*(shelves[d] for d, _ in found.drivers)))
    assert found.to_json(ring.dataset.items.raw)["drivers"][0]["item_id"] == "r11"


def test_sentences_and_bad_requests() -> None:
    assert reason_text([], {}, None).startswith("Recommended to everyone")
    assert reason_text([(1, 0.5)], {"genre": ["Drama"], "words": ["noir"]}, ["a", "Casablanca"]) == \
        "Because you chose Casablanca; it shares genre Drama; the words noir."
    with pytest.raises(ConfigError, match="choose one of"):
        attributions(None, HISTORY, np.asarray([1]), method="shap")


def test_the_lm_sentence_is_kept_only_when_it_sticks_to_the_facts() -> None:
    from lmrec.ranking.explain import grounded, lm_reason

    facts = "Recommended: Grease (1978). The user chose: Home Alone (1990); Babe (1995). In common: genres Comedy."
    assert grounded("Because you chose Home Alone (1990), you may enjoy Grease: both share Comedy.", facts)
    assert not grounded("Because you chose Home Alone, the most popular film in the franchise.", facts)
    assert not grounded("Because you chose Home Alone (1977).", facts)

    class Parrot:  # a stand-in LM that says what it is told to
        def __init__(self, answer: str) -> None:
            self.answer = answer

        def generate(self, prompt: str, **kwargs) -> str:
            return self.answer

    shared = {"genres": ["Comedy"]}
    assert lm_reason(Parrot(", so Grease shares Comedy."), "Grease (1978)", ["Home Alone (1990)"], shared) == \
        "Because you chose Home Alone (1990), so Grease shares Comedy."
    assert lm_reason(Parrot(", a Crime thriller."), "Grease (1978)", ["Home Alone (1990)"], shared) is None


def test_leave_one_out_tries_only_the_recent_window(ring) -> None:
    knn = get_model("itemknn").create().fit(ring.dataset.interactions)
    long_history = np.arange(0, 12) % 20
    weights = leave_one_out(knn, long_history, np.asarray([12]), window=4)
    assert weights.shape == (1, 12) and not weights[0, :8].any()
    with pytest.raises(ConfigError, match="at most 50 items"):
        explain(knn, long_history, np.arange(51) % 20)
