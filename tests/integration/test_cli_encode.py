"""`lmrec encode` in one process: the vectors file `model.item_vectors` reads, the cache a later fit hits, and bad
input as one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app


@pytest.fixture
def items(tmp_path: Path) -> Path:
    path = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["red apple", "blue ocean", ""]}).to_csv(path, index=False)
    return path


def test_encode_writes_vectors_in_file_order_and_fills_the_cache(items, tmp_path) -> None:
    pytest.importorskip("sentence_transformers")
    first = CliRunner().invoke(app, ["encode", "--items", str(items), "--out", str(tmp_path / "v.npz")])
    assert first.exit_code == 0, first.output
    assert "encoded 3 items (384 dimensions) on this process" in first.output
    found = np.load(tmp_path / "v.npz")
    assert found["ids"].tolist() == ["a", "b", "c"] and found["vectors"].shape == (3, 384)
    assert np.allclose(np.linalg.norm(found["vectors"][:2], axis=1), 1, atol=1e-5)
    assert not found["vectors"][2].any()  # an empty text is a zero vector, as in every encoder
    again = CliRunner().invoke(app, ["encode", "--items", str(items), "--out", str(tmp_path / "w.npz")])
    assert again.exit_code == 0 and np.array_equal(np.load(tmp_path / "w.npz")["vectors"], found["vectors"])


@pytest.mark.parametrize("args, says", [
    (["--out", "v.txt"], "written as .npz"),
    (["--out", "v.npz", "--template", "{nope}"], "unknown field"),
    (["--out", "v.npz", "--ray-address", "x:1"], "--ray-address needs --workers"),
])
def test_bad_input_is_one_line(items, tmp_path, args, says) -> None:
    args = [str(tmp_path / a) if a.startswith("v.") else a for a in args]
    result = CliRunner().invoke(app, ["encode", "--items", str(items), *args])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_a_missing_items_file_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["encode", "--items", str(tmp_path / "none.csv"), "--out",
                                      str(tmp_path / "v.npz")])
    assert result.exit_code != 0 and "none.csv" in result.output and "Traceback" not in result.output
