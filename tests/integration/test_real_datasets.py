"""The built-in loaders on the real files in ../shared/data: counts, checksums, the published split anchors.

Skipped when the shared folder is absent (it is never committed: the licences forbid redistribution).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from lmrec.data import dataset_info, describe, leave_last_out, load_dataset
from lmrec.errors import DataError

pytestmark = pytest.mark.realdata

ANCHOR = Path(__file__).parents[2].parent / "shared" / "anchors" / "recbole" / "split_expected.tsv"


@pytest.fixture(scope="module")
def ml100k(shared_data):
    return load_dataset("ml-100k", data_dir=shared_data)


@pytest.mark.parametrize(
    ("name", "users", "items", "interactions", "text_fields"),
    [
        ("ml-100k", 943, 1682, 100_000, ["title", "genres"]),
        ("ml-latest-small", 610, 9742, 100_836, ["title", "genres", "tags"]),
        ("amazon-office-2014", 4905, 2420, 53_258, ["text"]),
        ("lastfm-hetrec", 1892, 17_632, 92_834, ["title"]),
    ],
)
def test_counts_match_the_official_releases(
    shared_data, caplog, name, users, items, interactions, text_fields
):
    with caplog.at_level(logging.WARNING):
        stats = describe(load_dataset(name, data_dir=shared_data))
    assert (stats["users"], stats["items"], stats["interactions"]) == (users, items, interactions)
    assert stats["text_fields"] == text_fields and stats["items_with_text"] == items
    assert stats["repeated_user_item_events"] == 0
    assert "differs from the official release" not in caplog.text  # the pinned checksums hold


def test_ml100k_leave_last_out_matches_recbole_anchor(ml100k):
    """Per user by time, ties by u.data line order: all 943 (n_train, valid, test) rows of the anchor."""
    if not ANCHOR.is_file():
        pytest.skip(f"anchor not found: {ANCHOR}")
    expected = pd.read_csv(ANCHOR, sep="\t", dtype=str)
    split = leave_last_out(ml100k.interactions)
    got = pd.DataFrame(
        {
            "user_id": ml100k.users.to_raw(split.test.users),
            "n_train": [str(n) for n in split.valid.inputs.lengths],
            "valid_item": ml100k.items.to_raw(split.valid.targets.items),
            "test_item": ml100k.items.to_raw(split.test.targets.items),
        }
    )
    merged = expected.merge(got, on="user_id", suffixes=("", "_got"), how="left")
    assert len(expected) == len(got) == 943
    for column in ("n_train", "valid_item", "test_item"):
        mismatched = merged[merged[column] != merged[f"{column}_got"]]
        assert mismatched.empty, (
            f"{len(mismatched)} users differ in {column}: {mismatched.head().to_dict('records')}"
        )
    assert len(split.train) == 98_114


def test_amazon_office_leave_last_out_matches_rechorus_dev_and_test(shared_data):
    """The generic copy with its seq tie-break reproduces the ReChorus dev/test targets of every user."""
    folder = shared_data / "amazon-office-2014"
    ds = load_dataset("amazon-office-2014", data_dir=shared_data)
    split = leave_last_out(ds.interactions)
    asin = pd.read_csv(folder / "Office.item2index", sep="\t", header=None, names=["asin", "idx"], dtype=str)
    to_asin = dict(zip(asin["idx"], asin["asin"], strict=True))
    users = ds.users.to_raw(split.test.users).tolist()  # "u" + the ReChorus user number
    for part, holdout in (("test", split.test), ("dev", split.valid)):
        official = pd.read_csv(folder / f"{part}.csv", sep="\t", dtype=str, usecols=["user_id", "item_id"])
        expected = dict(zip("u" + official["user_id"], official["item_id"].map(to_asin), strict=True))
        got = dict(zip(users, ds.items.to_raw(holdout.targets.items), strict=True))
        assert got == expected


def test_ml1m_metadata_only_folder_says_what_is_missing(shared_data):
    with pytest.raises(DataError, match="ratings.dat missing") as info:
        load_dataset("ml-1m", data_dir=shared_data)
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in str(info.value)


def test_ml100k_catalogue_and_info(shared_data, ml100k):
    frame = ml100k.catalog.frame.set_index("item_id")
    assert frame.loc["1", "title"] == "Toy Story (1995)"
    assert frame.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert sum("é" in t for t in frame["title"]) > 0  # ISO-8859-1 decoded
    info = dataset_info(shared_data / "ml-100k")
    assert info["files"]["u.data"]["matches_pin"] and info["files"]["u.item"]["matches_pin"]
    assert info["users"] == 943 and info["events_tied_with_previous"] == 50_561
