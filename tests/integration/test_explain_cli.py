"""`lmrec recommend RUN --explain`: one JSON line per recommended item with its attribution to the history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_runs import fit_toy_run, two_groups
from typer.testing import CliRunner

from lmrec.cli import app

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    model = {"name": "sasrec-fused", "dim": 16, "layers": 1, "heads": 1, "max_len": 10,
             "encoder": {"kind": "tfidf", "tfidf_dim": 16},
             "train": {"epochs": 3, "threads": 1, "batch_size": 32, "precision": "float32"}}
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("explain") / "fused", model)


def test_explain_prints_a_json_line_per_item(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["recommend", str(run_dir), "--user", "user3", "-k", "4", "--explain"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["rank"] for line in lines] == [1, 2, 3, 4]
    for line in lines:
        why = line["explanation"]
        assert why["method"] == "gradients" and why["drivers"] and why["reason"].startswith("Because you chose")
    loo = CliRunner().invoke(app, ["recommend", str(run_dir), "--history", "item01,item02", "-k", "2", "--explain",
                                   "--explain-method", "leave-one-out"])
    assert loo.exit_code == 0 and json.loads(loo.output.splitlines()[0])["explanation"]["method"] == "leave-one-out"
    bad = CliRunner().invoke(app, ["recommend", str(run_dir), "--user", "user3", "--explain", "--explain-method", "x"])
    assert bad.exit_code == 2 and "choose one of" in bad.output
