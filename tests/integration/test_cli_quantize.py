"""`lmrec quantize` end to end on a small generic run: the compressed run directory is a normal run that
`evaluate`, `recommend`, the service and `lmrec update` read; meta.json says what was done; bad input is one line
and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from toy_runs import FRUIT, OCEAN, fit_toy_run, two_groups
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.pipeline import load_run
from lmrec.pipeline.rundir import REQUIRED, RunDir

runner = CliRunner()
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEQUENCE = {"dim": 16, "layers": 1, "heads": 1, "max_len": 10, "dropout": 0.1,
            "train": {"epochs": 6, "threads": 1, "batch_size": 32, "precision": "float32", "patience": 100}}


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def dataset():
    return two_groups()


@pytest.fixture(scope="module")
def sasrec_run(dataset, tmp_path_factory) -> Path:
    return fit_toy_run(dataset, tmp_path_factory.mktemp("runs") / "sasrec", {"name": "sasrec", **SEQUENCE})


@pytest.fixture(scope="module")
def fused_run(dataset, tmp_path_factory) -> Path:
    model = {"name": "sasrec-fused", **SEQUENCE, "encoder": {"kind": "tfidf", "tfidf_dim": 16}}
    return fit_toy_run(dataset, tmp_path_factory.mktemp("runs") / "fused", model)


def quantize(run: Path, out: Path, method: str) -> Path:
    result = invoke("quantize", run, "--out", out, "--method", method)
    assert result.exit_code == 0, result.output
    assert method.split(",")[0].split(":")[0] in result.output
    return out


def recommended(run: Path, *args: str) -> list[dict]:
    result = invoke("recommend", run, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["items"]


@pytest.mark.parametrize(("method", "form"), [("int8", "int8"), ("onnx", "onnx"), ("prune:0.5,int8", "int8")])
def test_quantize_writes_a_run_that_evaluates_and_recommends(sasrec_run, tmp_path, method, form) -> None:
    out = quantize(sasrec_run, tmp_path / "small", method)
    assert all((out / name).exists() for name in REQUIRED)
    assert not (out / "metrics.json").exists() and not (out / "events.sqlite").exists()  # RUN's own, not copied
    meta = json.loads((out / "meta.json").read_text())
    info = meta["compression"]
    assert info["method"] == method and info["inference"] == form
    assert info["weights_bytes"] == (out / "model" / "weights.safetensors").stat().st_size
    assert info["source"]["run"] == str(sasrec_run.resolve()) and info["source"]["version"] is None
    assert info["parameters"] >= info["nonzero_parameters"] > 0
    if "prune" in method:
        assert info["pruning"]["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert 0.5 <= info["agreement"]["top_k_overlap"] <= 1.0
    loaded = load_run(out)
    assert loaded.model.config.inference == form and loaded.config.model.params["inference"] == form
    assert meta["split"] == json.loads((sasrec_run / "meta.json").read_text())["split"]

    for run in (sasrec_run, out):
        result = invoke("evaluate", run, "-k", "10")
        assert result.exit_code == 0, result.output
    before = json.loads((sasrec_run / "metrics.json").read_text())["test"]["ndcg@10"]
    after = json.loads((out / "metrics.json").read_text())["test"]["ndcg@10"]
    assert after == pytest.approx(before, abs=1e-6 if method == "onnx" else 0.1)
    items = recommended(out, "--user", "user3", "-k", "5")
    assert len(items) == 5
    if method == "onnx":  # the float32 net through ONNX Runtime: the same list
        assert [r["item_id"] for r in items] == [r["item_id"] for r in recommended(sasrec_run, "--user", "user3",
                                                                                      "-k", "5")]


def test_a_quantized_run_serves_and_updates(fused_run, tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from lmrec.online.updater import UpdateConfig, update_run
    from lmrec.serve import ServeConfig, create_app

    out = quantize(fused_run, tmp_path / "int8", "prune:0.3,int8")
    client = TestClient(create_app(out, ServeConfig(token=TOKEN)), headers=AUTH, raise_server_exceptions=False)
    response = client.post("/recommend", json={"history": FRUIT[:4], "k": 5})
    assert response.status_code == 200, response.text
    served = [r["item_id"] for r in response.json()["items"]]
    assert served == [r["item_id"] for r in recommended(out, "--history", ",".join(FRUIT[:4]), "-k", "5")]
    added = client.post("/items", json={"item_id": "n1", "text": "red apple fruit sweet new"})
    assert added.status_code == 201, added.text  # the int8 form compresses the net; the item table still grows
    assert client.post("/events", json=[{"user_id": "user2", "item_id": i} for i in OCEAN[:3]]).status_code == 201
    version = update_run(out, config=UpdateConfig(epochs=1))  # partial_fit trains the float32 weights
    assert client.app.state.serving.refresh()
    assert client.get("/health").json()["model_version"] == version
    updated = load_run(out)
    assert updated.version == version and updated.model.config.inference == "int8"
    assert client.post("/recommend", json={"user_id": "user2", "k": 5}).status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (["{run}", "--out", "{tmp}/x", "--method", "int4"], "unknown part 'int4'"),
    (["{run}", "--out", "{tmp}/x", "--method", "prune:2"], "(0, 1)"),
    (["{run}", "--out", "{tmp}/x", "--method", "int8,onnx"], "one of int8 and onnx"),
    (["{run}", "--out", "{tmp}/full", "--method", "int8"], "not empty"),
    (["{run}", "--out", "{run}", "--method", "int8"], "not empty"),
    (["{run}", "--out", "{run}/inner", "--method", "int8"], "outside the run"),
    (["{tmp}/not-a-run", "--out", "{tmp}/x", "--method", "int8"], "no such run directory"),
    (["{ease}", "--out", "{tmp}/x", "--method", "int8"], "sequence models"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, sasrec_run, dataset, tmp_path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    ease = tmp_path / "ease"
    if "{ease}" in args:
        fit_toy_run(dataset, ease, {"name": "ease", "reg_weight": 10})
    result = invoke("quantize", *[a.format(run=sasrec_run, tmp=tmp_path, ease=ease) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "x").exists() and not (sasrec_run / "inner").exists()  # nothing half-written


def test_an_updated_run_is_compressed_at_its_current_version(sasrec_run, tmp_path) -> None:
    from lmrec.online.events import Event, EventLog
    from lmrec.online.updater import UpdateConfig, update_run

    run = Path(shutil.copytree(sasrec_run, tmp_path / "run"))
    with EventLog(RunDir(run).events) as log:
        log.append([Event("user1", item) for item in OCEAN[:2]] + [Event("newcomer", FRUIT[0])])
    version = update_run(run, config=UpdateConfig(epochs=1))
    out = quantize(run, tmp_path / "onnx", "onnx")
    info = json.loads((out / "meta.json").read_text())["compression"]
    assert info["source"]["version"] == version != "initial"
    source, small = load_run(run), load_run(out)
    assert small.version is None and "newcomer" in small.users  # the version's users and histories, as its base
    assert np.array_equal(small.history.items, source.history.items)
    histories = source.history.histories(np.arange(5))
    assert np.allclose(small.model.score(histories), source.model.score(histories), atol=1e-4)  # its weights


def test_a_run_awaiting_a_retrain_after_an_erasure_is_not_compressed(sasrec_run, tmp_path) -> None:
    run = Path(shutil.copytree(sasrec_run, tmp_path / "run"))
    RunDir(run).commit_update_state({**RunDir(run).update_state(), "retrain_required": True})
    result = invoke("quantize", run, "--out", tmp_path / "x", "--method", "int8")
    assert result.exit_code == 2 and "retrain_required" in result.output
    assert not (tmp_path / "x").exists()
