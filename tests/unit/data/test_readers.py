"""Generic files -> canonical frames -> Dataset: separators, string IDs, tie-break, Parquet, RecBole."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from lmrec.data import (
    ColumnMap,
    from_dataframes,
    load_files,
    read_interactions,
    read_items,
    read_recbole,
)


def test_ids_stay_strings_and_columns_are_canonical(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp,rating,extra\n007,0042,5,4.5,x\n7,42,6,3,y\n")
    frame = read_interactions(path)
    assert list(frame.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert frame["user_id"].tolist() == ["007", "7"] and frame["item_id"].tolist() == ["0042", "42"]
    assert frame["timestamp"].tolist() == [5, 6] and frame["rating"].tolist() == [4.5, 3.0]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.tsv", "user_id\titem_id\ttimestamp\nu\ti\t1\n"),
        ("a.tab", "user_id\titem_id\ttimestamp\nu\ti\t1\n"),
        ("a.txt", "user_id;item_id;timestamp\nu;i;1\n"),
        ("a.dat", "user_id::item_id::timestamp\nu::i::1\n"),
        ("a.csv", "user_id\titem_id\ttimestamp\nu\ti\t1\n"),  # a .csv that is really TAB-separated
    ],
)
def test_separator_from_extension_or_header(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert read_interactions(path).iloc[0].tolist() == ["u", "i", 1]


def test_column_map_optional_rating_event(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,ts,kind\n1,2,3,click\n")
    frame = read_interactions(
        path, columns=ColumnMap(user="userId", item="movieId", timestamp="ts", event="kind")
    )
    assert list(frame.columns) == ["user_id", "item_id", "timestamp", "event"]
    assert frame["event"].tolist() == ["click"]


def test_order_column_breaks_ties_and_keeps_first_appearance(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("user_id,item_id,timestamp,seq\nb,x,1,0\na,z,5,2\na,y,5,1\na,w,1,0\n")
    ds = load_files(path, columns=ColumnMap(order="seq"))
    assert ds.users.raw.tolist() == ["b", "a"]
    a = ds.users.index("a")
    assert ds.items.to_raw(ds.interactions.item[ds.interactions.user == a]).tolist() == ["w", "y", "z"]


def test_without_order_column_ties_keep_file_order(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("user_id,item_id,timestamp\na,z,5\na,y,5\na,w,1\n")
    ds = load_files(path)
    assert ds.items.to_raw(ds.interactions.item).tolist() == ["w", "z", "y"]


def test_iso_dates_bom_blank_lines_and_gzip(tmp_path):
    path = tmp_path / "d.csv.gz"
    text = "\ufeffuser_id,item_id,timestamp\n\nu,i,2020-01-01T00:00:00Z\nu,j,2020-01-02\n"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    frame = read_interactions(path)
    assert frame["timestamp"].tolist() == [1577836800, 1577923200]


def test_parquet_with_int_ids_and_datetimes(tmp_path):
    path = tmp_path / "e.parquet"
    pd.DataFrame(
        {
            "user_id": [1, 2],
            "item_id": [10.0, 20.0],
            "timestamp": pd.to_datetime(["1970-01-01 00:00:10", "1970-01-01 00:01:00"]),
        }
    ).to_parquet(path)
    frame = read_interactions(path)
    assert frame["user_id"].tolist() == ["1", "2"] and frame["item_id"].tolist() == ["10", "20"]
    assert frame["timestamp"].tolist() == [10, 60]


def test_load_files_with_items(tmp_path):
    (tmp_path / "i.csv").write_text("user_id,movieId,timestamp\nu,1,1\nu,2,2\n")
    (tmp_path / "m.csv").write_text('movieId,title,genres\n1,"A, the",x|y\n3,Only in catalogue,z\n')
    ds = load_files(tmp_path / "i.csv", tmp_path / "m.csv", columns=ColumnMap(item="movieId"), name="mine")
    assert ds.name == "mine" and ds.items.raw.tolist() == ["1", "2", "3"]
    assert ds.catalog.texts() == ["A, the. x, y", "", "Only in catalogue. z"]


def test_read_items_keeps_text_verbatim(tmp_path):
    path = tmp_path / "items.tsv"
    path.write_text("sku\ttitle\n007\tNA\n008\t\n")
    items = read_items(path, item_col="sku")
    assert items["item_id"].tolist() == ["007", "008"] and items["title"].tolist() == ["NA", ""]


def test_from_dataframes_matches_files(tmp_path):
    df = pd.DataFrame({"u": ["a", "a", "b"], "i": [1, 2, 1], "t": [3, 3, 1]})
    ds = from_dataframes(df, columns=ColumnMap(user="u", item="i", timestamp="t"), name="df")
    (tmp_path / "f.csv").write_text("u,i,t\na,1,3\na,2,3\nb,1,1\n")
    assert (
        ds.digest()
        == load_files(
            tmp_path / "f.csv", columns=ColumnMap(user="u", item="i", timestamp="t"), name="df"
        ).digest()
    )


def test_recbole_atomic_files(tmp_path):
    inter = tmp_path / "ml.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t881250949.0\n"
        "1\t20\t3\t881250950\n"
    )
    item = tmp_path / "ml.item"
    item.write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Comedy\n20\tHeat\t1995\tAction\n"
    )
    frame, items = read_recbole(inter, item)
    assert frame["timestamp"].tolist() == [881250949, 881250950]
    assert list(items.columns) == ["item_id", "movie_title", "release_year", "class"]
    ds = load_files(inter, item)
    assert ds.catalog.text_fields == ("movie_title", "class") and ds.catalog.categorical == ("release_year",)
    np.testing.assert_array_equal(ds.interactions.value, [4, 3])
