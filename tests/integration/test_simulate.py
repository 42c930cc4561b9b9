"""`lmrec simulate`: simulated users and the run's recommender in a loop; reproducible per seed, one record per
policy and round, exploration widens what is shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_runs import fit_toy_run, two_groups
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.online.simulate import SimulationConfig, simulate
from lmrec.pipeline import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("sim") / "ease", {"name": "ease", "reg_weight": 10})


def test_the_command_writes_a_record_per_policy_and_round(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(app, ["simulate", str(run_dir), "--rounds", "4", "--policy", "plain,explore:0.5",
                                      "-k", "3", "--users", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads((out / "results.json").read_text())["records"]
    assert [(r["policy"], r["round"]) for r in records] == [(p, i) for p in ("plain", "explore:0.5")
                                                              for i in range(5)]
    for r in records:
        assert 0 <= r["choice_rate"] <= 1 and 0 < r["coverage"] <= r["coverage_so_far"] <= 1
    plain = [r for r in records if r["policy"] == "plain"]
    assert all(a["coverage_so_far"] <= b["coverage_so_far"] for a, b in zip(plain, plain[1:], strict=False))
    last = {r["policy"]: r for r in records if r["round"] == 4}
    assert last["explore:0.5"]["coverage"] > last["plain"]["coverage"]
    assert (out / "coverage.png").stat().st_size > 0 and "x plain" in (out / "results.md").read_text()


def test_the_same_seed_gives_the_same_loop(run_dir: Path) -> None:
    run = load_run(run_dir)
    config = SimulationConfig(rounds=3, k=5, policy="explore:0.3", seed=7)
    first, again = simulate(run, config), simulate(load_run(run_dir), config)
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(first) == strip(again)
    assert strip(simulate(load_run(run_dir), SimulationConfig(rounds=3, k=5, policy="explore:0.3", seed=8))) != \
        strip(first)


def test_bad_settings_get_one_line(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", str(run_dir), "--policy", "shuffle", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown stage 'shuffle'" in result.output
    result = CliRunner().invoke(app, ["simulate", str(run_dir), "--temperature", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "temperature must be > 0" in result.output
