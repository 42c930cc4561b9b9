"""The drift report: the share of a period's choices outside the categories a user chose before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data import from_dataframes
from lmrec.errors import DataError
from lmrec.eval.drift import drift_report


def test_a_user_who_switches_categories_drifts_and_one_who_stays_does_not() -> None:
    rows = [("stay", f"a{i}", t) for i, t in enumerate((1, 2, 10, 11))]
    rows += [("switch", "a9", 1), ("switch", "a8", 2), ("switch", "b1", 10), ("switch", "b2", 11)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    ids = sorted(set(inter["item_id"]))
    items = pd.DataFrame({"item_id": ids, "title": ids, "kind": [i[0] for i in ids]})
    dataset = from_dataframes(inter, items, categorical=("kind",))
    first, second = drift_report(dataset, periods=2)
    assert first.users == 0 and np.isnan(first.outside_share)
    assert second.users == 2 and second.outside_share == pytest.approx(0.5)  # stay: 0, switch: 1


def test_a_catalogue_without_categories_is_one_clear_error() -> None:
    inter = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": [1, 2]})
    with pytest.raises(DataError, match="needs a catalogue with a categorical field"):
        drift_report(from_dataframes(inter), periods=2)
