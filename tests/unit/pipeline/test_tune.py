"""`lmrec tune`: trials on validation only, a resumable study, the best config written as a normal config, and a
bad search space answered with one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("optuna")

from lmrec.config import read_yaml  # noqa: E402
from lmrec.errors import ConfigError  # noqa: E402
from lmrec.pipeline.tune import as_tree, check_space, tune  # noqa: E402
from lmrec.testing.toy import ring_data  # noqa: E402


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> Path:
    inter = ring_data().dataset.interactions
    path = tmp_path_factory.mktemp("tune") / "events.csv"
    path.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{i},{t}\n" for u, i, t in zip(inter.user, inter.item, inter.timestamp, strict=True)))
    return path


def test_a_study_finds_the_better_setting_writes_it_and_resumes(events: Path, tmp_path: Path) -> None:
    base = {"data": {"interactions": str(events)}, "model": {"name": "itemknn"}}
    space = {"k": {"choice": [1, 50]}}
    result = tune(base, tmp_path / "t", trials=4, space=space)
    trials = pd.read_csv(tmp_path / "t" / "trials.csv")
    assert not trials["default"].any()  # itemknn's own k (100) is not among the choices: no default trial
    assert len(trials) == 4 and set(trials["k"]) <= {1, 50} and (tmp_path / "t" / "search.png").stat().st_size
    assert result.best_value == trials["value"].max()
    best = read_yaml(result.best_config)
    assert best["model"]["name"] == "itemknn" and best["model"]["k"] == result.best_params["k"]
    assert best["data"]["interactions"] == str(events)
    again = tune(base, tmp_path / "t", trials=2, space=space)
    assert again.trials == 6 and len(pd.read_csv(tmp_path / "t" / "trials.csv")) == 6  # resumed, not restarted


def test_torch_models_report_each_epoch_and_train_from_the_trial_values(events: Path, tmp_path: Path) -> None:
    base = {"data": {"interactions": str(events)},
            "model": {"name": "sasrec", "dim": 8, "max_len": 8, "train": {"epochs": 3, "threads": 1}}}
    space = {"dim": {"choice": [8, 16]}, "train.lr": {"log": [1e-3, 1e-2]}}
    result = tune(base, tmp_path / "t", trials=3, space=space)
    first = pd.read_csv(tmp_path / "t" / "trials.csv").iloc[0]
    assert first["default"] and first["train.lr"] == 3e-3 and first["dim"] == 8  # trial 0: the configured values
    best = read_yaml(result.best_config)["model"]
    assert best["dim"] in (8, 16) and 1e-3 <= best["train"]["lr"] <= 1e-2 and best["train"]["epochs"] == 3


@pytest.mark.parametrize(("space", "message"), [
    ({}, "expected a mapping"),
    ({"dim": {"between": [1, 2]}}, "'dim': expected one of"),
    ({"train.lr": {"log": [0, 1]}}, "log needs low > 0"),
    ({"k": {"int": [5, 1]}}, "low must be below high"),
    ({"k": {"choice": []}}, "choice needs a non-empty list"),
])
def test_a_bad_space_names_its_key(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_space(space)


def test_dotted_keys_nest_under_model() -> None:
    assert as_tree({"train.lr": 0.1, "dim": 8}) == {"model": {"train": {"lr": 0.1}, "dim": 8}}


def test_the_cli_refuses_a_model_without_a_default_space(events: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lmrec.cli import app

    result = CliRunner().invoke(app, ["tune", "--interactions", str(events), "--model", "pop", "--out",
                                      str(tmp_path / "t"), "--trials", "1"])
    assert result.exit_code == 2 and "no default search space for 'pop'" in result.output
    assert "Traceback" not in result.output
