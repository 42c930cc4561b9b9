"""Uncertainty over users: percentile-bootstrap confidence intervals and paired tests between two runs.

The unit of resampling is the user: per-user metric values are i.i.d. draws under the usual assumption, and
two runs on the same holdout are paired by user.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats as sps

_DRAWS_PER_CHUNK = 4_000_000  # resample indices held at once (int64: 32 MB)


def bootstrap_means(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """[n_boot] means of `values` resampled with replacement, in chunks so memory stays bounded."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    chunk = max(1, _DRAWS_PER_CHUNK // max(n, 1))
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def bootstrap_ci(per_user: np.ndarray, n_boot: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean over users; NaN entries (undefined values) are left out."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(per_user, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0 or n_boot < 1:
        return (float("nan"), float("nan"))
    means = bootstrap_means(values, n_boot, seed)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))


Method = Literal["t", "wilcoxon", "bootstrap", "randomization"]


def paired_test(a: np.ndarray, b: np.ndarray, method: Method = "t", *, n_boot: int = 1000,
                confidence: float = 0.95, seed: int = 0) -> dict:
    """Compare two runs over the same users (a[i] and b[i] belong to one user): is mean(a - b) zero?

    Returns `mean_diff` (a - b), `ci` (percentile bootstrap of the mean difference) and a two-sided `p_value`:
    "t" paired t-test (scipy.stats.ttest_rel); "wilcoxon" signed-rank test; "bootstrap" the bootstrap test of
    Efron & Tibshirani (16.4): resample the differences re-centred on zero, p = share of |mean*| >= |mean|;
    "randomization" sign-flip permutation test. Identical runs give mean_diff 0 and p_value 1.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired runs need equal 1-d shapes; got {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    diff = a[keep] - b[keep]
    n = len(diff)
    mean_diff = float(diff.mean()) if n else float("nan")
    ci = bootstrap_ci(diff, n_boot, confidence, seed)
    if n == 0:
        p = float("nan")
    elif np.all(diff == 0):
        p = 1.0
    elif method == "t":
        p = 0.0 if np.all(diff == diff[0]) else float(sps.ttest_rel(a[keep], b[keep]).pvalue)
    elif method == "wilcoxon":
        p = float(sps.wilcoxon(diff, zero_method="wilcox").pvalue) if np.any(diff != 0) else 1.0
    elif method == "bootstrap":
        null = bootstrap_means(diff - diff.mean(), n_boot, seed + 1)
        p = float((1 + np.sum(np.abs(null) >= abs(mean_diff) - 1e-15)) / (n_boot + 1))
    elif method == "randomization":
        p = _sign_flip_p(diff, n_boot, seed + 1)
    else:
        raise ValueError(f"unknown method {method!r}; use 't', 'wilcoxon', 'bootstrap' or 'randomization'")
    return {"mean_diff": mean_diff, "ci": ci, "p_value": p, "method": method, "n": int(n)}


def _sign_flip_p(diff: np.ndarray, n_perm: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    observed = abs(diff.mean())
    extreme = 0
    chunk = max(1, _DRAWS_PER_CHUNK // len(diff))
    for start in range(0, n_perm, chunk):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(chunk, n_perm - start), len(diff)))
        extreme += int(np.sum(np.abs((signs * diff).mean(axis=1)) >= observed - 1e-15))
    return float((1 + extreme) / (n_perm + 1))
