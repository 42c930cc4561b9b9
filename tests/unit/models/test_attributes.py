"""Attribute fusion in the sequence model: item attributes in w'_i, user attributes joined to the state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.data.types import PAD, Histories
from lmrec.errors import ConfigError
from lmrec.models.base import load_model
from lmrec.models.registry import get_model
from lmrec.testing.toy import BlockData, block_data


@pytest.fixture(scope="module")
def toy() -> BlockData:
    return block_data()


@pytest.fixture(scope="module")
def fitted(toy: BlockData):
    model = get_model("sasrec-attr").create_tiny()
    model.fit_user_attributes(toy.dataset.user_attributes)
    return model.fit(toy.split.train, valid=toy.split.valid, catalog=toy.dataset.catalog)


def empty_histories(users: list[int]) -> Histories:
    return Histories(np.full((len(users), 1), PAD), np.zeros(len(users), np.int64), users=np.asarray(users))


def test_a_user_with_no_history_is_served_from_attributes(fitted, toy: BlockData) -> None:
    # the segment attribute names each user's block: an empty history must still land in the right block
    users = list(range(toy.dataset.n_users))
    top = fitted.recommend(empty_histories(users), 5).items
    precision = float((toy.item_block[top] == toy.query_block[:, None]).mean())
    assert precision >= 0.8, f"only {precision:.0%} of an attribute-only top 5 is in the user's block"


def test_unknown_users_have_no_attributes_and_do_not_fail(fitted) -> None:
    scores = fitted.score(empty_histories([-1, 10_000]))
    assert torch.equal(scores[0], scores[1])


def test_attributes_survive_save_and_load(fitted, tmp_path) -> None:
    fitted.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    queries = empty_histories([0, 25])
    assert torch.allclose(loaded.score(queries), fitted.score(queries), atol=1e-5)
    assert fitted.fit_log_["attributes"]["users"]["fields"] == "segment (categorical, 2 values), age (numeric)"


def test_new_items_get_a_vector_without_attributes(fitted, toy: BlockData, tmp_path) -> None:
    fitted.save(tmp_path / "grow")
    model = load_model(tmp_path / "grow")
    new = model.add_items(model.text_vectors[:2].numpy())
    assert model.score(Histories.from_lists([[0, 1]])).shape[1] == toy.dataset.n_items + len(new)


def test_the_preset_uses_user_attributes_only_when_the_data_has_them(toy: BlockData) -> None:
    model = get_model("sasrec-attr").create_tiny()
    model.fit(toy.split.train, catalog=toy.dataset.catalog)  # no fit_user_attributes: the data has none
    assert model.fit_log_["attributes"]["users"] == "none in the data"
    assert model.fit_log_["attributes"]["items"]["fields"] == "genres (categorical, 2 values)"


def test_a_model_without_user_attributes_ignores_whose_history_it_is(toy: BlockData) -> None:
    model = get_model("sasrec-fused").create_tiny().fit(toy.split.train, catalog=toy.dataset.catalog)
    plain = Histories.from_lists([[0, 1], [13, 14]])
    named = Histories(plain.seq, plain.lengths, users=np.asarray([0, 25]))
    assert torch.equal(model.score(plain), model.score(named))


def test_asking_for_attributes_the_data_lacks_is_one_clear_error(toy: BlockData) -> None:
    model = get_model("sasrec-attr").create({"user_attributes": True})
    with pytest.raises(ConfigError, match="needs user attributes: pass --users FILE"):
        model.fit(toy.split.train, catalog=toy.dataset.catalog)
    with pytest.raises(ConfigError, match="item_attributes needs item_repr='fused'"):
        get_model("sasrec").create({"item_attributes": True})
