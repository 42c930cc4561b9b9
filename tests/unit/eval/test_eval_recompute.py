"""bench/recompute_metrics.py: an independent recomputation agrees with evaluate() on a hand-made run dir."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_models import RandomScores

from lmrec.data.split import Holdout
from lmrec.data.types import Sequences
from lmrec.eval import EvalOptions, evaluate, write_recommendations

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "recompute_metrics.py"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """40 users, 30 items, 1-4 targets each (one planted in the history, so one is dropped), random scores."""
    rng = np.random.default_rng(5)
    inputs, targets = [], []
    for _ in range(40):
        items = rng.choice(30, size=rng.integers(3, 9), replace=False)
        n_t = int(rng.integers(1, 5))
        inputs.append(items[n_t:].tolist())
        targets.append(items[:n_t].tolist())
    targets[0] = targets[0] + [inputs[0][0]]
    holdout = Holdout(np.arange(40), Sequences.from_lists(inputs), Sequences.from_lists(targets))
    options = EvalOptions(ks=(1, 5, 10), n_bootstrap=50)
    result = evaluate(RandomScores(30, seed=2), holdout, n_items=30, options=options)
    assert result.dropped_targets == 1
    directory = tmp_path_factory.mktemp("run")
    users = np.array([f"user-{i:02d}" for i in range(40)], dtype=object)
    items = np.array([str(1000 + i) for i in range(30)], dtype=object)  # numeric-looking raw IDs stay strings
    write_recommendations(result.ranking, users, items, directory / "recommendations.csv",
                          directory / "targets.csv", k=10)
    (directory / "metrics.json").write_text(json.dumps({"test": {**result.to_json(), "seconds": 0.1}}))
    return directory


def recompute(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(directory)], capture_output=True, text=True,
                          timeout=60)


def test_recomputation_agrees(run_dir):
    done = recompute(run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all agree" in done.stdout
    assert done.stdout.count("@") == 18  # 6 metrics x 3 cut-offs


def test_tampered_metric_is_caught(run_dir, tmp_path):
    for name in ("recommendations.csv", "targets.csv"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["test"]["ndcg@5"] += 1e-6
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    done = recompute(tmp_path)
    assert done.returncode == 1 and "MISMATCH" in done.stdout


def test_script_does_not_use_lmrec():
    source = SCRIPT.read_text()
    assert "import lmrec" not in source and "from lmrec" not in source
