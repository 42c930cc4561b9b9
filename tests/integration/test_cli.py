"""The CLI contract end to end on small generic files: fit -> evaluate -> recommend, and bad input -> exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """Two taste groups over 40 items with group-specific words in the item text."""
    folder = tmp_path_factory.mktemp("generic")
    rng = np.random.default_rng(0)
    rows = []
    for u in range(80):
        group = u % 2
        items = rng.choice(np.arange(20) + 20 * group, size=8, replace=False)
        rows += [(f"user{u}", f"item{i:02d}", 1_600_000_000 + 60 * t) for t, i in enumerate(items)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(folder / "inter.csv", index=False)
    words = ["red apple fruit", "blue ocean water"]
    titles = [f"{words[i // 20]} number {i}" for i in range(40)]
    pd.DataFrame({"item_id": [f"item{i:02d}" for i in range(40)], "title": titles}).to_csv(folder / "items.csv",
                                                                                      index=False)
    return folder / "inter.csv", folder / "items.csv"


@pytest.fixture(scope="module")
def run_dir(files, tmp_path_factory) -> Path:
    inter, items = files
    out = tmp_path_factory.mktemp("run") / "ease"
    result = invoke("fit", "--interactions", inter, "--items", items, "--model", "ease", "--out", out,
                    "--set", "model.reg_weight=10")
    assert result.exit_code == 0, result.output
    return out


def test_fit_writes_the_run_directory(run_dir: Path) -> None:
    for name in ("config.yaml", "ids.json", "split.npz", "history.npz", "meta.json", "model/weights.safetensors"):
        assert (run_dir / name).exists(), name
    assert "reg_weight: 10" in (run_dir / "config.yaml").read_text()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert len(meta["split"]["fingerprint"]) == 16 and meta["dataset"]["users"] == 80


def test_evaluate_writes_metrics_and_recomputable_files(run_dir: Path) -> None:
    result = invoke("evaluate", run_dir, "-k", "5,10")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"test", "valid"}
    assert 0.0 <= metrics["test"]["ndcg@5"] <= 1.0 and "ndcg@5" in metrics["test"]["ci"]
    recs = pd.read_csv(run_dir / "recommendations.csv", dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert recs.groupby("user_id").size().max() == 10
    check = subprocess.run([sys.executable, str(REPO / "bench" / "recompute_metrics.py"), str(run_dir)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_recommend_for_known_user_and_raw_history(run_dir: Path) -> None:
    result = invoke("recommend", run_dir, "--user", "user0", "-k", "5", "--json")
    assert result.exit_code == 0, result.output
    items = [row["item_id"] for row in json.loads(result.stdout)["items"]]
    assert len(items) == 5
    result = invoke("recommend", run_dir, "--history", "item01,item02,nope", "-k", "5", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["unknown_items"] == ["nope"]
    assert all(int(row["item_id"][4:]) < 20 for row in payload["items"]), "group-0 history -> group-0 items"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--model", "ease", "--out", "{tmp}/x"], "no data given"),
        (["fit", "--dataset", "ml-100k", "--interactions", "{inter}", "--model", "ease", "--out", "{tmp}/x"],
         "either --dataset or --interactions"),
        (["fit", "--interactions", "{inter}", "--model", "nosuchmodel", "--out", "{tmp}/x"], "unknown model"),
        (["fit", "--interactions", "{inter}", "--model", "ease", "--out", "{tmp}/x", "--set", "model.nope=1"],
         "unknown key"),
        (["fit", "--interactions", "{inter}", "--model", "ease", "--out", "{tmp}/x", "--set", "model.reg_weight=abc"],
         "reg_weight"),
        (["fit", "--interactions", "{tmp}/missing.csv", "--model", "ease", "--out", "{tmp}/x"], "missing.csv"),
        (["fit", "--dataset", "no-such-dataset", "--model", "ease", "--out", "{tmp}/x"], "no-such-dataset"),
        (["evaluate", "{tmp}/not-a-run"], "not-a-run"),
        (["evaluate", "{run}", "-k", "ten"], "-k"),
        (["recommend", "{run}", "--user", "ghost"], "ghost"),
        (["recommend", "{run}", "--history", "nope1,nope2"], "none of the history items"),
        (["recommend", "{run}", "--history", " , "], "empty"),
        (["recommend", "{run}"], "exactly one"),
        (["benchmark", "--dataset", "ml-100k", "--models", "pop,bogus", "--out", "{tmp}/b"], "unknown model"),
        (["fit", "--interactions", "{inter}", "--model", "ease", "--out", "{tmp}/x", "--device", "tpu"], "--device"),
        (["evaluate", "{run}", "--device", "quantum"], "--device"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args, message, files, run_dir, tmp_path) -> None:
    inter, _ = files
    filled = [a.format(tmp=tmp_path, inter=inter, run=run_dir) for a in args]
    result = invoke(*filled)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one line, whatever the width


def test_errors_stay_one_line_with_a_long_path_in_80_columns(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "not-a-run"
    result = runner.invoke(app, ["evaluate", str(deep)], env={"COLUMNS": "80"})
    assert result.exit_code == 2 and str(deep) in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_compare_two_runs_on_the_same_split(files, run_dir: Path, tmp_path: Path) -> None:
    inter, items = files
    pop = tmp_path / "pop"
    assert invoke("fit", "--interactions", inter, "--items", items, "--model", "pop", "--out", pop).exit_code == 0
    assert invoke("evaluate", pop, "-k", "5,10").exit_code == 0
    assert invoke("evaluate", run_dir, "-k", "5,10").exit_code == 0
    result = invoke("compare", pop, run_dir, "--metric", "ndcg@10")
    assert result.exit_code == 0, result.output
    assert "p=" in result.output and "80 users" in result.output
    bad = invoke("compare", pop, run_dir, "--metric", "nope@3")
    assert bad.exit_code == 2 and "available" in bad.output


def test_fused_sequence_model_runs_on_generic_files(files, tmp_path: Path) -> None:
    """Issue #3: `lmrec fit --interactions --items --model sasrec-fused` then `lmrec evaluate`, unchanged."""
    inter, items = files
    out = tmp_path / "fused"
    result = invoke("fit", "--interactions", inter, "--items", items, "--model", "sasrec-fused", "--out", out,
                    "--set", "model.train.epochs=3", "--set", "model.train.threads=1", "--set", "model.dim=16")
    assert result.exit_code == 0, result.output
    epochs = [line for line in result.output.splitlines() if line.startswith("fit sasrec-fused: epoch ")]
    assert len(epochs) == 3 and "loss" in epochs[0] and "valid" in epochs[0]  # no terminal: one line per epoch
    assert "on cpu" in " ".join(result.output.split())
    assert invoke("evaluate", out, "-k", "5").exit_code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["ndcg@5"] <= 1.0
    # inductive text tower: the saved model carries its text vectors, so loading needs no encoder run
    result = invoke("recommend", out, "--history", "item21,item22", "-k", "3", "--json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["items"]) == 3


def test_fit_an_ensemble_prints_the_weights_validation_chose(files, tmp_path: Path) -> None:
    inter, items = files
    result = invoke("fit", "--interactions", inter, "--items", items, "--model", "ensemble", "--out",
                    tmp_path / "e", "--set", "model.parts=pop,itemknn,tfidf")
    assert result.exit_code == 0, result.output
    assert "weights: " in result.output and "validation NDCG@10" in result.output


def test_fit_with_a_users_file_prints_which_attributes_it_read(files, tmp_path: Path) -> None:
    inter, _ = files
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [f"item{i:02d}" for i in range(40)],
                  "title": [f"{['red apple', 'blue ocean'][i // 20]} {i}" for i in range(40)],
                  "shelf": [f"s{i // 20}" for i in range(40)]}).to_csv(items, index=False)
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": [f"user{u}" for u in range(80)], "taste": [f"t{u % 2}" for u in range(80)],
                  "email": [f"user{u}@example.org" for u in range(80)]}).to_csv(users, index=False)
    result = invoke("fit", "--interactions", inter, "--items", items, "--users", users, "-m", "sasrec-attr",
                    "--out", tmp_path / "run", "--set", "model.encoder.kind=tfidf", "--set", "model.dim=8",
                    "--set", "model.train.epochs=1")
    assert result.exit_code == 0, result.output
    assert "item attributes (inferred): shelf (categorical, 2 values)" in result.output
    assert "user attributes (inferred; skipped email): taste (categorical, 2 values)" in result.output
    broken = tmp_path / "broken.csv"
    broken.write_text("id,taste\nuser1,t1\n")
    result = invoke("fit", "--interactions", inter, "--items", items, "--users", broken, "-m", "pop",
                    "--out", tmp_path / "run2")
    assert result.exit_code == 2 and "no user ID column 'user_id'" in result.output
