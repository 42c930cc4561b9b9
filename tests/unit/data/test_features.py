"""Attributes as model inputs: inference of field kinds, encoding, and the user-attributes file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.build import attach_user_attributes
from lmrec.data.features import FieldSpec, encode_features, infer_fields
from lmrec.data.readers import read_users
from lmrec.errors import DataError
from lmrec.testing.toy import block_data


def test_inference_separates_numbers_codes_categories_and_identifiers() -> None:
    frame = pd.DataFrame({
        "user_id": [f"u{i}" for i in range(40)],
        "age": np.linspace(18, 70, 40).round(1),
        "brand_code": [str(i % 3) for i in range(40)],
        "gender": ["F", "M"] * 20,
        "zip": [f"{10000 + i}" for i in range(40)],  # one value per row: an identifier, not a category
        "email": [f"user{i}@example.org" for i in range(40)],
    })
    spec = infer_fields(frame)
    assert spec.numeric == ("age",)
    assert set(spec.categorical) == {"brand_code", "gender"}
    assert set(spec.skipped) == {"zip", "email"}
    assert spec.inferred


def test_multi_valued_fields_average_their_values() -> None:
    frame = pd.DataFrame({"genres": ["a|b", "b", "", None], "year": ["1995", "", "2001", "1990"]})
    table = encode_features(frame, FieldSpec.declared(("genres",), ("year",)), kind="item")
    assert table.n_codes == 3  # code 0 (none) + a + b
    assert table.weights[0].tolist() == [0.5, 0.5] and table.weights[1].sum() == 1.0
    assert (table.codes[2] == 0).all() and (table.codes[3] == 0).all()
    assert table.numeric.shape == (4, 2)
    assert table.numeric[1].tolist() == [0.0, 1.0]  # missing year: value 0, missing flag 1
    assert "genres (categorical, 2 values)" in table.describe()


def test_a_declared_number_that_does_not_parse_names_the_row_and_field() -> None:
    frame = pd.DataFrame({"price": ["1.5", "cheap"]})
    with pytest.raises(DataError, match=r"'cheap' is not a number \(row 2\)") as caught:
        encode_features(frame, FieldSpec.declared((), ("price",)), kind="item", source="items.csv")
    assert caught.value.field == "price"


def test_users_file_is_aligned_to_the_dense_index_with_regions(tmp_path) -> None:
    dataset = block_data().dataset
    path = tmp_path / "users.csv"
    path.write_text("uid,zip_code,plan\nu1,02139,gold\nu0,T8H1N,free\nghost,12345,gold\n")
    attached = attach_user_attributes(dataset, read_users(path, user_col="uid"), source=str(path))
    frame = attached.user_attributes
    assert len(frame) == dataset.n_users
    assert frame.loc[0, "region"] == "non-US" and frame.loc[1, "region"] == "zone 0"
    assert frame["plan"].isna().sum() == dataset.n_users - 2  # users the file does not list


def test_recbole_user_file_and_conflicting_rows(tmp_path) -> None:
    dataset = block_data().dataset
    good = tmp_path / "toy.user"
    good.write_text("user_id:token\tage:float\nu0\t31\n")
    assert attach_user_attributes(dataset, read_users(good)).user_attributes.loc[0, "age"] == "31"
    bad = tmp_path / "users.csv"
    bad.write_text("user_id,age\nu0,31\nu0,32\n")
    with pytest.raises(DataError, match=r"user 'u0' appears on lines \[2, 3\] with different content"):
        attach_user_attributes(dataset, read_users(bad), source=str(bad))
    missing = tmp_path / "nouser.csv"
    missing.write_text("id,age\nu0,31\n")
    with pytest.raises(DataError, match="no user ID column 'user_id'"):
        read_users(missing)


def test_event_types_are_read_from_a_named_column(tmp_path) -> None:
    from lmrec.data.config import DataConfig, load_data

    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp,kind\nu1,a,1,view\nu1,b,2,purchase\nu2,a,1,click\n")
    dataset = load_data(DataConfig(interactions=str(path), event_col="kind"))
    assert sorted(dataset.interactions.event.tolist()) == ["click", "purchase", "view"]
    with pytest.raises(DataError, match="missing required column"):
        load_data(DataConfig(interactions=str(path), event_col="type"))
