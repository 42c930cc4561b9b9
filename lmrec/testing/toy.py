"""Tiny datasets with a known right answer, for correctness tests of any recommender.

- `block_data`: users of block b only touch items of block b (a checkerboard user-item matrix); catalogue text
  uses block-specific words, so both collaborative and content models can find the block.
- `ring_data`: every user walks a ring of items, item i followed by item i+1 (mod n); a sequence model must
  learn the successor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmrec.data.split import Split, leave_last_out
from lmrec.data.types import Catalog, Dataset, Histories, IdMap, Interactions

BLOCK_WORDS = (
    ("space", "rocket", "alien", "galaxy", "planet"),
    ("romance", "love", "wedding", "kiss", "heart"),
    ("detective", "murder", "crime", "police", "clue"),
    ("dragon", "wizard", "magic", "castle", "sword"),
)


@dataclass(frozen=True, eq=False)
class BlockData:
    dataset: Dataset
    split: Split
    item_block: np.ndarray  # [n_items] block of each dense item
    queries: Histories  # the first `query_len` items of every user
    query_block: np.ndarray  # [n_users] block of each query


@dataclass(frozen=True, eq=False)
class RingData:
    dataset: Dataset
    split: Split
    queries: Histories  # ring walks ending at random items
    answers: np.ndarray  # [n_queries] the item that follows each query's last item


def block_data(
    n_blocks: int = 2,
    users_per_block: int = 20,
    items_per_block: int = 12,
    items_per_user: int = 7,
    query_len: int = 3,
    seed: int = 0,
) -> BlockData:
    """Checkerboard interactions plus a catalogue whose titles share words within a block."""
    if not 1 <= n_blocks <= len(BLOCK_WORDS) or items_per_user > items_per_block:
        raise ValueError("block_data: 1..4 blocks and items_per_user <= items_per_block")
    rng = np.random.default_rng(seed)
    n_users, n_items = n_blocks * users_per_block, n_blocks * items_per_block
    item_block = np.repeat(np.arange(n_blocks), items_per_block)
    user_block = np.repeat(np.arange(n_blocks), users_per_block)
    rows = []
    for u in range(n_users):
        items = (
            rng.choice(items_per_block, size=items_per_user, replace=False) + user_block[u] * items_per_block
        )
        rows.append(items)
    items = np.concatenate(rows)
    users = np.repeat(np.arange(n_users), items_per_user)
    times = np.tile(np.arange(items_per_user), n_users).astype(np.int64) + 1_000_000
    ratings = np.where(items % 2 == 0, 5.0, 2.0).astype(np.float32)  # even items are liked: a rating signal
    inter = Interactions(users, items.astype(np.int64), times, n_users, n_items, ratings)
    titles = []
    for i in range(n_items):
        words = rng.choice(BLOCK_WORDS[item_block[i]], size=3, replace=False)
        titles.append(f"{' '.join(words)} item{i}")
    frame = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": titles,
            "genres": [f"genre{b}" for b in item_block],
        }
    )
    dataset = Dataset(
        "toy-blocks",
        inter,
        IdMap(np.asarray([f"u{u}" for u in range(n_users)]), kind="user"),
        IdMap(frame["item_id"].to_numpy(), kind="item"),
        Catalog(frame, ("title", "genres"), categorical=("genres",)),
        pd.DataFrame({"user_id": [f"u{u}" for u in range(n_users)], "segment": [f"s{b}" for b in user_block],
                      "age": rng.integers(18, 70, size=n_users)}),
    )
    queries = Histories.from_lists([r[:query_len] for r in rows])
    return BlockData(dataset, leave_last_out(inter), item_block, queries, user_block)


_WORDS = ("apple", "river", "candle", "violin", "tiger", "marble", "rocket", "garden", "pepper", "castle", "ocean",
          "pencil", "falcon", "lantern", "cactus", "harbor", "velvet", "meadow", "anchor", "comet")


def _ring_title(i: int) -> str:
    """A distinct word per item: text models must be able to tell items apart; the order lives only in the walks."""
    return _WORDS[i % len(_WORDS)] + ("" if i < len(_WORDS) else f" {i // len(_WORDS)}")


def ring_data(n_items: int = 20, n_users: int = 100, length: int = 12, seed: int = 0) -> RingData:
    """Walks i, i+1, ... (mod n_items) from random starts; queries are new walks of 3 to `length` items."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_items, size=n_users)
    walks = (starts[:, None] + np.arange(length)[None, :]) % n_items  # [U, length]
    users = np.repeat(np.arange(n_users), length)
    times = np.tile(np.arange(length), n_users).astype(np.int64) + 1_000_000
    inter = Interactions(users, walks.ravel().astype(np.int64), times, n_users, n_items,
                         np.full(n_users * length, 4.0, np.float32))
    frame = pd.DataFrame(
        {"item_id": [f"r{i}" for i in range(n_items)], "title": [_ring_title(i) for i in range(n_items)],
         "shelf": [f"shelf{i % 4}" for i in range(n_items)]}
    )
    dataset = Dataset(
        "toy-ring",
        inter,
        IdMap(np.asarray([f"u{u}" for u in range(n_users)]), kind="user"),
        IdMap(frame["item_id"].to_numpy(), kind="item"),
        Catalog(frame, ("title",), categorical=("shelf",)),
        pd.DataFrame({"user_id": [f"u{u}" for u in range(n_users)],
                      "segment": [f"s{s}" for s in rng.integers(0, 3, size=n_users)]}),
    )
    q_starts = rng.integers(0, n_items, size=2 * n_items)
    q_lengths = rng.integers(3, length + 1, size=len(q_starts))
    queries = [((s + np.arange(n)) % n_items).tolist() for s, n in zip(q_starts, q_lengths, strict=True)]
    answers = np.asarray([(q[-1] + 1) % n_items for q in queries], dtype=np.int64)
    return RingData(dataset, leave_last_out(inter), Histories.from_lists(queries), answers)


