"""Synthetic interaction logs for scale tests (`lmrec synth`): any number of events, generated in vectorised numpy
so 10M events take seconds, with the shapes real logs have:

- popularity: items follow a Zipf law (`zipf` exponent) inside each topic;
- users: activity is heavy-tailed (log-normal events per user);
- sessions: a user's events come in sessions (geometric length, mean `session_length`), seconds apart inside a
  session and days apart between them;
- interest drift: each session keeps the user's topic or, with probability `drift`, moves to another one;
- item text: a title and a description drawn from the topic's own template vocabulary, so text models have
  something topical to read;
- repeats: a user may pick an item again (as in listening logs); `lmrec fit`'s default de-duplication keeps the
  first (synth.json counts the distinct user-item pairs).

Writes OUT/interactions.parquet (user_id, item_id, timestamp), OUT/items.csv (item_id, title, description,
category) and OUT/synth.json (the config, counts and file checksums).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.download import file_digests
from lmrec.errors import ConfigError

ADJECTIVES = ("compact", "classic", "deluxe", "portable", "premium", "basic", "modern", "heavy-duty", "mini",
              "wireless", "eco", "pro", "vintage", "smart", "soft", "bright")
NOUNS = ("stapler", "notebook", "lamp", "kettle", "headphones", "backpack", "chair", "printer", "novel", "puzzle",
         "camera", "blender", "jacket", "sneakers", "guitar", "drone", "tent", "watch", "vase", "keyboard")
FEATURES = ("durable", "lightweight", "quiet", "fast", "colourful", "ergonomic", "waterproof", "rechargeable",
            "adjustable", "foldable", "handmade", "award-winning", "bestselling", "limited edition")
DAY = 86_400


@dataclass(frozen=True)
class SynthConfig:
    events: int = 100_000
    users: int | None = None  # default: events / 50
    items: int | None = None  # default: events / 100, at least 50
    topics: int = 20
    zipf: float = 1.1
    session_length: float = 8.0
    drift: float = 0.2
    start: int = 1_600_000_000  # the first possible timestamp (Unix seconds)
    days: int = 365
    seed: int = 0

    def __post_init__(self) -> None:
        if self.events < 1 or self.topics < 1 or self.zipf <= 0 or self.session_length < 1 or self.days < 1:
            raise ConfigError(f"synth needs events >= 1, topics >= 1, zipf > 0, session_length >= 1, days >= 1; "
                              f"got {self}")
        if not 0 <= self.drift <= 1:
            raise ConfigError(f"synth drift is a probability; got {self.drift}")
        if (self.users is not None and self.users < 1) or (self.items is not None and self.items < self.topics):
            raise ConfigError(f"synth needs users >= 1 and items >= topics ({self.topics}); got {self.users}, "
                              f"{self.items}")

    @property
    def n_users(self) -> int:
        return self.users or max(1, self.events // 50)

    @property
    def n_items(self) -> int:
        return self.items or max(50, self.topics, self.events // 100)


def synth_items(config: SynthConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The catalogue: a topic per item, a title and a description from that topic's vocabulary."""
    n = config.n_items
    topic = np.arange(n) % config.topics
    noun = np.asarray(NOUNS)[topic % len(NOUNS)]
    adjective = np.asarray(ADJECTIVES)[rng.integers(0, len(ADJECTIVES), n)]
    features = np.asarray(FEATURES)[rng.integers(0, len(FEATURES), (n, 2))]
    titles = [f"{a} {w} {i}" for i, (a, w) in enumerate(zip(adjective, noun, strict=True))]
    descriptions = [f"A {f1}, {f2} {w} for topic {t}." for (f1, f2), w, t in zip(features, noun, topic, strict=True)]
    return pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "title": titles, "description": descriptions,
                         "category": [f"topic{t}" for t in topic]})


def synth_events(config: SynthConfig, rng: np.random.Generator) -> pd.DataFrame:
    """`config.events` rows (user_id, item_id, timestamp), each user's rows in time order."""
    n_users, n_items, n_events = config.n_users, config.n_items, config.events
    activity = rng.lognormal(0.0, 1.0, n_users)
    per_user = np.floor(activity / activity.sum() * n_events).astype(np.int64)
    extra = rng.choice(n_users, n_events - int(per_user.sum()), replace=True)
    per_user += np.bincount(extra, minlength=n_users)  # exactly n_events in all
    user = np.repeat(np.arange(n_users), per_user)
    firsts = np.minimum(np.concatenate([[0], np.cumsum(per_user)[:-1]]), n_events - 1)  # each user's first row
    first = np.zeros(n_events, bool)
    first[firsts[per_user > 0]] = True
    session_start = first | (rng.random(n_events) < 1.0 / config.session_length)
    switch = first | (session_start & (rng.random(n_events) < config.drift))
    topic_at_switch = rng.integers(0, config.topics, n_events)
    last_switch = np.maximum.accumulate(np.where(switch, np.arange(n_events), 0))
    topic = topic_at_switch[last_switch]
    item = np.empty(n_events, np.int64)
    ranks = np.arange(1, n_items // config.topics + 2, dtype=np.float64)
    for t in range(config.topics):  # a Zipf law over each topic's items, its head in a random order
        members = rng.permutation(np.flatnonzero(np.arange(n_items) % config.topics == t))
        weights = ranks[: len(members)] ** -config.zipf
        rows = np.flatnonzero(topic == t)
        item[rows] = members[np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(len(rows))),
                                        len(members) - 1)]
    # seconds apart inside a session, days apart between sessions; each user starts somewhere in the first half
    gaps = np.where(session_start, rng.exponential(2 * DAY, n_events), rng.exponential(90.0, n_events))
    clock = np.cumsum(gaps)
    since_first = clock - np.repeat(clock[firsts], per_user)
    starts = config.start + rng.integers(0, config.days * DAY // 2, n_users)
    timestamp = (starts[user] + since_first).astype(np.int64)
    return pd.DataFrame({"user_id": np.char.add("u", user.astype(str)), "item_id": np.char.add("i", item.astype(str)),
                         "timestamp": timestamp})


def write_synth(config: SynthConfig, out: str | Path) -> dict:
    """Generate and write the three files; returns what synth.json holds."""
    from lmrec.io import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    items = synth_items(config, rng)
    events = synth_events(config, rng)
    tmp = out / ".interactions.parquet.tmp"
    events.to_parquet(tmp, index=False)
    tmp.replace(out / "interactions.parquet")
    atomic_write_text(out / "items.csv", items.to_csv(index=False))
    pairs = int(len(events.drop_duplicates(["user_id", "item_id"])))  # repeats are kept, as in listening logs
    info = {"config": asdict(config), "events": len(events), "users": int(events["user_id"].nunique()),
            "items": len(items), "distinct_user_item_pairs": pairs,
            "files": {name: file_digests(out / name)["sha256"] for name in ("interactions.parquet", "items.csv")}}
    atomic_write_json(out / "synth.json", info)
    return info

