"""Training curves: every epoch's loss, validation score, learning rate and throughput land in TensorBoard event
files that TensorBoard itself reads back; `lmrec fit` and `lmrec benchmark` write them on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from lmrec.errors import ConfigError  # noqa: E402
from lmrec.models.registry import create_model  # noqa: E402
from lmrec.testing.toy import ring_data  # noqa: E402
from lmrec.train.curves import TrainingCurves  # noqa: E402


def scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_fit_writes_one_point_per_epoch_of_what_its_log_records(tmp_path: Path) -> None:
    ring = ring_data()
    model = create_model("sasrec", {"dim": 16, "max_len": 8, "train": {"epochs": 3, "threads": 1, "lr": 0.01}})
    with TrainingCurves(tmp_path / "tb") as curves:
        model.fit(ring.split.train, valid=ring.split.valid, progress=curves)
    found = scalars(tmp_path / "tb")
    epochs = model.fit_log_["epochs"]
    assert [step for step, _ in found["train/loss"]] == list(range(1, len(epochs) + 1))
    assert [round(v, 4) for _, v in found["train/loss"]] == [round(e["loss"], 4) for e in epochs]
    assert [round(v, 4) for _, v in found["valid/ndcg@10"]] == [round(e["valid"], 4) for e in epochs]
    assert all(abs(v - 0.01) < 1e-6 for _, v in found["train/learning_rate"])
    assert all(v > 0 for _, v in found["train/examples_per_second"])


def test_a_file_where_the_folder_should_be_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tb").write_text("not a folder")
    with pytest.raises(ConfigError, match="not a directory"):
        TrainingCurves(tmp_path / "tb")


def test_fit_and_benchmark_write_curves_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lmrec.cli import app

    ring = ring_data()
    inter = ring.dataset.interactions
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{i},{t}\n" for u, i, t in zip(inter.user, inter.item, inter.timestamp, strict=True)))
    tiny = ["--set", "model.dim=8", "--set", "model.max_len=8", "--set", "model.train.epochs=2",
            "--set", "model.train.threads=1"]
    runner = CliRunner()
    result = runner.invoke(app, ["fit", "--interactions", str(path), "--model", "sasrec", "--out",
                                 str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"), *tiny])
    assert result.exit_code == 0, result.output
    assert "tensorboard --logdir" in " ".join(result.output.split())
    assert len(scalars(tmp_path / "tb")["train/loss"]) == 2
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["tensorboard"] == str(tmp_path / "tb")
    result = runner.invoke(app, ["benchmark", "--interactions", str(path), "--models", "pop,sasrec", "--out",
                                 str(tmp_path / "bench"), "--tensorboard", str(tmp_path / "curves"), "--quiet",
                                 *tiny])
    assert result.exit_code == 0, result.output
    assert len(scalars(tmp_path / "curves" / "sasrec")["train/loss"]) == 2
    assert f"tensorboard --logdir {tmp_path / 'curves'}" in (tmp_path / "bench" / "results.md").read_text()
