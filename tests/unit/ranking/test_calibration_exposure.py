"""The list-level re-rankers against hand-worked cases: calibration matches the history's category mix, fair
exposure gives the long tail its catalogue share, both keep the retriever's order at lambda 0."""

import numpy as np
import pytest

from lmrec.data.types import Histories
from lmrec.errors import ConfigError
from lmrec.eval import beyond
from lmrec.ranking import Candidates, StageInputs, parse_stages
from lmrec.ranking.calibration import Calibrated, category_matrix, history_mix, kl_divergence
from lmrec.ranking.exposure import FairExposure, field_groups, popularity_groups

# items 0-3 are drama, 4-7 comedy, 8 both, 9 has no category
CATEGORIES = [frozenset({"drama"})] * 4 + [frozenset({"comedy"})] * 4 + [frozenset({"drama", "comedy"}),
                                                                        frozenset()]
MATRIX = category_matrix(CATEGORIES)  # columns: comedy, drama


def ranked(items: list[int]) -> Candidates:
    return Candidates(np.asarray([items], np.int64), np.linspace(1.0, 0.0, len(items), dtype=np.float32)[None])


def test_the_category_matrix_spreads_an_item_over_its_categories() -> None:
    assert MATRIX[8].tolist() == [0.5, 0.5] and MATRIX[9].tolist() == [0.0, 0.0]
    with pytest.raises(ConfigError, match="needs item categories"):
        category_matrix([frozenset()] * 3)


def test_calibration_matches_the_history_mix() -> None:
    history = Histories.from_lists([[0, 1, 4]])  # two thirds drama, one third comedy
    assert history_mix(history, MATRIX).round(3).tolist() == [[0.333, 0.667]]
    found = ranked([0, 1, 2, 3, 4, 5, 6])  # the retriever's list is all drama at the top
    plain = Calibrated(0.0, MATRIX).rerank(found, 3, history)
    assert plain.items.tolist() == [[0, 1, 2]]
    calibrated = Calibrated(0.9, MATRIX).rerank(found, 3, history)
    assert sorted(calibrated.items[0].tolist()) == [0, 1, 4]  # two drama, one comedy: the history's mix
    p = history_mix(history, MATRIX)
    kl = beyond.miscalibration(np.vstack([plain.items, calibrated.items]), 3, np.vstack([p, p]), MATRIX)
    assert kl[1] < kl[0] and kl[1] == pytest.approx(0.0, abs=1e-6)


def test_a_history_without_categories_keeps_the_relevance_order() -> None:
    out = Calibrated(1.0, MATRIX).rerank(ranked([0, 1, 4]), 2, Histories.from_lists([[9]]))
    assert out.items.tolist() == [[0, 1]]


def test_kl_is_zero_for_equal_mixes_and_finite_for_missing_categories() -> None:
    p = np.asarray([0.5, 0.5])
    assert kl_divergence(p, p) == pytest.approx(0.0)
    assert np.isfinite(kl_divergence(p, np.asarray([1.0, 0.0])))


def test_fair_exposure_gives_the_tail_its_share() -> None:
    counts = np.asarray([50, 40, 30, 20, 10, 1, 1, 1, 1, 1])
    groups = popularity_groups(counts)  # head: items 0 and 1 (the top fifth)
    assert groups.tolist() == [0, 0] + [1] * 8
    found = ranked([0, 1, 2, 3, 4, 5])
    assert FairExposure(0.0, groups).rerank(found, 5).items.tolist() == [[0, 1, 2, 3, 4]]
    fair = FairExposure(1.0, groups).rerank(found, 5).items[0]
    assert (groups[fair] == 0).sum() == 1  # a fifth of five places
    head = groups == 0
    assert beyond.exposure_gap(fair[None], 5, head) < beyond.exposure_gap(found.items[:, :5], 5, head)


def test_provider_groups_come_from_a_field() -> None:
    groups, names = field_groups([frozenset({"acme"}), frozenset(), frozenset({"zeta", "acme"})])
    assert names == ("(none)", "acme") and groups.tolist() == [1, 0, 1]


def test_specs_parse_into_stages_and_name_what_they_lack() -> None:
    sets = {"genre": CATEGORIES, "brand": [frozenset({f"b{i % 3}"}) for i in range(10)]}
    inputs = StageInputs(None, lambda name: sets[name or "genre"], np.arange(10))
    calibrated, fair, brand = parse_stages(["calibrated:0.4", "fair:0.2", "fair:0.5:brand"], inputs)
    assert isinstance(calibrated, Calibrated) and calibrated.lam == 0.4
    assert isinstance(fair, FairExposure) and fair.names == ("head", "tail")
    assert brand.names == ("b0", "b1", "b2")
    with pytest.raises(ConfigError, match="needs item categories"):
        parse_stages(["calibrated:0.5"], StageInputs())
    with pytest.raises(ConfigError, match="training counts"):
        parse_stages(["fair:0.5"], StageInputs())
    with pytest.raises(ConfigError, match=r"lambda must be in \[0, 1\]"):
        parse_stages(["fair:2"], inputs)


def test_amortized_exposure_evens_out_providers_across_lists() -> None:
    from lmrec.ranking.exposure import AmortizedExposure

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 10)  # 10 providers of 10 items each
    scores = rng.random((200, 100)) + (groups[None, :] < 2) * 2.0  # the retriever loves providers 0 and 1
    order = np.argsort(-scores, axis=1)
    found = Candidates(order, np.take_along_axis(scores, order, axis=1).astype(np.float32))
    plain = beyond.group_exposure_gini(found.items[:, :10], 10, groups)
    stage = AmortizedExposure(0.7, groups, tuple(f"p{g}" for g in range(10)), chunk=16)
    fair = stage.rerank(found, 10)
    assert beyond.group_exposure_gini(fair.items, 10, groups) < plain / 2
    assert stage.exposure.sum() > 0
    (parsed,) = parse_stages(["fair:0.5:brand"], StageInputs(None, lambda name: [frozenset({f"p{g}"}) for g in groups]))
    assert isinstance(parsed, AmortizedExposure)
