"""`lmrec synth`: exactly the events asked for, reproducible by seed, shaped like real logs (a popularity head,
sessions inside one topic, time order per user), and readable by `lmrec fit`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.synth import SynthConfig, synth_events, synth_items
from lmrec.errors import ConfigError


def generated(**changes) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = SynthConfig(**{"events": 20_000, **changes})
    rng = np.random.default_rng(config.seed)
    return synth_items(config, rng), synth_events(config, rng)


def test_the_log_has_the_size_asked_for_and_the_same_seed_gives_the_same_log() -> None:
    items, events = generated()
    assert len(events) == 20_000 and len(items) == 200 and set(events["item_id"]) <= set(items["item_id"])
    again = generated()[1]
    assert events.equals(again) and not events.equals(generated(seed=1)[1])


def test_it_is_shaped_like_a_real_log() -> None:
    items, events = generated(drift=0.0)
    counts = events["item_id"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() > 0.3 * len(events)  # a head: 3x its share under uniform
    assert events.groupby("user_id", sort=False)["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()
    topic = events["item_id"].map(dict(zip(items["item_id"], items["category"], strict=True)))
    assert (topic.groupby(events["user_id"]).nunique() == 1).all()  # no drift: each user keeps one topic
    drifting = generated(drift=1.0)
    moved = drifting[1]["item_id"].map(dict(zip(items["item_id"], items["category"], strict=True)))
    assert moved.groupby(drifting[1]["user_id"]).nunique().mean() > 1.5


@pytest.mark.parametrize("changes", [{"events": 0}, {"drift": 1.5}, {"items": 3, "topics": 5}, {"zipf": 0}])
def test_bad_settings_are_one_clear_error(changes: dict) -> None:
    with pytest.raises(ConfigError, match="synth"):
        SynthConfig(**changes)


def test_the_cli_writes_files_lmrec_fit_reads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lmrec.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--events", "5000", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert info["events"] == 5000 and len(info["files"]["interactions.parquet"]) == 64
    result = runner.invoke(app, ["fit", "--interactions", str(tmp_path / "s" / "interactions.parquet"), "--items",
                                 str(tmp_path / "s" / "items.csv"), "--model", "pop", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    kept = json.loads((tmp_path / "run" / "meta.json").read_text())["dataset"]["interactions"]
    assert kept == info["distinct_user_item_pairs"] and 0 < kept <= 5000  # fit keeps each pair's first event
