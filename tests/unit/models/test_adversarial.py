"""Adversarial training and perturbations of a sequence model's item side: the worst case stays inside its
ball and hurts more than a random shift of the same size; perturbing never leaves a stale table behind; configs
that would perturb nothing are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.errors import ConfigError
from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.testing.toy import ring_data

TEXT = {"kind": "tfidf", "tfidf_dim": 16, "cache": False}


def tiny(epochs: int = 6, **adversarial) -> dict:
    return {**SEQUENCE_TINY, "encoder": TEXT, "train": {**SEQUENCE_TINY["train"], "epochs": epochs,
                                                        "adversarial": adversarial}}


@pytest.fixture(scope="module")
def ring():
    return ring_data()


@pytest.fixture(scope="module")
def fused(ring):
    return create_model("sasrec-fused", tiny()).fit(ring.split.train, catalog=ring.dataset.catalog)


def mean_rank_of_answer(model, ring) -> float:
    scores = model.score(ring.queries)
    answer = scores.gather(1, torch.as_tensor(ring.answers)[:, None])
    return float((scores > answer).sum(1).float().mean())


def test_the_worst_case_stays_in_its_ball_and_beats_random_noise(fused, ring) -> None:
    eps = 0.3
    worst = fused.adversarial_perturbation(ring.split.train, eps, ("items", "text"))
    noise = fused.random_perturbation(eps, ("items", "text"))
    module = fused.module_
    with torch.no_grad():
        items, text = module.base_table(), module.text_vectors
    for delta, vectors in ((worst.items, items), (worst.text, text), (noise.items, items)):
        assert torch.all(delta.norm(dim=1) <= eps * vectors.norm(dim=1) + 1e-5)
    clean = mean_rank_of_answer(fused, ring)
    with fused.perturbed(noise):
        randomly = mean_rank_of_answer(fused, ring)
    with fused.perturbed(worst):
        attacked = mean_rank_of_answer(fused, ring)
    assert attacked > randomly and attacked > clean
    assert mean_rank_of_answer(fused, ring) == clean  # the cached table is not the perturbed one


def test_adversarial_training_trains_and_is_reproducible(ring) -> None:
    config = tiny(epochs=8, eps=0.1, steps=2)
    first = create_model("sasrec-fused", config).fit(ring.split.train, catalog=ring.dataset.catalog)
    again = create_model("sasrec-fused", config).fit(ring.split.train, catalog=ring.dataset.catalog)
    assert torch.equal(first.score(ring.queries), again.score(ring.queries))
    accuracy = (first.score(ring.queries).argmax(1).numpy() == ring.answers).mean()
    assert accuracy > 0.5  # the ring is still learned (chance is 1/20)
    plain = create_model("sasrec-fused", tiny(epochs=8)).fit(ring.split.train, catalog=ring.dataset.catalog)
    assert first.fit_log_["epochs"][-1]["loss"] > plain.fit_log_["epochs"][-1]["loss"]  # clean + attacked loss


@pytest.mark.parametrize("name, params, message", [
    ("sasrec", tiny(eps=0.1, parts=["text"]), "perturbs nothing"),
    ("sasrec", tiny(eps=-1), "eps >= 0"),
    ("sasrec", tiny(eps=0.1, parts=["users"]), "parts from"),
    ("bpr", {"train": {"epochs": 1, "adversarial": {"eps": 0.1}}}, "no adversarial training"),
])
def test_configs_that_cannot_work_are_refused(name, params, message, ring) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model(name, params).fit(ring.split.train, catalog=ring.dataset.catalog)


def test_log_likelihood_prefers_the_sequences_the_model_learned(fused, ring) -> None:
    from lmrec.data.types import Sequences

    walks = [list(range(s, s + 8)) for s in range(0, 12)]
    shuffled = [list(reversed(w)) for w in walks]
    likelihood = fused.log_likelihood(Sequences.from_lists(walks + shuffled + [[3]]))
    assert likelihood[:12].mean() > likelihood[12:24].mean() and likelihood[:24].max() <= 0
    assert np.isnan(likelihood[-1])  # one item: nothing to predict
