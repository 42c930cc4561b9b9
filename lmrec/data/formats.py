"""Parsers for the official layouts of the built-in datasets (as their archives unpack) -> Dataset.

Each parser takes the folder holding the files and returns a Dataset whose catalogue has documented text and
categorical fields. Multi-valued fields (genres, categories) are '|'-joined, as `Catalog` expects.
"""

from __future__ import annotations

import ast
import csv
import gzip
import html
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.build import attach_user_attributes, build_dataset
from lmrec.data.readers import ColumnMap, canonical_interactions, canonical_items
from lmrec.data.tables import check_file, read_table
from lmrec.data.types import Dataset
from lmrec.errors import DataError

log = logging.getLogger(__name__)

ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def ml_100k(folder: Path, name: str) -> Dataset:
    """u.data (TAB, no header) + u.item (latin-1, '|', 19 genre flags) + u.user; ties keep u.data order."""
    data = read_table(folder / "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"])
    inter = canonical_interactions(data, ColumnMap())
    genres = _ml100k_genres(folder / "u.genre")
    names = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *genres]
    table = read_table(folder / "u.item", sep="|", encoding="latin-1", names=names, quoting=csv.QUOTE_NONE)
    flags = table.frame[list(genres)].to_numpy() == "1"
    items = canonical_items(table, ("movie_id",))[["item_id", "title", "release_date", "imdb_url"]]
    items["genres"] = ["|".join(g for g, on in zip(genres, row, strict=True) if on) for row in flags]
    items["year"] = items["release_date"].str.extract(r"(\d{4})\s*$", expand=False)
    dataset = build_dataset(
        inter,
        items,
        name=name,
        source=str(folder / "u.data"),
        items_source=str(folder / "u.item"),
        text_fields=("title", "genres"),
        categorical=("genres",),
        numeric=("year",),
    )
    users_path = folder / "u.user"
    if users_path.is_file():
        users = read_table(users_path, sep="|", names=["user_id", "age", "gender", "occupation", "zip_code"])
        dataset = attach_user_attributes(dataset, users.frame)
    return dataset


