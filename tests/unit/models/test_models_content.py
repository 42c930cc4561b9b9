"""TF-IDF content model: errors for missing text, cosine profile, recency weighting, persistence."""

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.types import PAD, Catalog, Histories, Interactions
from lmrec.errors import ConfigError, DataError
from lmrec.models.base import load_model
from lmrec.models.content import TfidfConfig, TfidfRecommender

TRAIN = Interactions(np.array([0, 0, 1]), np.array([0, 3, 3]), np.array([1, 2, 3]), 2, 4)


def catalog(titles: list[str]) -> Catalog:
    return Catalog(
        pd.DataFrame({"item_id": [f"i{i}" for i in range(len(titles))], "title": titles}), ("title",)
    )


CATALOG = catalog(["space rocket", "space alien", "love wedding", "love story"])


def test_requires_a_catalogue_with_text():
    with pytest.raises(DataError, match="catalog"):
        TfidfRecommender().fit(TRAIN)
    with pytest.raises(DataError, match="empty"):
        TfidfRecommender().fit(TRAIN, catalog=catalog(["", "", " ", ""]))
    with pytest.raises(DataError, match="rows"):
        TfidfRecommender().fit(TRAIN, catalog=catalog(["a b", "c d"]))
    with pytest.raises(ConfigError):
        TfidfConfig(recency_decay=0.0)


def test_cosine_to_the_history_profile():
    model = TfidfRecommender(TfidfConfig(stop_words=None, sublinear_tf=False, recency_decay=1.0)).fit(
        TRAIN, catalog=CATALOG
    )
    scores = model.score(Histories.from_lists([[0], [0, 2]]))
    v = model.item_vectors_.toarray()
    np.testing.assert_allclose(scores[0].numpy(), v @ v[0], rtol=1e-5)
    assert scores[0, 0] == pytest.approx(1.0, rel=1e-5) and scores[0, 2] == 0
    profile = v[0] + v[2]
    np.testing.assert_allclose(scores[1].numpy(), v @ (profile / np.linalg.norm(profile)), rtol=1e-5)
    assert model.recommend(Histories.from_lists([[2]]), 1).items[0, 0] == 3


def test_recency_decay_favours_recent_items():
    model = TfidfRecommender(TfidfConfig(stop_words=None, recency_decay=0.1)).fit(TRAIN, catalog=CATALOG)
    top = model.recommend(Histories.from_lists([[0, 2], [2, 0]]), 1).items[:, 0]
    assert top.tolist() == [3, 1]  # the most recent item's neighbour wins


def test_empty_or_textless_history_uses_popularity(tmp_path):
    model = TfidfRecommender().fit(TRAIN, catalog=catalog(["space rocket", "", "love wedding", "love story"]))
    scores = model.score(Histories(np.array([[PAD], [1]]), np.array([0, 1])))
    np.testing.assert_allclose(scores.numpy(), [[0.5, 0, 0, 1], [0.5, 0, 0, 1]])
    model.save(tmp_path)
    assert torch.equal(
        load_model(tmp_path).score(Histories.from_lists([[0, 2]])),
        model.score(Histories.from_lists([[0, 2]])),
    )
