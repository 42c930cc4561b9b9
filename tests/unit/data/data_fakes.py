"""Writers of tiny hand-made copies of each official dataset layout (a few hand-checkable rows)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

GENRES = [
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
]


def _flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES)


def write_ml100k(folder: Path) -> Path:
    """User 1: a tie at t=100 (line order: item 10, then 20) and an earlier item 30; user 2: 3 events."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(
        "1\t10\t4\t100\n2\t10\t3\t300\n1\t20\t5\t100\n1\t30\t2\t50\n2\t20\t1\t200\n2\t30\t5\t200\n"
    )
    (folder / "u.item").write_bytes(
        (
            "10|Misérables, Les (1995)|01-Jan-1995||http://imdb/10|" + _flags("Drama", "Musical") + "\n"
            "20|Toy Story (1995)|01-Jan-1995||http://imdb/20|"
            + _flags("Animation", "Children's", "Comedy")
            + "\n"
            "30|GoldenEye (1995)|01-Jan-1995||http://imdb/30|" + _flags("Action") + "\n"
            "40|Never Rated (1996)|01-Jan-1996||http://imdb/40|" + _flags("Drama") + "\n"
        ).encode("latin-1")
    )
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def write_ml1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("1::10::5::100\n1::20::3::100\n2::20::4::50\n1::30::1::90\n")
    (folder / "movies.dat").write_bytes(
        "10::Misérables, Les (1995)::Drama|Musical\n20::Heat (1995)::Action|Crime\n"
        "30::Sabrina (1995)::Comedy|Romance\n".encode("latin-1")
    )
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def write_ml_latest_small(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,964982224\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        '3,"American President, The (1995)",Comedy|Drama\n'
        "5,Unrated (1999),(no genres listed)\n"
    )
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n2,1,pixar,1\n3,1,fun,2\n4,1,pixar,3\n")
    return folder


def write_lastfm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_artists.dat").write_bytes(
        b"userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t11690\r\n3\t51\t228\r\n"
    )
    (folder / "artists.dat").write_text(
        'id\tname\turl\tpictureURL\n51\tDuran "Duran"\thttp://last.fm/51\tx.jpg\n'
        "52\tMorcheeba\thttp://last.fm/52\ty.jpg\n",
        encoding="utf-8",
    )
    return folder


def _gz_lines(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def write_amazon_2014(folder: Path, category: str = "Office_Products") -> Path:
    """Reviews are strict JSON; metadata lines are Python dict literals, as in the official 2014 files."""
    folder.mkdir(parents=True, exist_ok=True)
    reviews = [
        {"reviewerID": "A1", "asin": "B001", "overall": 5.0, "unixReviewTime": 86400, "reviewText": "x"},
        {"reviewerID": "A1", "asin": "B002", "overall": 4.0, "unixReviewTime": 86400},
        {"reviewerID": "A2", "asin": "B002", "overall": 3.0, "unixReviewTime": 172800},
        {"reviewerID": "A1", "asin": "B003", "overall": 1.0, "unixReviewTime": 0},
    ]
    _gz_lines(folder / f"reviews_{category}_5.json.gz", [json.dumps(r) for r in reviews])
    meta = [
        {
            "asin": "B001",
            "title": "Stapler &amp; Staples",
            "categories": [["Office Products", "Staplers"]],
            "brand": "Swingline",
            "price": 12.5,
            "description": "A <b>red</b> stapler",
        },
        {"asin": "B999", "title": "Never reviewed"},
        {"asin": "B002", "title": "Pen", "categories": [["Office Products", "Pens"], ["Office Products"]]},
    ]
    _gz_lines(folder / f"meta_{category}.json.gz", [repr(m) for m in meta])
    return folder


def write_amazon_2018(folder: Path, category: str = "Office_Products") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    reviews = [
        {"overall": 5.0, "reviewerID": "A1", "asin": "B001", "unixReviewTime": 100, "verified": True},
        {"overall": 2.0, "reviewerID": "A1", "asin": "B002", "unixReviewTime": 200},
        {"overall": 4.0, "reviewerID": "A2", "asin": "B001", "unixReviewTime": 150},
    ]
    _gz_lines(folder / f"{category}_5.json.gz", [json.dumps(r) for r in reviews])
    meta = [
        {
            "asin": "B001",
            "title": "Desk Lamp",
            "category": ["Office Products", "Lighting"],
            "brand": "Lumo",
            "description": ["Bright.", "Adjustable."],
            "price": "$1,012.99",
        },
        {"asin": "B001", "title": "Desk Lamp (duplicate row)", "category": []},
        {"asin": "B002", "title": "Paper", "category": ["Office Products"], "price": ""},
    ]
    _gz_lines(folder / f"meta_{category}.json.gz", [json.dumps(m) for m in meta])
    return folder