def _ml100k_genres(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ML100K_GENRES
    lines = [line.split("|")[0] for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]
    if len(lines) != 19:
        raise DataError(f"expected 19 genres, found {len(lines)}", source=str(path))
    return tuple(lines)


def ml_1m(folder: Path, name: str) -> Dataset:
    """ratings.dat + movies.dat (latin-1, '::'-separated, genres '|'-joined) + users.dat."""
    # '::' read as ':' with empty fields in between keeps pandas' fast C parser (the regex engine is slower).
    cols = ["user_id", "_a", "item_id", "_b", "rating", "_c", "timestamp"]
    table = read_table(folder / "ratings.dat", sep=":", names=cols, quoting=csv.QUOTE_NONE)
    spacers = (table.frame[["_a", "_b", "_c"]] != "").any(axis=1).to_numpy()
    if spacers.any():
        raise table.error("expected UserID::MovieID::Rating::Timestamp", int(np.flatnonzero(spacers)[0]))
    inter = canonical_interactions(table, ColumnMap())
    movies = read_table(
        folder / "movies.dat", sep="::", encoding="latin-1", names=["movie_id", "title", "genres"]
    )
    items = canonical_items(movies, ("movie_id",))
    dataset = build_dataset(
        inter,
        items,
        name=name,
        source=str(folder / "ratings.dat"),
        items_source=str(folder / "movies.dat"),
        text_fields=("title", "genres"),
        categorical=("genres",),
    )
    if (folder / "users.dat").is_file():
        users = read_table(
            folder / "users.dat",
            sep="::",
            encoding="latin-1",
            names=["user_id", "gender", "age", "occupation", "zip_code"],
        )
        dataset = attach_user_attributes(dataset, users.frame)
    return dataset


def ml_latest_small(folder: Path, name: str) -> Dataset:
    """ratings.csv + movies.csv (+ tags.csv aggregated per movie into a '|'-joined `tags` text field)."""
    ratings = read_table(folder / "ratings.csv")
    inter = canonical_interactions(ratings, ColumnMap(user="userId", item="movieId"))
    items = canonical_items(read_table(folder / "movies.csv"), ("movieId",))
    items["genres"] = items["genres"].replace("(no genres listed)", "")
    if (folder / "tags.csv").is_file():
        tags = read_table(folder / "tags.csv").frame
        tags = tags.assign(tag=tags["tag"].str.strip()).loc[lambda f: f["tag"] != ""]
        joined = tags.drop_duplicates(["movieId", "tag"]).groupby("movieId", sort=False)["tag"].agg("|".join)
        items["tags"] = items["item_id"].map(joined).fillna("")
    return build_dataset(
        inter,
        items,
        name=name,
        source=str(folder / "ratings.csv"),
        items_source=str(folder / "movies.csv"),
        text_fields=tuple(f for f in ("title", "genres", "tags") if f in items.columns),
        categorical=("genres",),
    )


def lastfm_hetrec(folder: Path, name: str) -> Dataset:
    """user_artists.dat (play counts -> rating; no timestamps: row order is the time) + artists.dat names."""
    table = read_table(folder / "user_artists.dat", sep="\t")
    table.frame["_row"] = np.arange(len(table.frame)).astype(str)
    log.warning(
        "%s has NO timestamps: using the file row order 0..%d as a synthetic time; sequential results "
        "on this dataset are not meaningful",
        folder / "user_artists.dat",
        len(table.frame) - 1,
    )
    inter = canonical_interactions(
        table, ColumnMap(user="userID", item="artistID", timestamp="_row", rating="weight")
    )
    artists = read_table(folder / "artists.dat", sep="\t", quoting=csv.QUOTE_NONE)
    items = canonical_items(artists, ("id",)).rename(columns={"name": "title"})
    items = items[[c for c in ("item_id", "title", "url") if c in items.columns]]
    return build_dataset(
        inter,
        items,
        name=name,
        source=str(folder / "user_artists.dat"),
        items_source=str(folder / "artists.dat"),
        text_fields=("title",),
    )


def generic_folder(folder: Path, name: str) -> Dataset:
    """interactions.csv (user_id,item_id,timestamp[,seq]) + items.csv (item_id,text[,category_code,...])."""
    table = read_table(folder / "interactions.csv")
    order = "seq" if "seq" in table.frame.columns else None
    inter = canonical_interactions(table, ColumnMap(order=order))
    items = canonical_items(read_table(folder / "items.csv"), ("item_id",))
    categorical = tuple(c for c in ("category_code", "brand_code") if c in items.columns)
    return build_dataset(
        inter,
        items,
        name=name,
        source=str(folder / "interactions.csv"),
        items_source=str(folder / "items.csv"),
        text_fields=("text",) if "text" in items.columns else None,
        categorical=categorical,
    )


REVIEW_FIELDS = {
    "reviewerID": "user_id",
    "asin": "item_id",
    "overall": "rating",
    "unixReviewTime": "timestamp",
}


def amazon(folder: Path, name: str, reviews: str, meta: str, release: int) -> Dataset:
    """McAuley-lab reviews (5-core) + metadata json.gz; ties on the day-granular time keep file order."""
    path = check_file(folder / reviews)
    rows = [[record[k] for k in REVIEW_FIELDS] for record in _records(path, tuple(REVIEW_FIELDS))]
    inter = pd.DataFrame(rows, columns=list(REVIEW_FIELDS.values()))
    inter["user_id"], inter["item_id"] = inter["user_id"].astype(str), inter["item_id"].astype(str)
    items = None
    if (folder / meta).is_file():
        items = _amazon_meta(check_file(folder / meta), set(inter["item_id"]), release)
    else:
        log.warning("%s not found: the dataset has no item text", folder / meta)
    return build_dataset(
        inter,
        items,
        name=name,
        source=str(path),
        items_source=str(folder / meta),
        text_fields=("title", "brand", "categories", "description"),
        categorical=("categories", "brand"),
        numeric=("price",),
        line_offset=1,
    )


def _amazon_meta(path: Path, wanted: set[str], release: int) -> pd.DataFrame:
    asin_re = re.compile(r"""["']asin["']\s*:\s*["']([^"']+)["']""")
    rows, seen, dupes = [], set(), 0
    for line_no, raw in _lines(path):
        match = asin_re.search(raw)
        if match is None or match.group(1) not in wanted:
            continue
        if match.group(1) in seen:
            dupes += 1
            continue
        record = _parse_record(raw, path, line_no)
        seen.add(match.group(1))
        categories = record.get("categories") if release == 2014 else [record.get("category") or []]
        flat = dict.fromkeys(_clean(c) for group in categories or [] for c in group if _clean(c))
        description = record.get("description") or ""
        if isinstance(description, list):
            description = " ".join(str(d) for d in description)
        rows.append(
            {
                "item_id": match.group(1),
                "title": _clean(record.get("title")),
                "brand": _clean(record.get("brand")),
                "categories": "|".join(flat),
                "description": _clean(description),
                "price": _price(record.get("price")),
            }
        )
    if dupes:
        log.warning("%s: %d repeated metadata rows for the same ASIN; kept the first of each", path, dupes)
    log.info("%s: metadata for %d of %d reviewed items", path, len(rows), len(wanted))
    return pd.DataFrame(rows, columns=["item_id", "title", "brand", "categories", "description", "price"])


def _records(path: Path, required: tuple[str, ...]) -> Iterator[dict]:
    for line_no, raw in _lines(path):
        record = _parse_record(raw, path, line_no)
        for key in required:
            if key not in record:
                raise DataError(f"record has no '{key}'", source=str(path), line=line_no, field=key)
        yield record


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield line_no, raw
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read: {exc}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc}", source=str(path)) from None


def _parse_record(raw: str, path: Path, line_no: int) -> dict:
    """Strict JSON, else a Python dict literal (the 2014 metadata) via ast.literal_eval; never eval."""
    try:
        record = json.loads(raw)
    except ValueError:
        try:
            record = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DataError(
                "neither JSON nor a Python dict literal", source=str(path), line=line_no
            ) from None
    if not isinstance(record, dict):
        raise DataError(f"expected an object, got {type(record).__name__}", source=str(path), line=line_no)
    return record


_TAGS = re.compile(r"<[^>]+>")


def _clean(value: object) -> str:
    if value is None or isinstance(value, float) and np.isnan(value):
        return ""
    return " ".join(_TAGS.sub(" ", html.unescape(str(value))).split())


def _price(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    match = re.search(r"\d[\d,]*\.?\d*", str(value or ""))
    return float(match.group(0).replace(",", "")) if match else float("nan")
