"""The built-in datasets: official URLs, checksums, folder names and file layouts of each.

`source_for(name)` turns a dataset name (aliases and `amazon-<year>:<Category>` included) into a `Source`; the
URLs are read from `BASE_URLS` at call time, so a mirror (or a test server) can replace them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lmrec.data import formats
from lmrec.data.download import Pin, Remote
from lmrec.data.types import Dataset
from lmrec.errors import DataError

log = logging.getLogger(__name__)


BASE_URLS = {
    "grouplens": "https://files.grouplens.org/datasets/",
    "amazon-2014": "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/",
    "amazon-2018": "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/",
}
AMAZON_2014_CATEGORIES = tuple(
    """
    Amazon_Instant_Video Apps_for_Android Automotive Baby Beauty Books CDs_and_Vinyl
    Cell_Phones_and_Accessories Clothing_Shoes_and_Jewelry Digital_Music Electronics
    Grocery_and_Gourmet_Food Health_and_Personal_Care Home_and_Kitchen Kindle_Store Movies_and_TV
    Musical_Instruments Office_Products Patio_Lawn_and_Garden Pet_Supplies Sports_and_Outdoors
    Tools_and_Home_Improvement Toys_and_Games Video_Games
    """.split()
)
AMAZON_2018_CATEGORIES = tuple(
    """
    AMAZON_FASHION All_Beauty Appliances Arts_Crafts_and_Sewing Automotive Books CDs_and_Vinyl
    Cell_Phones_and_Accessories Clothing_Shoes_and_Jewelry Digital_Music Electronics Gift_Cards
    Grocery_and_Gourmet_Food Home_and_Kitchen Industrial_and_Scientific Kindle_Store Luxury_Beauty
    Magazine_Subscriptions Movies_and_TV Musical_Instruments Office_Products Patio_Lawn_and_Garden
    Pet_Supplies Prime_Pantry Software Sports_and_Outdoors Tools_and_Home_Improvement Toys_and_Games
    Video_Games
    """.split()
)
ALIASES = {
    "amazon-office-2014": "amazon-2014:Office_Products",
    "hetrec2011-lastfm-2k": "lastfm-hetrec",
    "lastfm-hetrec2011-2k": "lastfm-hetrec",
}


@dataclass(frozen=True)
class Layout:
    """Files that identify a folder layout and the parser that reads it."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[Path, str], Dataset]


@dataclass(frozen=True)
class Source:
    """A built-in dataset: local folder names, file layouts, official URLs and known checksums."""

    name: str
    slug: str
    folders: tuple[str, ...]
    layouts: tuple[Layout, ...]  # the first is what a download produces
    remotes: tuple[Remote, ...]
    pins: dict[str, Pin]
    home: str


def dataset_names() -> list[str]:
    """Names `load_dataset` accepts; `<Category>` is an Amazon category such as Office_Products."""
    return [
        "ml-100k",
        "ml-1m",
        "ml-latest-small",
        "lastfm-hetrec",
        "amazon-2014:<Category>",
        "amazon-2018:<Category>",
        *ALIASES,
    ]


def source_for(name: str) -> Source:
    """The Source of a dataset name (aliases and `amazon-<year>:<Category>` included)."""
    key = ALIASES.get(name.strip().lower(), name.strip())
    base, _, category = key.partition(":")
    base = base.lower()
    if base in ("amazon-2014", "amazon-2018") and category:
        return amazon_source(int(base[-4:]), category)
    builders = {
        "ml-100k": _ml_100k,
        "ml-1m": _ml_1m,
        "ml-latest-small": _ml_latest_small,
        "lastfm-hetrec": _lastfm,
    }
    if base in builders and not category:
        return builders[base]()
    raise DataError(
        f"unknown dataset '{name}'; known: {', '.join(dataset_names())}; for your own files use "
        f"load_files(interactions, items)"
    )


def _gl(path: str) -> str:
    return BASE_URLS["grouplens"] + path


