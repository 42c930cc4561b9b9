"""Item vectors from a file (image or audio embeddings made elsewhere), aligned to the data and fused in w'_i."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.types import Histories, IdMap
from lmrec.data.vectors import read_item_vectors
from lmrec.errors import ConfigError, DataError
from lmrec.models.base import load_model
from lmrec.models.registry import get_model
from lmrec.testing.toy import block_data

ITEMS = IdMap(np.asarray(["a", "b", "c"]))


def test_formats_align_to_the_dense_items_and_flag_the_missing(tmp_path) -> None:
    np.save(tmp_path / "v.npy", np.asarray([[1.0, 2.0], [3.0, 4.0]], np.float32))
    (tmp_path / "v.ids.txt").write_text("c\nzzz\n")
    vectors, present = read_item_vectors(tmp_path / "v.npy", ITEMS)
    assert present.tolist() == [False, False, True] and vectors[2].tolist() == [1.0, 2.0]
    pd.DataFrame({"item_id": ["a", "b"], "vector": [[1.0, 0.0], [0.0, 1.0]]}).to_parquet(tmp_path / "v.parquet")
    vectors, present = read_item_vectors(tmp_path / "v.parquet", ITEMS)
    assert present.tolist() == [True, True, False] and vectors[1].tolist() == [0.0, 1.0]
    pd.DataFrame({"item_id": ["b"], "x": [1.5], "y": [2.5]}).to_csv(tmp_path / "v.csv", index=False)
    assert read_item_vectors(tmp_path / "v.csv", ITEMS)[0][1].tolist() == [1.5, 2.5]


def test_bad_files_get_one_clear_line(tmp_path) -> None:
    pd.DataFrame({"item_id": ["a", "b"], "x": [1.0, float("nan")]}).to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="item 'b' has a non-finite value"):
        read_item_vectors(tmp_path / "nan.csv", ITEMS)
    pd.DataFrame({"item_id": ["q"], "x": [1.0]}).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(DataError, match="no item of the file is in the data"):
        read_item_vectors(tmp_path / "none.csv", ITEMS)
    np.save(tmp_path / "lonely.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="needs its item IDs in lonely.ids.txt"):
        read_item_vectors(tmp_path / "lonely.npy", ITEMS)
    with pytest.raises(ConfigError, match="item_vectors needs item_repr='fused'"):
        get_model("sasrec").create({"item_vectors": "v.csv"})


def test_a_fused_model_reads_the_vectors_and_keeps_them(tmp_path) -> None:
    toy = block_data()
    ids = toy.dataset.catalog.frame["item_id"].tolist()
    rows = {"item_id": ids, "vector": [np.eye(2)[b].tolist() for b in toy.item_block]}
    pd.DataFrame(rows).to_parquet(tmp_path / "images.parquet")
    config = {"item_vectors": str(tmp_path / "images.parquet"), "train": {"epochs": 5}}
    model = get_model("sasrec-fused").create({**get_model("sasrec-fused").tiny, **config})
    model.fit(toy.split.train, catalog=toy.dataset.catalog)
    assert model.fit_log_["attributes"]["item_vectors"]["items_with_vectors"] == toy.dataset.n_items
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    query = Histories.from_lists([[0, 1]])
    assert torch.allclose(loaded.score(query), model.score(query), atol=1e-5)
    assert loaded.add_items(loaded.text_vectors[:1].numpy()).tolist() == [toy.dataset.n_items]
