"""Fixtures: tiny copies of each official layout, built in tmp_path (writers in data_fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_fakes import (
    write_amazon_2014,
    write_amazon_2018,
    write_lastfm,
    write_ml1m,
    write_ml100k,
    write_ml_latest_small,
)


@pytest.fixture
def ml100k_dir(tmp_path: Path) -> Path:
    return write_ml100k(tmp_path / "ml-100k")


@pytest.fixture
def ml1m_dir(tmp_path: Path) -> Path:
    return write_ml1m(tmp_path / "ml-1m")


@pytest.fixture
def ml_latest_small_dir(tmp_path: Path) -> Path:
    return write_ml_latest_small(tmp_path / "ml-latest-small")


@pytest.fixture
def lastfm_dir(tmp_path: Path) -> Path:
    return write_lastfm(tmp_path / "hetrec2011-lastfm-2k")


@pytest.fixture
def amazon_2014_dir(tmp_path: Path) -> Path:
    return write_amazon_2014(tmp_path / "amazon-2014-Office_Products")


@pytest.fixture
def amazon_2018_dir(tmp_path: Path) -> Path:
    return write_amazon_2018(tmp_path / "amazon-2018-Office_Products")
