"""Scale-out on Ray, on a private local instance: `lmrec encode --workers 2` gives the single-process vectors (Ray
Data actors), `lmrec fit --workers 2` trains data-parallel on Ray Train and writes a normal run; what cannot be
split, or a cluster that cannot be reached, is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from toy_runs import write_two_groups
from typer.testing import CliRunner

from lmrec.cli import app

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (lmrec's sessions reuse it instead of starting their own)."""
    from lmrec.cluster import ray_session

    with ray_session(cpus=2) as session:
        yield session


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_two_groups(tmp_path_factory.mktemp("toy"))


def test_ray_data_encoding_gives_the_single_process_vectors(local_ray, toy_files, tmp_path) -> None:
    pytest.importorskip("sentence_transformers")
    _, items = toy_files
    one = CliRunner().invoke(app, ["encode", "--items", str(items), "--out", str(tmp_path / "one.npz"), "--no-cache"])
    two = CliRunner().invoke(app, ["encode", "--items", str(items), "--out", str(tmp_path / "two.npz"), "--no-cache",
                                   "--workers", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert "2 Ray workers" in two.output
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert a["ids"].tolist() == b["ids"].tolist() and len(a["ids"]) == 40
    cosine = (a["vectors"] * b["vectors"]).sum(1) / (np.linalg.norm(a["vectors"], axis=1)
                                                     * np.linalg.norm(b["vectors"], axis=1))
    assert cosine.min() >= 0.9999


def test_fit_with_two_ray_workers_writes_a_normal_run(local_ray, toy_files, tmp_path) -> None:
    inter, items = toy_files
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "fit", "--interactions", str(inter), "--items", str(items), "-m", "sasrec", "-o", str(run), "--workers", "2",
        "--set", "model.dim=16", "--set", "model.layers=1", "--set", "model.heads=1", "--set", "model.max_len=8",
        "--set", "model.train.epochs=3", "--set", "model.train.batch_size=32"])
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "meta.json").read_text())
    workers = meta["distributed"]["per_worker"]
    assert [w["rank"] for w in workers] == [0, 1] and meta["distributed"]["backend"] == "gloo"
    assert workers[0]["examples"] > 0 and abs(workers[0]["examples"] - workers[1]["examples"]) <= 3  # halves
    assert len(meta["fit_log"]["epochs"]) == 3 and meta["fit_log"]["best_valid"] is not None
    assert (run / "ray").is_dir() and "worker 1:" in result.output
    recommended = CliRunner().invoke(app, ["recommend", str(run), "--user", "user0", "-k", "3", "--json"])
    assert recommended.exit_code == 0, recommended.output
    # Ray's Train controller monitor, still running in this long-lived session, may print a line of its own into
    # the captured stdout after the JSON ("Failed to query Ray Train Controller actor state ..."): read the JSON
    answer, _ = json.JSONDecoder().raw_decode(recommended.output.lstrip())
    assert len(answer["items"]) == 3


def test_what_cannot_be_split_is_one_line(toy_files, tmp_path) -> None:
    inter, _ = toy_files
    result = CliRunner().invoke(app, ["fit", "--interactions", str(inter), "-m", "ease", "-o",
                                      str(tmp_path / "run"), "--workers", "2"])
    assert result.exit_code == 2 and "does not train with gradient steps" in result.output
    result = CliRunner().invoke(app, ["fit", "--interactions", str(inter), "-m", "sasrec", "-o",
                                      str(tmp_path / "run"), "--ray-address", "127.0.0.1:1"])
    assert result.exit_code == 2 and "--ray-address needs --workers" in result.output


@pytest.mark.parametrize("address, says", [("127.0.0.1:1", "no Ray cluster answers there"),
                                           ("nonsense", "expected HOST:PORT")])
def test_a_cluster_that_cannot_be_reached_is_one_line_at_once(toy_files, tmp_path, address, says) -> None:
    inter, items = toy_files
    for verb in (["fit", "--interactions", str(inter), "-m", "sasrec", "-o", str(tmp_path / "run")],
                 ["encode", "--items", str(items), "--out", str(tmp_path / "v.npz")]):
        result = CliRunner().invoke(app, [*verb, "--workers", "2", "--ray-address", address])
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_a_failing_worker_is_one_line(local_ray, toy_files, tmp_path) -> None:
    inter, _ = toy_files
    blocker = tmp_path / "curves"
    blocker.write_text("a file where worker 0 must write its training curves")
    result = CliRunner().invoke(app, ["fit", "--interactions", str(inter), "-m", "sasrec", "-o",
                                      str(tmp_path / "run"), "--workers", "2", "--set", "model.dim=16",
                                      "--set", "model.train.epochs=1", "--tensorboard", str(blocker)])
    assert result.exit_code == 2 and "error: Ray Train failed" in result.output  # (Ray forwards the worker's log)
