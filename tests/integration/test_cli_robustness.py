"""`lmrec robustness` and `lmrec distill` end to end on a small generic run: the report and the student run are
what they claim, the student is a normal run directory, bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_runs import fit_toy_run, two_groups
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.pipeline import load_run

runner = CliRunner()
SEQUENCE = {"dim": 16, "layers": 1, "heads": 1, "max_len": 10, "dropout": 0.1,
            "train": {"epochs": 6, "threads": 1, "batch_size": 32, "precision": "float32", "patience": 100}}


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def fused_run(tmp_path_factory) -> Path:
    model = {"name": "sasrec-fused", **SEQUENCE, "encoder": {"kind": "tfidf", "tfidf_dim": 16}}
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("runs") / "fused", model)


def test_robustness_reports_perturbation_curves_and_shilling(fused_run, tmp_path) -> None:
    report_file = tmp_path / "robustness.json"
    result = invoke("robustness", fused_run, "--attack", "noise,fgsm,random", "--eps", "0,0.5", "--share", "0.05",
                    "--targets", "2", "--out", report_file)
    assert result.exit_code == 0, result.output
    assert "under perturbation" in result.output and "Shilling" in result.output
    report = json.loads(report_file.read_text())
    curve = {(row["kind"], row["eps"]): row["ndcg@10"] for row in report["perturbation"]}
    assert curve[("random", 0.0)] == curve[("adversarial", 0.0)]  # eps 0 is the clean model
    assert curve[("adversarial", 0.5)] < curve[("adversarial", 0.0)]
    rows = report["shilling"]["rows"]
    assert [(r["attack"], r["defence"]) for r in rows] == [("none", "none"), ("none", "detect"),
                                                           ("random", "none"), ("random", "detect")]
    assert rows[2]["fake_profiles"] == 4 and set(rows[3]["detection"]) == {"precision", "recall", "flagged"}
    assert "random" in report["shilling"]["removed_exposure"]


def test_distill_writes_a_student_run_that_evaluates(fused_run, tmp_path) -> None:
    student = tmp_path / "student"
    result = invoke("distill", fused_run, "--out", student, "--set", "model.dim=8", "--set", "model.train.epochs=3",
                    "--set", "model.train.threads=1", "--tensorboard", tmp_path / "tb")
    assert result.exit_code == 0, result.output
    meta = json.loads((student / "meta.json").read_text())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves = EventAccumulator(str(tmp_path / "tb"))
    curves.Reload()
    losses = [round(e.value, 4) for e in curves.Scalars("train/loss")]
    assert meta["tensorboard"] == str(tmp_path / "tb")
    assert losses == [round(e["loss"], 4) for e in meta["fit_log"]["epochs"]]  # one point per student epoch
    counts = meta["distillation"]["parameters"]
    assert counts["student"]["language_model"] == 0 and counts["student"]["total"] < counts["teacher"]["total"]
    run = load_run(student)
    assert run.config.model.name == "sasrec" and run.model.config.dim == 8
    assert invoke("evaluate", student).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--weight", "-1"], "need weight >= 0"),
    (["--set", "data.dataset=ml-100k"], "model.* keys only"),
    (["--model", "ease"], "must be a sequence model"),
])
def test_distill_bad_input_is_one_line(args, message, fused_run, tmp_path) -> None:
    result = invoke("distill", fused_run, "--out", tmp_path / "s", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_robustness_bad_attack_is_one_line(fused_run) -> None:
    result = invoke("robustness", fused_run, "--attack", "sybil")
    assert result.exit_code == 2 and "expected some of" in result.output
