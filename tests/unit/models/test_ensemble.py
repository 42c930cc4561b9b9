"""Ensemble: weights searched on validation (never on test), saved with the parts, validated config."""

import pytest
import torch

from lmrec.errors import ConfigError
from lmrec.models.base import load_model
from lmrec.models.blend import simplex
from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.testing.toy import ring_data

# on the ring only order tells the next item: sasrec learns it, popularity cannot
PARTS = {"parts": ["pop", "sasrec"], "part_configs": {"sasrec": SEQUENCE_TINY}}


def test_the_search_finds_the_part_that_knows_the_order() -> None:
    ring = ring_data()
    model = create_model("ensemble", PARTS).fit(ring.split.train, valid=ring.split.valid)
    search = model.fit_log_["search"]
    assert model.fit_log_["weights"]["sasrec"] > model.fit_log_["weights"]["pop"]
    assert search["valid_ndcg@10"] >= max(search["single_part_valid_ndcg@10"].values())
    top = model.recommend(ring.queries, 1).items[:, 0]
    assert (top == ring.answers).mean() > 0.8


def test_without_validation_the_configured_weights_are_used(tmp_path) -> None:
    ring = ring_data()
    model = create_model("ensemble", {**PARTS, "weights": [1, 3]}).fit(ring.split.train)
    assert model.fit_log_["weights"] == {"pop": 0.25, "sasrec": 0.75}
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert torch.allclose(loaded.score(ring.queries), model.score(ring.queries), atol=1e-5)


def test_the_grid_covers_the_simplex_evenest_first() -> None:
    points = simplex(3, 10)
    assert len(points) == 66 and all(abs(p.sum() - 1) < 1e-9 for p in points)
    assert points[0].tolist() == pytest.approx([0.3, 0.3, 0.4], abs=0.11)


@pytest.mark.parametrize("values, match", [
    ({"parts": ["ease"]}, "two or more"),
    ({"parts": ["ease", "hybrid"]}, "cannot themselves"),
    ({"parts": ["ease", "pop"], "weights": [1, -1]}, "non-negative"),
    ({"parts": ["ease", "pop"], "weights": [1]}, "needs 2"),
    ({"parts": ["ease", "pop"], "part_configs": {"bpr": {}}}, "not in model.parts"),
])
def test_bad_configs_are_refused_in_one_line(values, match) -> None:
    with pytest.raises(ConfigError, match=match):
        create_model("ensemble", values)


def test_auto_falls_back_to_its_id_parts_when_the_data_has_no_text(tmp_path) -> None:
    from lmrec.testing.toy import block_data

    data = block_data()
    values = {"parts": ["itemknn", "tfidf"], "fallback_parts": ["pop", "itemknn"]}
    with_text = create_model("auto", values).fit(data.split.train, valid=data.split.valid,
                                                 catalog=data.dataset.catalog)
    without = create_model("auto", values).fit(data.split.train, valid=data.split.valid)
    assert set(with_text.fit_log_["weights"]) == {"itemknn", "tfidf"}
    assert set(without.fit_log_["weights"]) == {"pop", "itemknn"}
    without.save(tmp_path / "m")  # the saved config names the parts that were fitted
    assert load_model(tmp_path / "m").config.parts == ("pop", "itemknn")
    assert create_model("auto").config.parts == ("ease", "tfidf", "lm-content", "sasrec-fused")
