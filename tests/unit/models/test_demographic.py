"""pop-demo: popularity among users who share your attributes."""

from __future__ import annotations

import numpy as np
import torch

from lmrec.data.types import PAD, Histories
from lmrec.models.base import load_model
from lmrec.models.registry import get_model
from lmrec.testing.toy import block_data


def test_users_get_what_their_segment_chose_and_unknown_users_get_popularity(tmp_path) -> None:
    toy = block_data()
    model = get_model("pop-demo").create()
    model.fit_user_attributes(toy.dataset.user_attributes)
    model.fit(toy.split.train)
    users = np.arange(toy.dataset.n_users)
    queries = Histories(np.full((len(users), 1), PAD), np.zeros(len(users), np.int64), users=users)
    top = model.recommend(queries, 5).items
    assert float((toy.item_block[top] == toy.query_block[:, None]).mean()) == 1.0
    unknown = Histories(np.full((2, 1), PAD), np.zeros(2, np.int64), users=np.asarray([-1, 999]))
    anonymous = Histories(np.full((1, 1), PAD), np.zeros(1, np.int64))
    assert torch.equal(model.score(unknown)[0], model.score(anonymous)[0])
    model.save(tmp_path / "m")
    assert torch.equal(load_model(tmp_path / "m").score(queries), model.score(queries))


def test_an_ensemble_hands_user_attributes_to_its_parts() -> None:
    toy = block_data()
    model = get_model("ensemble").create({"parts": ["pop-demo", "itemknn"], "weights": [1.0, 0.0]})
    model.fit_user_attributes(toy.dataset.user_attributes)
    model.fit(toy.split.train)  # pop-demo would refuse to fit without them
    users = np.arange(toy.dataset.n_users)
    queries = Histories(np.full((len(users), 1), PAD), np.zeros(len(users), np.int64), users=users)
    top = model.recommend(queries, 5).items
    assert float((toy.item_block[top] == toy.query_block[:, None]).mean()) == 1.0
    assert model.forget_user_attributes(0)
