"""Per-task metrics: rating heads and rating baselines learn a rating signal; clicks are told from sampled items."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.eval.tasks import evaluate_clicks, evaluate_ratings, event_pairs
from lmrec.models.registry import get_model
from lmrec.testing.toy import block_data


@pytest.fixture(scope="module")
def toy():
    return block_data()


@pytest.mark.parametrize("name", ["bias", "mf-rating", "sasrec-mtl"])
def test_models_learn_that_even_items_are_liked(toy, name: str) -> None:
    # block_data rates even items 5 and odd ones 2: predicting the mean (3.5) everywhere gives RMSE 1.5
    model = get_model(name).create_tiny().fit(toy.split.train, valid=toy.split.valid, catalog=toy.dataset.catalog)
    result = evaluate_ratings(model, event_pairs(toy.dataset, toy.split))
    assert result["n"] == len(toy.split.test)
    assert result["rmse"] < 0.5, result
    assert result["ci"]["rmse"][0] <= result["rmse"] <= result["ci"]["rmse"][1]


def test_the_click_head_tells_chosen_items_from_sampled_ones(toy) -> None:
    model = get_model("sasrec-mtl").create_tiny().fit(toy.split.train, valid=toy.split.valid)
    result = evaluate_clicks(model, event_pairs(toy.dataset, toy.split), n_items=toy.dataset.n_items)
    # a sampled item is outside the user's block half the time (tellable) and inside it otherwise (a coin flip
    # for any model): about 0.75 is the ceiling, 0.5 chance
    assert result["auc"] > 0.65, result


def test_asking_a_model_without_the_head_is_one_clear_error(toy) -> None:
    model = get_model("sasrec").create_tiny().fit(toy.split.train)
    with pytest.raises(ConfigError, match="does not predict ratings"):
        evaluate_ratings(model, event_pairs(toy.dataset, toy.split))


def test_rating_baselines_need_ratings(toy) -> None:
    unrated = dataclasses.replace(toy.split.train, value=None)
    with pytest.raises(Exception, match="needs explicit ratings"):
        get_model("bias").create().fit(unrated)
    assert np.isfinite(event_pairs(toy.dataset, toy.split).values).all()
