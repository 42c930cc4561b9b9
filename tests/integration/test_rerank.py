"""One ranking pipeline: `lmrec evaluate RUN --rerank mmr:0.7` measures exactly the lists POST /recommend returns
with the same diversity setting for the same history, and reports the diversity it buys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app  # noqa: E402
from lmrec.pipeline import load_run  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

TFIDF = {"kind": "tfidf", "tfidf_dim": 16}
MODELS = {
    "lm-content": {"name": "lm-content", "encoder": TFIDF},
    "sasrec-text": {"name": "sasrec-text", "dim": 16, "layers": 1, "heads": 1, "max_len": 10, "encoder": TFIDF,
                    "train": {"epochs": 3, "threads": 1, "batch_size": 32, "precision": "float32"}},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def run_dir(request, tmp_path_factory) -> Path:
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("rerank") / request.param, MODELS[request.param])


def evaluate(run_dir: Path, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "-k", "10", "--device", "cpu", *extra])
    assert result.exit_code == 0, result.output
    return json.loads((run_dir / "metrics.json").read_text())


def test_evaluate_rerank_equals_the_service_and_buys_diversity(run_dir: Path, tmp_path: Path) -> None:
    plain = evaluate(run_dir)["test"]
    diverse = evaluate(run_dir, "--rerank", "mmr:0.7")
    assert diverse["rerank"] == ["mmr:0.7"]
    test = diverse["test"]
    assert 0.0 <= test["ndcg@10"] <= 1.0 and test["ild_cos@10"] > plain["ild_cos@10"]
    listed = pd.read_csv(run_dir / "recommendations.csv", dtype=str)
    run = load_run(run_dir)
    served = Path(shutil.copytree(run_dir, tmp_path / "served"))
    client = TestClient(create_app(served, ServeConfig(token="t")), headers={"Authorization": "Bearer t"})
    users = run.split.test.users[:12]
    for row, user in enumerate(users):
        history = run.items.to_raw(run.split.test.inputs.row(row)).tolist()
        answer = client.post("/recommend", json={"history": history, "k": 10, "diversity": {"lambda": 0.7}})
        assert answer.status_code == 200, answer.text
        mine = listed[listed.user_id == run.users.raw[user]].sort_values("rank", key=lambda r: r.astype(int))
        assert [i["item_id"] for i in answer.json()["items"]] == mine.item_id.tolist()


def test_bad_rerank_specs_are_one_line_errors(run_dir: Path) -> None:
    for spec, message in (("mmr:high", "expected mmr:NUMBER"), ("mmr:1.5", "lambda must be in [0, 1]"),
                          ("shuffle", "unknown stage 'shuffle'")):
        result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--rerank", spec])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("spec", ["calibrated:0.9", "fair:0.9"])
def test_list_level_stages_are_the_same_offline_and_served(run_dir: Path, tmp_path: Path, spec: str) -> None:
    plain = evaluate(run_dir)["test"]
    reranked = evaluate(run_dir, "--rerank", spec)["test"]
    assert "miscalibration@10" in reranked and "exposure_gap@10" in reranked
    if spec == "fair:0.9":
        assert abs(reranked["exposure_gap@10"]) < abs(plain["exposure_gap@10"])  # closer to parity
    listed = pd.read_csv(run_dir / "recommendations.csv", dtype=str)
    run = load_run(run_dir)
    served = Path(shutil.copytree(run_dir, tmp_path / "served"))
    client = TestClient(create_app(served, ServeConfig(token="t")), headers={"Authorization": "Bearer t"})
    for row, user in enumerate(run.split.test.users[:8]):
        history = run.items.to_raw(run.split.test.inputs.row(row)).tolist()
        answer = client.post("/recommend", json={"history": history, "k": 10, "rerank": [spec]})
        assert answer.status_code == 200, answer.text
        mine = listed[listed.user_id == run.users.raw[user]].sort_values("rank", key=lambda r: r.astype(int))
        assert [i["item_id"] for i in answer.json()["items"]] == mine.item_id.tolist()
    bad = client.post("/recommend", json={"history": history, "rerank": ["fair:0.5:colour"]})
    assert bad.status_code == 422 and "no field 'colour'" in bad.text
    path = client.post("/recommend", json={"history": history, "rerank": [f"llm:{run_dir}"]})  # no path opened
    assert path.status_code == 422 and "only `lmrec evaluate` loads one" in path.text