def new_items_data(n_topics: int = 4, users_per_topic: int = 30, known_per_topic: int = 8, new_per_topic: int = 2,
                   seed: int = 0) -> Dataset:
    """A stream where text predicts the next item and new items arrive late: the cold-start item fixture.

    Each user stays in one topic (titles share the topic's words). Times 1..6: six known items of the topic;
    time 8: one more known item (a validation period starting at 8); times 20 and 21: one new item of the topic
    (first seen then) and a last known one. With `SplitConfig(method="global_time", valid_cut=8, cut=20)`, or
    quantiles 0.75 / 0.85, new items are exactly those the test period introduces. New titles add the word "novel".
    """
    if not 1 <= n_topics <= len(BLOCK_WORDS) or known_per_topic < 8:
        raise ValueError("new_items_data: 1..4 topics and known_per_topic >= 8")
    rng = np.random.default_rng(seed)
    per_topic = known_per_topic + new_per_topic
    rows = []
    for u in range(n_topics * users_per_topic):
        topic = u % n_topics
        known = rng.permutation(known_per_topic)[:8] + topic * per_topic
        new = rng.integers(known_per_topic, per_topic) + topic * per_topic
        items = [*known[:7], new, known[7]]
        times = [1, 2, 3, 4, 5, 6, 8, 20, 21]
        rows += [(u, int(i), t) for i, t in zip(items, times, strict=True)]
    users, items, times = (np.asarray(c, dtype=np.int64) for c in zip(*rows, strict=True))
    n_items = n_topics * per_topic
    inter = Interactions(users, items, times, n_topics * users_per_topic, n_items)
    titles = []
    for i in range(n_items):
        words = " ".join(rng.choice(BLOCK_WORDS[i // per_topic], size=3, replace=False))
        titles.append(f"{words}{' novel' if i % per_topic >= known_per_topic else ''} item{i}")
    frame = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    return Dataset("toy-new-items", inter, IdMap(np.asarray([f"u{u}" for u in range(inter.n_users)]), kind="user"),
                   IdMap(frame["item_id"].to_numpy(), kind="item"), Catalog(frame, ("title",)))
