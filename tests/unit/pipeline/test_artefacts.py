"""Run artefacts keep what time-aware models read: the timestamps of holdout inputs and stored histories; files
whose timestamps do not match their items are refused as unreadable, not served."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.split import leave_last_out
from lmrec.data.types import Sequences
from lmrec.errors import ModelFileError
from lmrec.pipeline.artefacts import load_history, load_split, save_history, save_split
from lmrec.testing.toy import block_data


def test_split_and_history_round_trip_with_timestamps(tmp_path) -> None:
    inter = block_data().dataset.interactions
    split = leave_last_out(inter)
    save_split(tmp_path / "split.npz", split)
    loaded = load_split(tmp_path / "split.npz")
    assert np.array_equal(loaded.test.inputs.times, split.test.inputs.times)
    assert loaded.fingerprint() == split.fingerprint()
    save_history(tmp_path / "history.npz", inter.sequences())
    assert np.array_equal(load_history(tmp_path / "history.npz").times, inter.sequences().times)


def test_timestamps_that_do_not_match_their_items_are_refused(tmp_path) -> None:
    path = tmp_path / "history.npz"
    np.savez(path, indptr=np.asarray([0, 2]), items=np.asarray([1, 2]), times=np.asarray([5]))
    with pytest.raises(ModelFileError, match="unreadable history"):
        load_history(path)
    save_history(path, Sequences.from_lists([[1, 2]]))
    assert load_history(path).times is None
