"""Files lmrec writes must not attack their reader: spreadsheet formulas in IDs stay text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.io import spreadsheet_safe


@pytest.mark.parametrize(("value", "written"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("item42", "item42"), ("42", "42"), ("-7", "-7"), ("+3.5", "+3.5"), ("1e3", "1e3"), ("a=b", "a=b"), ("", ""),
])
def test_formula_like_ids_get_an_apostrophe_and_plain_ids_stay(value, written) -> None:
    assert spreadsheet_safe([value]) == [written]


def test_evaluation_files_hold_no_live_formula(tmp_path) -> None:
    from lmrec.data import from_dataframes
    from lmrec.pipeline import build_config, evaluate_run, fit_run, load_run

    hostile = "=HYPERLINK(\"http://x\")"
    rows = [(f"@u{u}", hostile if i == 0 else f"i{i}", 1_600_000_000 + t) for u in range(12)
            for t, i in enumerate((u + np.arange(6)) % 8)]
    dataset = from_dataframes(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), name="toy")
    out = tmp_path / "run"
    fit_run(build_config(None, {"data": {"interactions": "toy.csv"}, "model": {"name": "pop"}}), out,
            dataset=dataset)
    evaluate_run(load_run(out))
    for name in ("recommendations.csv", "targets.csv", "per_user.csv"):
        frame = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        for column in ("user_id", "item_id"):
            if column in frame:
                assert not frame[column].str.match(r"^[=+\-@\t\r]").any(), (name, column)
    recs = pd.read_csv(out / "recommendations.csv", dtype=str)
    assert "'" + hostile in set(recs.item_id) and set(recs.user_id) <= {f"'@u{u}" for u in range(12)}
