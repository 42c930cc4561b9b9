"""The contract every recommender keeps, as a pytest mixin (implicit's test mixin, sklearn's check_estimator).

Use it for your own model::

    from lmrec.testing.contract import RecommenderContract

    class TestMyModel(RecommenderContract):
        name_under_test = "mymodel"                              # a registered name

The model is built from its registered tiny preset (`register(..., tiny={...})`: settings that train in seconds
on the toy data); `config_overrides = {"mymodel": {...}}` replaces it. Parametrise the `model_name` fixture with
`scope="class"` to check many models with one class (tests/contract enrols every registered model). Besides
"does not crash" it checks correctness on `lmrec.testing.toy`: on the block dataset at least 90 % of the top-5
items for a block-b history are block-b items (a model with `personalised = False`, such as popularity,
must instead give every history the same scores); a model with `sequential = True` must reach HR@1 > 0.9 on
the ring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from lmrec.config import from_dict, to_dict
from lmrec.data.types import PAD, Histories
from lmrec.errors import DataError, ModelFileError, NotFittedError
from lmrec.models.base import CONFIG, WEIGHTS, BaseRecommender, load_model
from lmrec.models.capabilities import UserAttributes, supports
from lmrec.models.registry import get_model
from lmrec.testing.toy import BlockData, RingData, block_data, ring_data


class RecommenderContract:
    name_under_test: ClassVar[str | None] = None
    config_overrides: ClassVar[dict[str, dict[str, Any]]] = {}
    block_precision: ClassVar[float] = 0.9
    ring_hit_rate: ClassVar[float] = 0.9

    # -- fixtures ------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def model_name(cls) -> str:
        if cls.name_under_test is None:
            pytest.skip("set name_under_test or parametrise model_name")
        return cls.name_under_test

    @pytest.fixture(scope="class")
    @classmethod
    def toy(cls) -> BlockData:
        return block_data()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, model_name: str, toy: BlockData) -> BaseRecommender:
        return cls.fit(cls.make_model(model_name), toy)

    @classmethod
    def make_model(cls, name: str) -> BaseRecommender:
        entry = get_model(name)
        return entry.create(cls.config_overrides[name]) if name in cls.config_overrides else entry.create_tiny()

    @staticmethod
    def fit(model: BaseRecommender, toy: BlockData | RingData) -> BaseRecommender:
        if supports(model, UserAttributes):
            model.fit_user_attributes(toy.dataset.user_attributes)
        return model.fit(toy.split.train, valid=toy.split.valid, catalog=toy.dataset.catalog)

    # -- estimator contract --------------------------------------------------------------------------------
    def test_fit_returns_self_and_sets_sizes(self, model_name: str, toy: BlockData) -> None:
        model = self.make_model(model_name)
        assert self.fit(model, toy) is model
        assert model.n_items_ == toy.split.train.n_items

    def test_config_round_trips(self, model_name: str) -> None:
        model = self.make_model(model_name)
        assert from_dict(type(model).Config, to_dict(model.config)) == model.config
        assert get_model(model_name).config(to_dict(model.config)) == model.config
        assert model.name == model_name

    def test_unfitted_model_refuses(self, model_name: str, toy: BlockData, tmp_path: Path) -> None:
        model = self.make_model(model_name)
        with pytest.raises(NotFittedError):
            model.score(toy.queries)
        with pytest.raises(NotFittedError):
            model.recommend(toy.queries, 5)
        with pytest.raises(NotFittedError):
            model.save(tmp_path / "m")

    # -- scoring -------------------------------------------------------------------------------------------
    def test_score_shape_and_finite(self, fitted: BaseRecommender, toy: BlockData) -> None:
        scores = fitted.score(toy.queries)
        assert isinstance(scores, torch.Tensor)
        assert scores.shape == (len(toy.queries), toy.dataset.n_items)
        assert scores.dtype == torch.float32
        assert torch.isfinite(scores).all()

    def test_empty_history_gets_finite_scores(self, fitted: BaseRecommender, toy: BlockData) -> None:
        histories = Histories(np.array([[PAD], [toy.queries.seq[0, 0]]]), np.array([0, 1]))
        scores = fitted.score(histories)
        assert scores.shape == (2, toy.dataset.n_items)
        assert torch.isfinite(scores).all()
        assert len(fitted.recommend(Histories(np.array([[PAD]]), np.array([0])), 5).items[0]) == 5

    def test_out_of_range_item_is_a_data_error(self, fitted: BaseRecommender, toy: BlockData) -> None:
        with pytest.raises(DataError):
            fitted.score(Histories(np.array([[0, toy.dataset.n_items]]), np.array([2])))

    def test_recommend_excludes_seen(self, fitted: BaseRecommender, toy: BlockData) -> None:
        top = fitted.recommend(toy.queries, 5)
        assert top.items.shape == (len(toy.queries), 5)
        for row, items in enumerate(top.items):
            seen = set(toy.queries.seq[row, : toy.queries.lengths[row]].tolist())
            assert not seen & set(items.tolist())
        assert (np.diff(top.scores, axis=1) <= 0).all()

    def test_deterministic_with_same_seed(
        self, model_name: str, fitted: BaseRecommender, toy: BlockData
    ) -> None:
        again = self.fit(self.make_model(model_name), toy)
        assert torch.equal(fitted.score(toy.queries), again.score(toy.queries))

    # -- persistence ---------------------------------------------------------------------------------------
    def test_save_load_round_trip(self, fitted: BaseRecommender, toy: BlockData, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        for loaded in (load_model(tmp_path / "model"), type(fitted).load(tmp_path / "model")):
            assert type(loaded) is type(fitted) and loaded.name == fitted.name
            assert loaded.config == fitted.config
            assert torch.equal(loaded.score(toy.queries), fitted.score(toy.queries))

    def test_load_of_bad_directory_is_a_model_file_error(
        self, fitted: BaseRecommender, tmp_path: Path
    ) -> None:
        with pytest.raises(ModelFileError):
            load_model(tmp_path / "missing")
        fitted.save(tmp_path / "model")
        (tmp_path / "model" / WEIGHTS).write_bytes(b"not safetensors at all")
        with pytest.raises(ModelFileError):
            load_model(tmp_path / "model")
        fitted.save(tmp_path / "other")
        (tmp_path / "other" / CONFIG).unlink()
        with pytest.raises(ModelFileError):
            type(fitted).load(tmp_path / "other")

    # -- correctness ---------------------------------------------------------------------------------------
    def test_block_histories_get_block_items(self, fitted: BaseRecommender, toy: BlockData) -> None:
        if fitted.sequential:
            pytest.skip("sequence models are checked on the ring")
        if not fitted.personalised:
            scores = fitted.score(toy.queries)
            assert torch.equal(scores, scores[:1].expand_as(scores)), (
                "a non-personalised model must ignore history"
            )
            return
        top = fitted.recommend(toy.queries, 5).items
        precision = float((toy.item_block[top] == toy.query_block[:, None]).mean())
        assert precision >= self.block_precision, (
            f"only {precision:.0%} of top-5 items are in the query's block"
        )

    def test_ring_successor(self, model_name: str) -> None:
        if not get_model(model_name).cls.sequential:
            pytest.skip("not a sequence model")
        ring = ring_data()
        model = self.fit(self.make_model(model_name), ring)
        top1 = model.recommend(ring.queries, 1).items[:, 0]
        hit_rate = float((top1 == ring.answers).mean())
        assert hit_rate > self.ring_hit_rate, f"HR@1 on the ring is {hit_rate:.2f}"
