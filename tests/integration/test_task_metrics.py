"""`lmrec evaluate` reports each head's own metrics beside ranking: RMSE/MAE for rating models, AUC/log-loss
for click models, on the test events of the run's split, from the same data files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """60 users rating 30 items; a user's rating depends on the item (so a bias model beats the mean)."""
    folder = tmp_path_factory.mktemp("rated")
    rng = np.random.default_rng(0)
    rows = []
    for u in range(60):
        for t, i in enumerate(rng.choice(30, size=10, replace=False)):
            rows.append((f"u{u}", f"i{i}", 1_600_000_000 + 3600 * t, 1 + (i % 5)))
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"]).to_csv(folder / "inter.csv",
                                                                                    index=False)
    return folder


def fit(folder, model: str, name: str) -> str:
    out = folder / name
    result = CliRunner().invoke(app, ["fit", "--interactions", str(folder / "inter.csv"), "-m", model, "--out",
                                      str(out), "--set", "eval.n_bootstrap=20"])
    assert result.exit_code == 0, result.output
    return str(out)


def test_a_rating_model_reports_rmse_and_mae(rated) -> None:
    run = fit(rated, "bias", "bias")
    result = CliRunner().invoke(app, ["evaluate", run])
    assert result.exit_code == 0, result.output
    assert "rating: RMSE" in result.output
    tasks = json.loads((rated / "bias" / "metrics.json").read_text())["tasks"]
    assert tasks["rating"]["n"] == tasks["test_events"] == 60  # leave-last-out: one rated event per user
    spread = pd.read_csv(rated / "inter.csv")["rating"].std()  # ~1.4: the RMSE of predicting the mean
    assert tasks["rating"]["rmse"] < 0.6 * spread, "item biases explain most of these ratings"


def test_a_model_without_heads_reports_ranking_only(rated) -> None:
    run = fit(rated, "pop", "pop")
    result = CliRunner().invoke(app, ["evaluate", run])
    assert result.exit_code == 0 and "rating:" not in result.output
    assert "tasks" not in json.loads((rated / "pop" / "metrics.json").read_text())


def test_changed_data_is_refused_with_one_line(rated, tmp_path) -> None:
    run = fit(rated, "bias", "bias-changed")
    frame = pd.read_csv(rated / "inter.csv")
    frame.loc[0, "rating"] = 5 if frame.loc[0, "rating"] != 5 else 4
    original = (rated / "inter.csv").read_text()
    try:
        frame.to_csv(rated / "inter.csv", index=False)
        result = CliRunner().invoke(app, ["evaluate", run])
    finally:
        (rated / "inter.csv").write_text(original)
    assert result.exit_code == 2 and "data changed since the fit" in result.output


def test_a_click_model_reports_auc_on_sampled_candidates(rated) -> None:
    out = rated / "dcn"
    fitted = CliRunner().invoke(app, ["fit", "--interactions", str(rated / "inter.csv"), "-m", "dcn", "--out",
                                      str(out), "--set", "eval.n_bootstrap=20", "--set", "model.dim=8",
                                      "--set", "model.train.epochs=3"])
    assert fitted.exit_code == 0, fitted.output
    result = CliRunner().invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0 and "click: AUC" in result.output, result.output
    click = json.loads((out / "metrics.json").read_text())["tasks"]["click"]
    assert 0.0 <= click["auc"] <= 1.0 and click["n"] == 120  # each test event and one sampled item