def _ml_100k() -> Source:
    members = {"u.data": True, "u.item": True, "u.genre": False, "u.user": False}
    return Source(
        "ml-100k",
        "ml-100k",
        ("ml-100k",),
        (Layout(("u.data", "u.item"), ("u.genre", "u.user"), formats.ml_100k),),
        (Remote(_gl("movielens/ml-100k.zip"), members),),
        {
            "u.data": Pin("sha256", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
            "u.item": Pin("sha256", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
        },
        "https://grouplens.org/datasets/movielens/100k/",
    )


def _ml_1m() -> Source:
    members = {"ratings.dat": True, "movies.dat": True, "users.dat": False}
    return Source(
        "ml-1m",
        "ml-1m",
        ("ml-1m", "ml-1m-metadata"),
        (Layout(("ratings.dat", "movies.dat"), ("users.dat",), formats.ml_1m),),
        (Remote(_gl("movielens/ml-1m.zip"), members),),
        {
            "movies.dat": Pin("sha256", "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
            # git blob id of the GroupLens file, carried identically by two independent repositories
            "ratings.dat": Pin("gitblob", "77a7c4b150f588c23bb9e1f068aa996c0b413695"),
        },
        "https://grouplens.org/datasets/movielens/1m/",
    )


def _ml_latest_small() -> Source:
    members = {"ratings.csv": True, "movies.csv": True, "tags.csv": False}
    return Source(
        "ml-latest-small",
        "ml-latest-small",
        ("ml-latest-small",),
        (Layout(("ratings.csv", "movies.csv"), ("tags.csv",), formats.ml_latest_small),),
        (Remote(_gl("movielens/ml-latest-small.zip"), members),),
        {
            "ratings.csv": Pin("sha256", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
            "movies.csv": Pin("sha256", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"),
        },
        "https://grouplens.org/datasets/movielens/latest/",
    )


def _lastfm() -> Source:
    members = {"user_artists.dat": True, "artists.dat": True}
    return Source(
        "lastfm-hetrec",
        "lastfm-hetrec",
        ("lastfm-hetrec", "hetrec2011-lastfm-2k", "lastfm-hetrec2011-2k"),
        (Layout(("user_artists.dat", "artists.dat"), (), formats.lastfm_hetrec),),
        (Remote(_gl("hetrec2011/hetrec2011-lastfm-2k.zip"), members),),
        {
            "user_artists.dat": Pin(
                "sha256", "001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b"
            ),
            "artists.dat": Pin("sha256", "4c99dc28397ec559520d5bf5341f4c952c8c416c3de918548f88269b88039806"),
        },
        "https://grouplens.org/datasets/hetrec-2011/",
    )


def amazon_source(year: int, category: str) -> Source:
    known = AMAZON_2014_CATEGORIES if year == 2014 else AMAZON_2018_CATEGORIES
    if not re.fullmatch(r"[A-Za-z][A-Za-z_]*", category):
        raise DataError(f"'{category}' is not an Amazon category name; {year} categories: {', '.join(known)}")
    if category not in known:
        log.warning(
            "'%s' is not a known Amazon %d category (%s); trying it anyway", category, year, ", ".join(known)
        )
    name, slug = f"amazon-{year}:{category}", f"amazon-{year}-{category}"
    short = category.split("_")[0].lower()
    if year == 2014:
        reviews, meta = f"reviews_{category}_5.json.gz", f"meta_{category}.json.gz"
        remotes = (Remote(BASE_URLS["amazon-2014"] + reviews), Remote(BASE_URLS["amazon-2014"] + meta))
        home = "https://jmcauley.ucsd.edu/data/amazon/"
    else:
        reviews, meta = f"{category}_5.json.gz", f"meta_{category}.json.gz"
        remotes = (
            Remote(BASE_URLS["amazon-2018"] + f"categoryFilesSmall/{reviews}"),
            Remote(BASE_URLS["amazon-2018"] + f"metaFiles2/{meta}"),
        )
        home = "https://nijianmo.github.io/amazon/"
    official = Layout((reviews,), (meta,), partial(formats.amazon, reviews=reviews, meta=meta, release=year))
    generic = Layout(("interactions.csv", "items.csv"), (), formats.generic_folder)
    return Source(
        name, slug, (slug, f"amazon-{short}-{year}", category), (official, generic), remotes, {}, home
    )


def builtin_sources() -> list[Source]:
    """The Sources with a fixed name (Amazon ones are made per category by `amazon_source`)."""
    return [_ml_100k(), _ml_1m(), _ml_latest_small(), _lastfm()]
