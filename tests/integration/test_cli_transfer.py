"""`lmrec pretrain` -> `lmrec zero-shot` -> `lmrec fit --pretrained` on generic files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app

runner = CliRunner()
SMALL = ["--set", "model.dim=16", "--set", "model.max_len=8", "--set", "model.experts=2",
         "--set", "model.train.epochs=3"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def catalogue(folder: Path, name: str, words: list[str], seed: int) -> tuple[Path, Path]:
    """Users who stay within one word group; item IDs are prefixed by `name`, so no ID is shared."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(60):
        group = u % len(words)
        items = rng.choice(np.arange(10) + 10 * group, size=6, replace=False)
        rows += [(f"{name}-u{u}", f"{name}-i{i}", 1_600_000_000 + 60 * t) for t, i in enumerate(items)]
    inter, items = folder / f"{name}.csv", folder / f"{name}_items.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(inter, index=False)
    titles = [f"{words[i // 10]} product {i}" for i in range(10 * len(words))]
    pd.DataFrame({"item_id": [f"{name}-i{i}" for i in range(len(titles))], "title": titles}).to_csv(items,
                                                                                                  index=False)
    return inter, items


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("transfer")
    return {"source": catalogue(folder, "src", ["red apple fruit", "blue ocean water"], 0),
            "target": catalogue(folder, "tgt", ["green pear fruit", "deep sea water"], 1)}


@pytest.fixture(scope="module")
def checkpoint(files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "pre"
    inter, items = files["source"]
    result = invoke("pretrain", "--interactions", inter, "--items", items, "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert "pretrained sasrec-text" in result.output
    return out


def test_zero_shot_writes_a_normal_evaluated_run(checkpoint: Path, files, tmp_path: Path) -> None:
    inter, items = files["target"]
    result = invoke("zero-shot", checkpoint, "--interactions", inter, "--items", items, "--out", tmp_path / "zs",
                    "-k", "10")
    assert result.exit_code == 0, result.output
    for name in ("metrics.json", "recommendations.csv", "targets.csv", "model/weights.safetensors"):
        assert (tmp_path / "zs" / name).is_file(), name
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert metrics["test"]["n_users"] == 60
    recommended = invoke("recommend", tmp_path / "zs", "--history", "tgt-i0,tgt-i1", "-k", "3", "--json")
    assert recommended.exit_code == 0, recommended.output
    old = invoke("evaluate", "--zero-shot", checkpoint, "--interactions", inter, "--items", items,
                 "--out", tmp_path / "zs-old", "-k", "10")
    assert old.exit_code == 0, old.output
    notices = [line for line in old.output.splitlines() if "deprecated" in line]
    assert len(notices) == 1 and "lmrec zero-shot" in notices[0]
    assert json.loads((tmp_path / "zs-old" / "metrics.json").read_text())["test"] == metrics["test"] | {
        "seconds": json.loads((tmp_path / "zs-old" / "metrics.json").read_text())["test"]["seconds"]}


def test_few_shot_fit_from_the_checkpoint(checkpoint: Path, files, tmp_path: Path) -> None:
    inter, items = files["target"]
    result = invoke("fit", "--pretrained", checkpoint, "--finetune", "adapter", "--interactions", inter,
                    "--items", items, "--out", tmp_path / "fs", "--set", "split.train_users=0.5",
                    "--set", "model.train.epochs=2")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "fs" / "meta.json").read_text())
    assert meta["split"]["train_users"] == 30 and meta["fit_log"]["finetune"] == "adapter"
    assert 0 < meta["fit_log"]["trainable_fraction"] < 0.05


@pytest.mark.parametrize("args, message", [
    (["zero-shot", "{pre}", "--interactions", "{inter}", "--items", "{items}"], "--out"),
    (["evaluate", "--zero-shot", "{pre}", "--interactions", "{inter}", "--items", "{items}"], "--out"),
    (["zero-shot", "{tmp}/missing", "--interactions", "{inter}", "--items", "{items}", "--out", "{tmp}/x"],
     "no such pretrained"),
    (["pretrain", "--interactions", "{inter}", "--out", "{tmp}/p"], "--items"),
    (["pretrain", "--interactions", "{inter}", "--items", "{items}", "--out", "{tmp}/p", "--set",
      "model.name=sasrec"], "inductive text model"),
    (["fit", "--pretrained", "{pre}", "--finetune", "sideways", "--interactions", "{inter}", "--items", "{items}",
      "--out", "{tmp}/f"], "finetune"),
    (["fit", "--pretrained", "{pre}", "--interactions", "{inter}", "--items", "{items}", "--out", "{tmp}/f",
      "--set", "model.dim=32"], "dim=32"),
    (["fit", "--model", "sasrec", "--set", "split.train_users=1.5", "--interactions", "{inter}", "--out",
      "{tmp}/f"], "train_users"),
])
def test_bad_transfer_input_is_one_line_and_exit_2(checkpoint: Path, files, tmp_path: Path, args, message) -> None:
    inter, items = files["target"]
    filled = [a.format(pre=checkpoint, inter=inter, items=items, tmp=tmp_path) for a in args]
    result = invoke(*filled)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
