"""Bootstrap CIs and paired tests on cases with known answers."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from lmrec.eval.stats import bootstrap_ci, paired_test


def test_constant_values_have_a_point_interval():
    assert bootstrap_ci(np.full(50, 0.25)) == (0.25, 0.25)


def test_ci_covers_the_mean_with_the_normal_width():
    rng = np.random.default_rng(0)
    values = rng.random(4000).round()  # Bernoulli(0.5): sd 0.5, se 0.5 / sqrt(4000) = 0.0079
    low, high = bootstrap_ci(values, n_boot=2000, confidence=0.95, seed=3)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * 0.5 / math.sqrt(4000), rel=0.1)


def test_ci_is_seeded_and_skips_nan():
    values = np.array([0.0, 1.0, 0.5, np.nan, 1.0])
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    low, high = bootstrap_ci(values, seed=7)
    assert 0.0 <= low <= high <= 1.0
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([np.nan])))


def test_identical_runs_differ_by_nothing():
    a = np.random.default_rng(1).random(300)
    for method in ("t", "wilcoxon", "bootstrap", "randomization"):
        out = paired_test(a, a.copy(), method=method)
        assert out["mean_diff"] == 0.0 and out["p_value"] == 1.0 and out["ci"] == (0.0, 0.0)


def test_clearly_better_run_has_tiny_p():
    rng = np.random.default_rng(2)
    b = rng.random(500)
    a = b + 0.1 + 0.05 * rng.standard_normal(500)
    for method in ("t", "wilcoxon"):
        assert paired_test(a, b, method=method)["p_value"] < 1e-10
    for method in ("bootstrap", "randomization"):  # floor of a resampling p-value: 1 / (n + 1)
        assert paired_test(a, b, method=method, n_boot=999)["p_value"] == pytest.approx(1 / 1000)
    out = paired_test(a, b)
    assert out["mean_diff"] == pytest.approx(0.1, abs=0.01)
    assert out["ci"][0] < out["mean_diff"] < out["ci"][1]


def test_t_test_matches_the_formula():
    # d = a - b = [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3) = 1.2910, t = 2.5 / (1.2910 / 2) = 3.8730, df 3
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4)
    t = 2.5 / (math.sqrt(5 / 3) / 2)
    assert t == pytest.approx(3.8730, abs=1e-4)
    assert paired_test(a, b)["p_value"] == pytest.approx(2 * sps.t.sf(t, 3))


def test_methods_agree_and_hold_their_level_under_the_null():
    # 200 null replicates (a, b i.i.d.): each method should reject at 5 % about 5 % of the time
    # (binomial sd sqrt(.05 * .95 / 200) = 0.015, so anything in [0, 0.10] is within ~3 sd)
    rng = np.random.default_rng(4)
    methods = ("t", "wilcoxon", "bootstrap", "randomization")
    p = np.array([[paired_test(a, b, method=m, n_boot=199, seed=i)["p_value"] for m in methods]
                  for i, (a, b) in enumerate(rng.random((200, 2, 60)))])
    assert ((p < 0.05).mean(axis=0) <= 0.10).all()
    assert np.abs(p[:, 2:] - p[:, :1]).max() < 0.1  # the mean-based tests agree (wilcoxon tests the median)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        paired_test(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError):
        paired_test(np.zeros(3), np.ones(3), method="magic")
    with pytest.raises(ValueError):
        bootstrap_ci(np.zeros(3), confidence=1.5)
