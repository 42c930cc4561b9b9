"""`lmrec benchmark`: variants (`LABEL=MODEL`) get their own row, run folder and `--set LABEL.key=value`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmrec.config import parse_overrides
from lmrec.errors import ConfigError
from lmrec.pipeline.benchmark import BenchmarkSpec, _overrides, model_of, run_benchmark
from lmrec.testing.toy import block_data


def test_a_variant_names_its_row_and_reads_only_its_own_overrides() -> None:
    spec = BenchmarkSpec(models=("itemknn", "k5=itemknn"), dataset="ml-100k")
    extra = parse_overrides(["k5.k=5", "itemknn.shrink=2", "model.block_size=64"])
    assert model_of("k5=itemknn") == ("k5", "itemknn") and model_of("ease") == ("ease", "ease")
    plain, variant = _overrides(spec, "itemknn", extra)["model"], _overrides(spec, "k5=itemknn", extra)["model"]
    assert plain == {"name": "itemknn", "shrink": 2, "block_size": 64}
    assert variant == {"name": "itemknn", "k": 5, "block_size": 64}
    assert spec.runs == ("itemknn", "k5")


def test_a_benchmark_runs_a_model_beside_its_variant(tmp_path: Path) -> None:
    data = block_data()
    path = tmp_path / "events.csv"
    frame = data.dataset.interactions
    with path.open("w") as out:
        out.write("user_id,item_id,timestamp\n")
        for u, i, t in zip(frame.user, frame.item, frame.timestamp, strict=True):
            out.write(f"{data.dataset.users.raw[u]},{data.dataset.items.raw[i]},{t}\n")
    spec = BenchmarkSpec(models=("itemknn", "k1=itemknn"), interactions=str(path), overrides=("k1.k=1",),
                         baseline="itemknn", threads=1)
    report = run_benchmark(spec, tmp_path / "out", log=lambda _: None)
    assert "| k1 |" in report and "| itemknn |" in report
    saved = (tmp_path / "out" / "runs" / "k1" / "config.yaml").read_text()
    assert "k: 1" in saved
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [row["model"] for row in rows] == ["itemknn", "k1"] and "paired" in rows[1]


def test_a_row_named_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="twice"):
        run_benchmark(BenchmarkSpec(models=("ease", "ease=itemknn"), dataset="ml-100k"), tmp_path)


def test_reuse_keeps_an_evaluated_run_with_the_same_config_and_refits_a_changed_one(tmp_path: Path) -> None:
    data = block_data()
    path = tmp_path / "events.csv"
    frame = data.dataset.interactions
    path.write_text("user_id,item_id,timestamp\n" + "".join(
        f"{data.dataset.users.raw[u]},{data.dataset.items.raw[i]},{t}\n"
        for u, i, t in zip(frame.user, frame.item, frame.timestamp, strict=True)))
    first = BenchmarkSpec(models=("pop", "itemknn"), interactions=str(path), threads=1)
    run_benchmark(first, tmp_path / "out", log=lambda _: None)
    logged: list[str] = []
    again = BenchmarkSpec(models=("pop", "itemknn"), interactions=str(path), threads=1, reuse=True,
                          overrides=("itemknn.k=2",))
    report = run_benchmark(again, tmp_path / "out", log=logged.append)
    assert any("pop: reused" in line for line in logged) and not any("itemknn: reused" in line for line in logged)
    assert "Reused (`--reuse`)" in report and "k: 2" in (tmp_path / "out/runs/itemknn/config.yaml").read_text()
