"""`lmrec cold-start` end to end on small generated files: results written, new items found by a text model and not
by an ID-only one, bad input -> one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.testing.toy import new_items_data

runner = CliRunner()
QUANTILES = ("--test-quantile", "0.85", "--valid-quantile", "0.75")  # cuts at times 20 and 8 (see new_items_data)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("coldstart")
    dataset = new_items_data()
    inter = dataset.interactions
    pd.DataFrame({"user_id": dataset.users.raw[inter.user], "item_id": dataset.items.raw[inter.item],
                  "timestamp": inter.timestamp}).to_csv(folder / "inter.csv", index=False)
    dataset.catalog.frame.to_csv(folder / "items.csv", index=False)
    return folder / "inter.csv", folder / "items.csv"


def test_cold_start_command_writes_results(files, tmp_path: Path) -> None:
    inter, items = files
    out = tmp_path / "out"
    result = invoke("cold-start", "--models", "pop,lm-content,sasrec-text", "--interactions", inter, "--items", items,
                    "--out", out, *QUANTILES, "--set", "model.encoder.kind=tfidf", "--set", "model.dim=16",
                    "--set", "sasrec-text.train.epochs=10", "--set", "sasrec-text.layers=1", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"results.json", "results.md", "config.yaml"}
    saved = json.loads((out / "results.json").read_text())
    new = {row["model"]: row["subsets"]["new"] for row in saved["models"]}
    assert new["pop"]["hr@10"] == 0.0 and new["lm-content"]["hr@10"] > 0.5 and new["sasrec-text"]["hr@10"] > 0
    assert saved["counts"] | {"new_items": 8, "known_items": 32} == saved["counts"]
    config = saved["config"]
    assert config["seed"] == 1 and config["split"]["test_quantile"] == 0.85 and config["dataset"]["digest"]
    assert config["models"]["sasrec-text"]["train"]["epochs"] == 10 and config["models"]["sasrec-text"]["dim"] == 16
    assert config["command"].startswith("lmrec ") and "| lm-content | yes |" in (out / "results.md").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (("--models", "pop,nope", *QUANTILES), "unknown model 'nope'"),
    (("--models", "pop"), "no test target is a new item"),
    (("--models", "pop,lm-content", "--no-items", *QUANTILES), "needs item text"),
    (("--models", "pop", "--test-quantile", "0.5", "--valid-quantile", "0.7"), "--valid-quantile"),
])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    inter, items = files
    data = ["--interactions", inter] + ([] if "--no-items" in args else ["--items", items])
    result = invoke("cold-start", *data, "--out", tmp_path / "out", *[a for a in args if a != "--no-items"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
