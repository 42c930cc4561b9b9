"""Bad input raises DataError naming the file, the line and the field; never a pandas/numpy traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from lmrec.data import ColumnMap, load_dataset, load_files, read_interactions, read_items
from lmrec.errors import DataError


def expect(
    call, file: Path | str, *, line: int | None = None, field: str | None = None, text: str | None = None
) -> DataError:
    with pytest.raises(DataError) as info:
        call()
    error, message = info.value, str(info.value)
    assert str(file) in message
    if line is not None:
        assert error.line == line and f"line {line}" in message
    if field is not None:
        assert error.field == field and f"field '{field}'" in message
    if text is not None:
        assert text in message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_missing_file(tmp_path):
    expect(lambda: read_interactions(tmp_path / "nope.csv"), tmp_path / "nope.csv", text="file not found")


def test_directory_instead_of_file(tmp_path):
    expect(lambda: read_interactions(tmp_path), tmp_path, text="is a directory")


def test_empty_file(tmp_path):
    path = write(tmp_path / "e.csv", b"")
    expect(lambda: read_interactions(path), path, text="empty (0 bytes)")


def test_only_blank_lines(tmp_path):
    path = write(tmp_path / "b.csv", "\n\n  \n")
    expect(lambda: read_interactions(path), path, text="only blank lines")


def test_header_only(tmp_path):
    path = write(tmp_path / "h.csv", "user_id,item_id,timestamp\n")
    expect(lambda: read_interactions(path), path, line=2, text="no data rows")


def test_missing_required_columns_lists_found_and_flags(tmp_path):
    path = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n")
    error = expect(lambda: read_interactions(path), path, field="user_id")
    assert "['userId', 'movieId', 'rating', 'timestamp']" in str(error)
    assert "--user-col userId" in str(error) and "--item-col movieId" in str(error)


def test_too_many_fields(tmp_path):
    path = write(tmp_path / "m.csv", "user_id,item_id,timestamp\n1,2,3\n1,2,3,4\n")
    expect(lambda: read_interactions(path), path, line=3, text="4 instead of 3")


def test_too_few_fields_after_blank_line(tmp_path):
    path = write(tmp_path / "f.csv", "user_id,item_id,timestamp\n1,2,3\n\n1,2\n")
    expect(lambda: read_interactions(path), path, line=4, text="2 instead of 3")


def test_non_numeric_timestamp_counts_header(tmp_path):
    path = write(tmp_path / "t.csv", "user_id,item_id,when\n1,2,3\n1,3,yesterday-ish\n")
    expect(
        lambda: read_interactions(path, columns=ColumnMap(timestamp="when")),
        path,
        line=3,
        field="when",
        text="'yesterday-ish'",
    )


def test_timestamps_mixing_numbers_and_dates(tmp_path):
    path = write(tmp_path / "t.csv", "user_id,item_id,timestamp\n1,2,3\n1,3,2020-01-01\n")
    expect(lambda: read_interactions(path), path, line=3, field="timestamp", text="other rows hold numbers")


def test_non_numeric_rating(tmp_path):
    path = write(tmp_path / "r.tsv", "user_id\titem_id\ttimestamp\trating\n1\t2\t3\t4\n1\t3\t4\tfive\n")
    expect(lambda: read_interactions(path), path, line=3, field="rating", text="'five' is not a number")


def test_empty_user_id(tmp_path):
    path = write(tmp_path / "u.csv", "user_id,item_id,timestamp\n1,2,3\n ,2,4\n")
    expect(lambda: read_interactions(path), path, line=3, field="user_id", text="empty value")


def test_undecodable_bytes_names_line_offset_and_encoding(tmp_path):
    path = write(tmp_path / "enc.csv", b"user_id,item_id,timestamp\n1,caf\xe9,5\n")
    error = expect(lambda: read_interactions(path), path, line=2, text="byte offset 31")
    assert "encoding='cp1252'" in str(error) and "latin-1" in str(error)


def test_quoted_multiline_field_keeps_physical_lines(tmp_path):
    path = write(tmp_path / "q.csv", 'user_id,item_id,timestamp\n"a\nb",2,3\n1,2,x\n')
    expect(lambda: read_interactions(path), path, line=4, field="timestamp")


def test_duplicate_item_rows_with_different_text(tmp_path):
    inter = write(tmp_path / "i.csv", "user_id,item_id,timestamp\n1,A,3\n")
    items = write(tmp_path / "items.csv", "item_id,title\nA,Pen\nB,Ink\nA,Pencil\n")
    expect(lambda: load_files(inter, items), items, field="item_id", text="lines [2, 4]")


def test_items_without_id_column(tmp_path):
    items = write(tmp_path / "items.csv", "sku,title\nA,Pen\n")
    expect(lambda: read_items(items), items, field="item_id", text="--item-col")


def test_unknown_extension(tmp_path):
    path = write(tmp_path / "events.xlsx", b"PK\x03\x04")
    expect(lambda: read_interactions(path), path, text="unknown file type '.xlsx'")


def test_parquet_that_is_not_parquet(tmp_path):
    path = write(tmp_path / "e.parquet", "user_id,item_id,timestamp\n1,2,3\n")
    expect(lambda: read_interactions(path), path, text="not a Parquet file")


def test_parquet_bad_value_names_row(tmp_path):
    path = tmp_path / "e.parquet"
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": ["1", "soon"]}).to_parquet(path)
    expect(lambda: read_interactions(path), path, field="timestamp", text="(row 2)")


def test_order_column_not_numeric(tmp_path):
    path = write(tmp_path / "o.csv", "user_id,item_id,timestamp,seq\n1,2,3,0\n1,3,3,first\n")
    expect(lambda: read_interactions(path, columns=ColumnMap(order="seq")), path, line=3, field="seq")


def test_recbole_header_without_types(tmp_path):
    path = write(tmp_path / "x.inter", "user_id\titem_id:token\ttimestamp:float\n1\t2\t3\n")
    expect(lambda: load_files(path), path, line=1, field="user_id", text="RecBole atomic file")


def test_headerless_official_file_line_numbers(ml100k_dir):
    path = ml100k_dir / "u.data"
    path.write_text("1\t10\t4\t100\n1\t20\tfive\t100\n")
    expect(lambda: load_dataset("ml-100k", data_dir=ml100k_dir), path, line=2, field="rating")


def test_double_colon_file_with_wrong_field_count(ml1m_dir):
    path = ml1m_dir / "movies.dat"
    path.write_bytes(b"10::Heat (1995)::Action\n20::Sabrina (1995)\n")
    expect(lambda: load_dataset("ml-1m", data_dir=ml1m_dir), path, line=2, text="2 instead of 3")


def test_ml1m_ratings_with_single_colons(ml1m_dir):
    path = ml1m_dir / "ratings.dat"
    path.write_text("1::10::5::100\n1:20:3:100:::\n")
    expect(lambda: load_dataset("ml-1m", data_dir=ml1m_dir), path, line=2, text="UserID::MovieID")


def test_ml1m_folder_without_ratings(ml1m_dir):
    (ml1m_dir / "ratings.dat").unlink()
    error = expect(lambda: load_dataset("ml-1m", data_dir=ml1m_dir.parent), ml1m_dir, field="ratings.dat")
    assert "ratings.dat missing" in str(error) and "ml-1m.zip" in str(error)


def test_amazon_meta_line_neither_json_nor_literal(amazon_2014_dir):
    path = amazon_2014_dir / "meta_Office_Products.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("{'asin': 'B001', 'title': 'ok'}\n{'asin': 'B002', 'title': __import__('os')}\n")
    expect(
        lambda: load_dataset("amazon-2014:Office_Products", data_dir=amazon_2014_dir),
        path,
        line=2,
        text="neither JSON nor a Python dict literal",
    )


def test_amazon_review_without_asin(amazon_2018_dir):
    path = amazon_2018_dir / "Office_Products_5.json.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"reviewerID": "A", "asin": "B", "overall": 1, "unixReviewTime": 1}) + "\n")
        handle.write(json.dumps({"reviewerID": "A", "overall": 1, "unixReviewTime": 2}) + "\n")
    expect(
        lambda: load_dataset("amazon-2018:Office_Products", data_dir=amazon_2018_dir),
        path,
        line=2,
        field="asin",
    )


def test_corrupt_gzip(amazon_2018_dir):
    path = write(amazon_2018_dir / "Office_Products_5.json.gz", b"\x1f\x8b\x08\x00garbage")
    expect(
        lambda: load_dataset("amazon-2018:Office_Products", data_dir=amazon_2018_dir),
        path,
        text="cannot read",
    )


def test_unknown_dataset_name():
    expect(lambda: load_dataset("ml-10m"), "ml-10m", text="known: ml-100k")


def test_empty_data_dir(tmp_path):
    expect(lambda: load_dataset("ml-100k", data_dir=tmp_path), tmp_path, text="no ml-100k files")
