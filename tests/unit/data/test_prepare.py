"""prepare(): hand-checked effects of each step, re-indexing, order preservation, logging; describe()."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from lmrec.data import PrepareConfig, describe, from_dataframes, load_dataset, prepare
from lmrec.errors import ConfigError, DataError


def make(rows, items=None):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    return from_dataframes(frame, items, name="t")


def events(ds):
    inter = ds.interactions
    return list(
        zip(ds.users.to_raw(inter.user), ds.items.to_raw(inter.item), inter.timestamp.tolist(), strict=True)
    )


REPEATS = [("a", "x", 1, 5), ("a", "y", 2, 3), ("a", "x", 3, 4), ("b", "y", 1, 1)]


def test_defaults_change_nothing_without_repeats():
    ds = make([("a", "x", 1, 5), ("b", "y", 1, 1)])
    assert prepare(ds) is ds


@pytest.mark.parametrize(
    ("dedup", "expected"),
    [
        ("first", [("a", "x", 1), ("a", "y", 2), ("b", "y", 1)]),
        ("last", [("a", "y", 2), ("a", "x", 3), ("b", "y", 1)]),
        ("none", [("a", "x", 1), ("a", "y", 2), ("a", "x", 3), ("b", "y", 1)]),
    ],
)
def test_dedup(dedup, expected, caplog):
    with caplog.at_level(logging.INFO):
        out = prepare(make(REPEATS), PrepareConfig(dedup=dedup))
    assert events(out) == expected
    if dedup != "none":
        assert "removed 1 repeated (user, item) events" in caplog.text


def test_min_rating_keeps_catalogue_items_but_drops_unknown_ones():
    items = pd.DataFrame({"item_id": ["x", "z"], "title": ["X", "Z"]})
    ds = make([("a", "x", 1, 5), ("a", "y", 2, 2), ("b", "y", 1, 1), ("b", "z", 2, 1)], items)
    out = prepare(ds, PrepareConfig(min_rating=4))
    assert events(out) == [("a", "x", 1)]
    assert out.users.raw.tolist() == ["a"]
    assert out.items.raw.tolist() == ["x", "z"]  # y had no text and no events left; z is in the catalogue
    assert out.catalog.frame["title"].tolist() == ["X", "Z"]


def test_k_core_iterates_to_fixed_point(caplog):
    # items: x has 3 events, y 2, z 1. users: a{x,y,z}, b{x,y}, c{x}.
    rows = [
        ("a", "x", 1, 1),
        ("a", "y", 2, 1),
        ("a", "z", 3, 1),
        ("b", "x", 1, 1),
        ("b", "y", 2, 1),
        ("c", "x", 1, 1),
    ]
    with caplog.at_level(logging.INFO):
        out = prepare(make(rows), PrepareConfig(k_core_users=2, k_core_items=2))
    # round 1: drop user c, item z -> x has 2, y 2; a{x,y}, b{x,y}: stable
    assert events(out) == [("a", "x", 1), ("a", "y", 2), ("b", "x", 1), ("b", "y", 2)]
    assert out.n_users == 2 and out.n_items == 2
    assert "removed 2 events, 1 users and 1 items" in caplog.text


def test_k_core_drops_catalogue_only_items():
    items = pd.DataFrame({"item_id": ["x", "q"], "title": ["X", "Q"]})
    out = prepare(make([("a", "x", 1, 1), ("b", "x", 2, 1)], items), PrepareConfig(k_core_items=1))
    assert out.items.raw.tolist() == ["x"] and len(out.catalog) == 1


def test_max_history_keeps_most_recent():
    out = prepare(make(REPEATS), PrepareConfig(dedup="none", max_history=2))
    assert events(out) == [("a", "y", 2), ("a", "x", 3), ("b", "y", 1)]


def test_reindex_keeps_relative_order_and_attributes(ml100k_dir):
    ds = load_dataset("ml-100k", data_dir=ml100k_dir, min_rating=3)
    assert ds.users.raw.tolist() == ["1", "2"]
    assert [e[:2] for e in events(ds)] == [("1", "10"), ("1", "20"), ("2", "30"), ("2", "10")]
    assert ds.user_attributes["user_id"].tolist() == ["1", "2"]


def test_everything_removed_is_an_error():
    with pytest.raises(DataError, match="removed every interaction"):
        prepare(make([("a", "x", 1, 1)]), PrepareConfig(min_rating=5))
    with pytest.raises(DataError, match="needs ratings"):
        prepare(
            from_dataframes(pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "timestamp": [1]})),
            PrepareConfig(min_rating=1),
        )


def test_bad_options_are_config_errors(ml100k_dir):
    with pytest.raises(ConfigError, match="valid: dedup"):
        load_dataset("ml-100k", data_dir=ml100k_dir, kcore=5)
    with pytest.raises(ConfigError):
        PrepareConfig(k_core_users=-1)
    with pytest.raises(ConfigError):
        load_dataset("ml-100k", data_dir=ml100k_dir, dedup="sometimes")


def test_describe_counts_repeats_and_ties(ml100k_dir):
    stats = describe(make(REPEATS + [("b", "x", 1, 2)]))
    assert stats["repeated_user_item_events"] == 1
    assert stats["events_tied_with_previous"] == 1  # b's two events at t=1
    assert stats["interactions"] == 5 and stats["rating_min"] == 1.0
    assert describe(load_dataset("ml-100k", data_dir=ml100k_dir))["text_fields"] == ["title", "genres"]
