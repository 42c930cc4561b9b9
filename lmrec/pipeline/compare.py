"""Paired comparison of two evaluated runs on the users both evaluated (same split required)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.pipeline.rundir import RunDir


def compare_runs(a: str | Path, b: str | Path, *, metric: str = "ndcg@10", method: str = "t") -> dict[str, Any]:
    """Paired comparison of two evaluated runs on the users both evaluated (same split required)."""
    from lmrec.eval.stats import paired_test

    if method not in ("t", "wilcoxon", "bootstrap", "randomization"):
        raise ConfigError(f"--method {method!r}: use t, wilcoxon, bootstrap or randomization")
    frames = []
    for directory in (Path(a), Path(b)):
        path = RunDir(directory).per_user
        if not path.is_file():
            raise ModelFileError(f"{path}: missing; run `lmrec evaluate {directory}` first")
        frame = pd.read_csv(path, dtype={"user_id": str})
        if metric not in frame.columns:
            raise ConfigError(f"metric {metric!r} not in {path}; available: {[c for c in frame.columns[1:]]}")
        frames.append(frame[["user_id", metric]])
    fingerprints = [_fingerprint(RunDir(d)) for d in (a, b)]
    if fingerprints[0] != fingerprints[1]:
        raise DataError(f"the runs used different splits ({fingerprints[0]} vs {fingerprints[1]}); "
                        "a paired test needs the same users and targets")
    joined = frames[0].merge(frames[1], on="user_id", suffixes=("_a", "_b"))
    result = paired_test(joined[f"{metric}_b"].to_numpy(), joined[f"{metric}_a"].to_numpy(), method=method)
    return {"metric": metric, "a": str(a), "b": str(b), "mean_a": float(joined[f"{metric}_a"].mean()),
            "mean_b": float(joined[f"{metric}_b"].mean()), "users": len(joined), **result}


def _fingerprint(run_dir: RunDir) -> str:
    try:
        return str(json.loads(run_dir.meta.read_text())["split"]["fingerprint"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{run_dir.meta}: no split fingerprint ({exc})") from None
