"""A long-term feedback-loop simulator: simulated users consume what a recommender shows them, round after round,
and the recommender learns from what they chose.

The users: a "true preference" model (EASE) fitted on every event of the dataset, train and test alike, and never
shown to the recommender; a user's utility for an item is that model's score for the user's full original
history, z-scored per user. Each round a user sees a list of k items; each place r is examined with probability
1 / log2(r + 1) (position bias); among the examined items and a no-choice option (utility `no_choice`), the user
picks one by a multinomial logit with temperature `temperature`; the pick joins the user's history and is never
recommended to them again.

The recommender: the run's model, its histories growing with the picks, updated after every `update_every`
rounds by the online updater (lmrec.online.updater: fine-tuning with replay for the sequence models, a refit for
the others). Its lists come from the one ranking pipeline with the policy's stages: `plain`, or any `--rerank`
spec (`mmr:0.7`, `calibrated:0.5`, `fair:0.2`, `explore:0.1`, `noise:0.5`).

Per round: accuracy against the true preferences (NDCG@k of the list against each user's k best unconsumed items
by true utility; the mean true utility of the list), the choice rate, catalogue coverage (this round and so far),
the Gini of exposure, intra-list diversity, popularity drift (mean training popularity percentile of what is
shown), and how narrow consumption becomes (mean entropy of the categories of each user's last 10 items).

    records = simulate(run, SimulationConfig(rounds=20, policy="fair:0.2"))
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmrec.data.types import Histories, Interactions
from lmrec.errors import ConfigError
from lmrec.eval import beyond
from lmrec.metrics import hit_matrix, ndcg
from lmrec.models.registry import get_model
from lmrec.online.updater import UpdateConfig, Updater
from lmrec.pipeline.evaluate import stage_inputs
from lmrec.pipeline.load import LoadedRun
from lmrec.ranking import RankingPipeline, parse_stages, similarity_vectors

DAY = 86_400


@dataclass(frozen=True)
class SimulationConfig:
    rounds: int = 20
    k: int = 10
    policy: str = "plain"
    users: int | None = None  # simulate the first N users (all when None)
    temperature: float = 0.5
    no_choice: float = 3.0  # utility (per-user z-score) of choosing nothing
    update_every: int = 1
    update_epochs: int = 1
    truth: str = "ease"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.k < 1 or self.update_every < 1 or self.update_epochs < 1:
            raise ConfigError("simulate: rounds, k, update_every and update_epochs must be >= 1")
        if self.temperature <= 0:
            raise ConfigError(f"simulate: temperature must be > 0, got {self.temperature}")
        if self.users is not None and self.users < 1:
            raise ConfigError(f"simulate: users must be >= 1, got {self.users}")


def true_utilities(run: LoadedRun, truth: str, users: np.ndarray) -> np.ndarray:
    """[U, N] per-user z-scored utilities from the truth model fitted on every event the run knows of."""
    every = sequences_as_interactions(run.history, len(run.items))
    model = get_model(truth).create().fit(every, catalog=run.catalog)
    with torch.inference_mode():
        scores = model.score(Histories.from_lists([run.history.row(u).tolist() for u in users])).float().numpy()
    mean, std = scores.mean(axis=1, keepdims=True), scores.std(axis=1, keepdims=True)
    return ((scores - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def sequences_as_interactions(seqs, n_items: int) -> Interactions:
    """Every user's history as one event log over the run's `n_items` items (positions as times without them)."""
    users = np.repeat(np.arange(len(seqs)), seqs.lengths)
    times = seqs.times if seqs.times is not None else np.arange(len(seqs.items), dtype=np.int64)
    return Interactions(users, seqs.items.astype(np.int64), np.asarray(times, np.int64), len(seqs), n_items)


def simulate(run: LoadedRun, config: SimulationConfig, progress: Callable[[int, int], None] | None = None
             ) -> list[dict[str, Any]]:
    """One record per round (and one for round 0's lists before any feedback is learned from)."""
    rng = np.random.default_rng(config.seed)
    n_items = len(run.items)
    users = np.arange(len(run.history) if config.users is None else min(config.users, len(run.history)))
    utility = true_utilities(run, config.truth, users)  # [U, N]
    histories = [run.history.row(u).astype(np.int64).tolist() for u in users]
    consumed = np.zeros((len(users), n_items), bool)
    for row, items in enumerate(histories):
        consumed[row, items] = True
    seen = sequences_as_interactions(run.history, n_items)
    clock = int(seen.timestamp.max(initial=0)) + DAY
    counts = np.bincount(run.split.train.item, minlength=n_items)
    popularity = counts.argsort().argsort() / max(n_items - 1, 1)  # training popularity percentile per item
    categories = _categories(run)
    vectors = similarity_vectors(run.model)
    inputs = stage_inputs(run, vectors)
    specs = [s for s in config.policy.split("+") if s and s != "plain"]
    stages = parse_stages(specs, dataclasses.replace(inputs, seed=config.seed))
    model = run.model
    updater = Updater(UpdateConfig(epochs=config.update_epochs, seed=config.seed))
    exposure_so_far = np.zeros(n_items, bool)
    records = []
    pending: list[tuple[int, int, int]] = []
    for round_ in range(config.rounds + 1):
        started = time.perf_counter()
        queries = Histories.from_lists(histories)
        lists = RankingPipeline.for_model(model, stages).rank(queries, config.k, exclude_seen=True).items
        lists = np.where(np.take_along_axis(consumed, np.maximum(lists, 0), axis=1), -1, lists)  # never again
        picks = _choose(lists, utility, config, rng)
        exposure_so_far[lists[lists >= 0]] = True
        records.append({"policy": config.policy, "round": round_,
                        **_measure(lists, utility, consumed, picks, popularity, categories, vectors, histories,
                                   n_items, config.k),
                        "coverage_so_far": float(exposure_so_far.mean())})
        if round_ == config.rounds:
            break
        for row, item in enumerate(picks.tolist()):  # feedback
            if item >= 0:
                histories[row].append(item)
                consumed[row, item] = True
                pending.append((int(users[row]), item, clock))
        clock += DAY
        if pending and (round_ + 1) % config.update_every == 0:
            new = Interactions(np.asarray([p[0] for p in pending]), np.asarray([p[1] for p in pending]),
                               np.asarray([p[2] for p in pending]), seen.n_users, n_items)
            model = updater.update(model, new, seen, catalog=run.catalog).model
            seen = Interactions(np.concatenate([seen.user, new.user]), np.concatenate([seen.item, new.item]),
                                np.concatenate([seen.timestamp, new.timestamp]), seen.n_users, n_items)
            pending = []
        records[-1]["seconds"] = round(time.perf_counter() - started, 2)
        if progress is not None:
            progress(round_ + 1, config.rounds)
    return records


def _choose(lists: np.ndarray, utility: np.ndarray, config: SimulationConfig, rng: np.random.Generator
            ) -> np.ndarray:
    """[U] the item each user picks from their list (PAD: nothing), position-biased multinomial logit."""
    real = lists >= 0
    examine = rng.random(lists.shape) < 1.0 / np.log2(np.arange(2, lists.shape[1] + 2))[None, :]
    values = np.take_along_axis(utility, np.maximum(lists, 0), axis=1) / config.temperature
    values = np.where(real & examine, values, -np.inf)
    every = np.concatenate([values, np.full((len(lists), 1), config.no_choice / config.temperature)], axis=1)
    every = every - every.max(axis=1, keepdims=True)
    weights = np.exp(every)
    weights /= weights.sum(axis=1, keepdims=True)
    cumulative = weights.cumsum(axis=1)
    picked = (rng.random((len(lists), 1)) > cumulative).sum(axis=1)
    picked = np.minimum(picked, lists.shape[1])
    return np.where(picked < lists.shape[1], lists[np.arange(len(lists)), np.minimum(picked, lists.shape[1] - 1)],
                    -1)


def _measure(lists, utility, consumed, picks, popularity, categories, vectors, histories, n_items, k) -> dict:
    masked = np.where(consumed, -np.inf, utility)
    ideal = np.argpartition(-masked, k - 1, axis=1)[:, :k]  # each user's k best unconsumed items
    relevant = np.sort(ideal, axis=1)
    indptr = np.arange(0, relevant.size + 1, k)
    hits = hit_matrix(lists, indptr, relevant.ravel(), k)
    shown = lists[lists >= 0]
    out = {"true_ndcg": float(ndcg(hits, np.full(len(lists), k), k).mean()),
           "true_utility": float(np.take_along_axis(utility, np.maximum(lists, 0), axis=1)[lists >= 0].mean()),
           "choice_rate": float((picks >= 0).mean()),
           "coverage": beyond.coverage(lists, n_items, k), "gini": beyond.recommendation_gini(lists, n_items, k),
           "popularity": float(popularity[shown].mean()) if len(shown) else float("nan")}
    if categories is not None:
        out["ild"] = float(np.nanmean(beyond.intra_list_diversity(lists, k, item_categories=categories)))
        out["consumption_entropy"] = float(np.mean([_entropy(h[-10:], categories) for h in histories]))
    elif vectors is not None:
        out["ild"] = float(np.nanmean(beyond.intra_list_diversity(lists, k, item_vectors=vectors)))
    return out


def _categories(run: LoadedRun) -> list[frozenset[str]] | None:
    catalog = run.catalog
    if catalog is None or not catalog.categorical or len(catalog) != len(run.items):
        return None
    return catalog.category_sets(catalog.categorical[0])


def _entropy(items: list[int], categories: list[frozenset[str]]) -> float:
    counts: dict[str, float] = {}
    for item in items:
        for c in categories[item]:
            counts[c] = counts.get(c, 0.0) + 1.0 / len(categories[item])
    total = sum(counts.values())
    if total == 0:
        return 0.0
    p = np.asarray(list(counts.values())) / total
    return float(-(p * np.log2(p)).sum())

