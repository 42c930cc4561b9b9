"""Each built-in layout parses into the documented frames: IDs, tie order, catalogue, user attributes."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lmrec.data import leave_last_out, load_dataset


def _sequence(dataset, raw_user):
    """The raw item IDs of one user's history, in the dataset's chronological order."""
    u = dataset.users.index(raw_user)
    return dataset.items.to_raw(dataset.interactions.item[dataset.interactions.user == u]).tolist()


def test_ml100k_orders_by_time_then_udata_line(ml100k_dir):
    ds = load_dataset("ml-100k", data_dir=ml100k_dir.parent)
    assert _sequence(ds, "1") == ["30", "10", "20"]  # t=50, then the t=100 tie in u.data line order
    assert _sequence(ds, "2") == ["20", "30", "10"]
    split = leave_last_out(ds.interactions)
    assert ds.items.to_raw(split.test.targets.items).tolist() == ["20", "10"]
    assert ds.items.to_raw(split.valid.targets.items).tolist() == ["10", "30"]


def test_ml100k_catalogue_latin1_genres_and_users(ml100k_dir):
    ds = load_dataset("ml-100k", data_dir=ml100k_dir)  # the dataset folder itself is accepted too
    frame = ds.catalog.frame.set_index("item_id")
    assert frame.loc["10", "title"] == "Misérables, Les (1995)"
    assert frame.loc["20", "genres"] == "Animation|Children's|Comedy"
    assert ds.catalog.text_fields == ("title", "genres") and ds.catalog.categorical == ("genres",)
    assert ds.n_items == 4 and "40" in ds.items  # catalogue-only item kept
    assert ds.user_attributes["user_id"].tolist() == list(ds.users.raw)
    assert ds.user_attributes.set_index("user_id").loc["2", "occupation"] == "other"
    np.testing.assert_array_equal(ds.interactions.value[:3], [2, 4, 5])


def test_ml1m_double_colon_files(ml1m_dir):
    ds = load_dataset("ml-1m", data_dir=ml1m_dir.parent)
    assert _sequence(ds, "1") == ["30", "10", "20"]
    assert ds.catalog.frame.set_index("item_id").loc["10", "title"] == "Misérables, Les (1995)"
    assert ds.catalog.category_sets("genres")[ds.items.index("20")] == {"Action", "Crime"}
    assert ds.user_attributes.set_index("user_id").loc["2", "age"] == "56"


def test_ml_latest_small_tags_and_no_genres(ml_latest_small_dir):
    ds = load_dataset("ml-latest-small", data_dir=ml_latest_small_dir.parent)
    frame = ds.catalog.frame.set_index("item_id")
    assert frame.loc["1", "tags"] == "pixar|fun"
    assert frame.loc["3", "title"] == "American President, The (1995)"
    assert frame.loc["5", "genres"] == ""
    assert ds.catalog.text_fields == ("title", "genres", "tags")
    assert ds.catalog.texts()[ds.items.index("1")] == "Toy Story (1995). Adventure, Animation. pixar, fun"
    assert ds.n_items == 3 and ds.interactions.value.tolist() == [4.5, 4.0, 0.5]


def test_lastfm_synthetic_time_is_row_order(lastfm_dir, caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_dataset("lastfm-hetrec", data_dir=lastfm_dir.parent)
    assert "NO timestamps" in caplog.text
    assert ds.interactions.timestamp.tolist() == [0, 1, 2]
    assert ds.interactions.value.tolist() == [13883, 11690, 228]
    assert ds.catalog.frame.set_index("item_id").loc["51", "title"] == 'Duran "Duran"'
    assert ds.catalog.text_fields == ("title",)


def test_amazon_2014_dict_literal_meta(amazon_2014_dir):
    ds = load_dataset("amazon-2014:Office_Products", data_dir=amazon_2014_dir.parent)
    assert _sequence(ds, "A1") == ["B003", "B001", "B002"]  # same day: file order
    frame = ds.catalog.frame.set_index("item_id")
    assert frame.loc["B001", "title"] == "Stapler & Staples"
    assert frame.loc["B001", "description"] == "A red stapler"
    assert frame.loc["B001", "categories"] == "Office Products|Staplers"
    assert frame.loc["B002", "categories"] == "Office Products|Pens"
    assert frame.loc["B001", "price"] == 12.5 and np.isnan(frame.loc["B002", "price"])
    assert "B999" not in ds.items and ds.n_items == 3
    assert ds.catalog.numeric == ("price",) and ds.catalog.categorical == ("categories", "brand")


def test_amazon_2018_strict_json_meta_dedup_and_price(amazon_2018_dir):
    ds = load_dataset("amazon-2018:Office_Products", data_dir=amazon_2018_dir.parent)
    frame = ds.catalog.frame.set_index("item_id")
    assert frame.loc["B001", "title"] == "Desk Lamp"  # first of the repeated metadata rows
    assert frame.loc["B001", "description"] == "Bright. Adjustable."
    assert frame.loc["B001", "price"] == pytest.approx(1012.99)
    assert frame.loc["B001", "categories"] == "Office Products|Lighting"
    assert ds.interactions.value.tolist() == [5.0, 2.0, 4.0]


def test_amazon_alias_reads_generic_copy(tmp_path):
    folder = tmp_path / "amazon-office-2014"
    folder.mkdir()
    (folder / "interactions.csv").write_text(
        "user_id,item_id,timestamp,seq\nu1,B2,10,1\nu1,B1,10,0\nu2,B1,5,0\n"
    )
    (folder / "items.csv").write_text(
        'item_id,text,category_code,brand_code\nB1,"Pen, blue",3,0\nB2,Ink,3,7\n'
    )
    ds = load_dataset("amazon-office-2014", data_dir=tmp_path)
    assert ds.name == "amazon-2014:Office_Products"
    assert _sequence(ds, "u1") == ["B1", "B2"]  # seq breaks the timestamp tie, not file order
    assert ds.catalog.text_fields == ("text",)
    assert ds.catalog.categorical == ("category_code", "brand_code")
