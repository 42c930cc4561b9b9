"""Evaluate a run in memory, then write what it measured:

    evaluation = evaluate_loaded(load_run("runs/x"), rerank=("mmr:0.7",))
    write_evaluation(evaluation)     # metrics.json, per_user.csv, recommendations.csv, targets.csv
    evaluate_run(run)                # both
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmrec.data.split import Holdout
from lmrec.errors import ConfigError
from lmrec.eval.evaluate import EvalOptions, EvalResult, evaluate, write_recommendations
from lmrec.io import atomic_write, atomic_write_json, spreadsheet_safe
from lmrec.models.capabilities import CandidateScorer, ClickPredictor, GenerativeLM, RatingPredictor, supports
from lmrec.pipeline.filtering import catalogue_filter
from lmrec.pipeline.load import LoadedRun
from lmrec.ranking import RankingPipeline, StageInputs, parse_stages, similarity_vectors
from lmrec.ranking.explain import item_names
from lmrec.ranking.filters import FilterRules
from lmrec.ranking.stages import RANKER_CANDIDATES, RankerStage, choose_weight
from lmrec.train.progress import Reporter


@dataclass(eq=False)
class RunEvaluation:
    """Valid and test results of one run (test is required), the options and re-ranking they were made with."""

    run: LoadedRun
    results: dict[str, EvalResult]
    seconds: dict[str, float]
    options: EvalOptions
    rerank: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def test(self) -> EvalResult:
        return self.results["test"]

    def to_json(self) -> dict[str, Any]:
        """metrics.json: per holdout the metrics with CIs and seconds, plus what they were measured on."""
        out: dict[str, Any] = {name: {**result.to_json(), "seconds": self.seconds[name]}
                               for name, result in self.results.items()}
        out["rerank"] = list(self.rerank)
        out["split_fingerprint"] = self.run.meta["split"]["fingerprint"]
        out["dataset_digest"] = self.run.meta["dataset"]["digest"]
        return {**out, **self.extra}


def evaluate_loaded(run: LoadedRun, *, ks: tuple[int, ...] | None = None, exclude_seen: bool | None = None,
                    rerank: Sequence[str] = (), progress: Reporter | None = None,
                    rank_with: LoadedRun | None = None, rank_candidates: int = RANKER_CANDIDATES,
                    rank_weight: float | str = "auto", content_filter: FilterRules | None = None,
                    users: int | None = None, test_only: bool = False) -> RunEvaluation:
    """Full-ranking evaluation of the run's model on its valid and test holdouts; `rerank` stages (e.g.
    "mmr:0.7") run after retrieval exactly as the service runs them; `rank_with` (a ranking model's run on the
    same split) re-orders the first `rank_candidates` retrieved items before them; `content_filter` rules remove
    items for everyone (lmrec.ranking.filters; the audit goes into `extra`). `users` evaluates a random subset of
    that many users of each holdout (drawn with the run's seed, so every run on the same split gets the same
    users: for models too slow to rank everyone, e.g. generation), `test_only` skips validation. Nothing is
    written."""
    if ks and max(ks) > len(run.items):  # asked for explicitly (-k): a cut-off past the catalogue is a mistake
        raise ConfigError(f"-k {max(ks)}: more than the run's {len(run.items)} items")
    ks = tuple(sorted(set(ks or run.config.eval.ks)))
    exclude = run.config.eval.exclude_seen if exclude_seen is None else exclude_seen
    options = EvalOptions(ks=ks, exclude_seen=exclude, n_bootstrap=run.config.eval.n_bootstrap, seed=run.config.seed)
    vectors = similarity_vectors(run.model)
    stages = parse_stages(list(rerank), stage_inputs(run, vectors))
    extra: dict[str, Any] = {}
    if rank_with is not None:
        ranker = ranking_stage(run, rank_with, rank_candidates, rank_weight)
        stages = (ranker, *stages)
        extra = {"rank_with": str(rank_with.run_dir.root), "rank_with_model": rank_with.meta.get("model"),
                 "rank_candidates": int(rank_candidates),
                 "rank_weight": "ranker alone" if ranker.weight is None else ranker.weight,
                 "rank_weight_search": ranker.search}
    exclusions = None
    if content_filter is not None:
        found = catalogue_filter(content_filter, run.catalog, len(run.items))
        exclusions = found.exclusions
        extra["filter"] = found.audit(run.items.raw)
    categories = None
    if run.catalog is not None and run.catalog.categorical:
        categories = run.catalog.category_sets(run.catalog.categorical[0])
    results: dict[str, EvalResult] = {}
    seconds: dict[str, float] = {}
    if users is not None:
        extra["users_subset"] = {"users": int(users), "seed": int(run.config.seed),
                                 "drawn": "numpy default_rng(seed).choice over each holdout's rows, sorted"}
    for name, holdout in (("valid", run.split.valid), ("test", run.split.test)):
        if holdout is None or (test_only and name == "valid"):
            continue
        if users is not None:
            holdout = holdout_subset(holdout, users, run.config.seed)
        callback = (lambda done, total, _n=name: progress(f"evaluate {_n}", done, total)) if progress else None
        started = time.perf_counter()
        results[name] = evaluate(run.model, holdout, n_items=len(run.items), options=options, train=run.split.train,
                                 item_vectors=vectors, item_categories=categories, progress=callback, stages=stages,
                                 exclusions=exclusions)
        seconds[name] = time.perf_counter() - started
    if supports(run.model, RatingPredictor) or supports(run.model, ClickPredictor):
        extra["tasks"] = task_metrics(run)
    return RunEvaluation(run, results, seconds, options, tuple(rerank), extra)


def holdout_subset(holdout: Holdout, users: int, seed: int) -> Holdout:
    """`users` rows of `holdout` drawn at random with `seed` (all of them when it has no more), in row order."""
    if users < 1:
        raise ConfigError(f"--users {users}: evaluate at least one user")
    if users >= len(holdout):
        return holdout
    rows = np.sort(np.random.default_rng(seed).choice(len(holdout), size=users, replace=False))
    return Holdout(np.asarray(holdout.users)[rows], holdout.inputs.take(rows), holdout.targets.take(rows))


def task_metrics(run: LoadedRun) -> dict[str, Any]:
    """RMSE/MAE and AUC/log-loss on the test events (lmrec.eval.tasks) for a model with rating or click heads.
    The split stores items, not ratings, so the run's data is read again and must still be what it was fit on."""
    from lmrec.data.config import load_data
    from lmrec.eval.tasks import evaluate_clicks, evaluate_ratings, event_pairs

    dataset = load_data(run.config.data, run.config.prepare)
    if dataset.digest() != run.meta["dataset"]["digest"]:
        raise ConfigError(f"{run.run_dir.root}: its data changed since the fit (digest {dataset.digest()} vs "
                          f"{run.meta['dataset']['digest']}); per-task metrics need the same events")
    pairs = event_pairs(dataset, run.split)
    out: dict[str, Any] = {"test_events": len(pairs)}
    if supports(run.model, RatingPredictor):
        out["rating"] = (evaluate_ratings(run.model, pairs, seed=run.config.seed)
                         if np.isfinite(pairs.values).any() else "the test events carry no ratings")
    if supports(run.model, ClickPredictor):
        out["click"] = {**evaluate_clicks(run.model, pairs, n_items=len(run.items), seed=run.config.seed),
                        "negatives": "one uniformly sampled item per test event (sampled candidates)"}
    return out


def stage_inputs(run: LoadedRun, vectors: np.ndarray | None) -> StageInputs:
    """What re-ranking stages read about the run's items: vectors, catalogue categories, training counts."""
    catalog = run.catalog
    sets = None
    if catalog is not None and catalog.categorical and len(catalog) == len(run.items):
        def sets(field: str | None) -> list[frozenset[str]]:
            return catalog.category_sets(field or catalog.categorical[0])
    counts = np.bincount(run.split.train.item, minlength=len(run.items))
    names = item_names(catalog) if catalog is not None and len(catalog) == len(run.items) else None
    return StageInputs(vectors, sets, counts, names=names, language_model=lambda path: tuned_language_model(run, path))


def tuned_language_model(run: LoadedRun, path: str) -> Any:
    """The generative LM of the run at `path` (an `llm-gen` run, LoRA-tuned or not) with its own prompt, for an
    `llm:RUN` stage;
    ConfigError unless it holds one and was trained on this run's split (else its tuning may have seen this run's
    test events)."""
    from lmrec.pipeline.load import load_run
    from lmrec.ranking.llm import TunedLM

    other = load_run(path, device=run.model.device)
    if not supports(other.model, GenerativeLM):
        raise ConfigError(f"--rerank llm:{path}: {other.meta.get('model')} holds no generative LM; fit one with "
                          "`-m llm-gen --set model.finetune=lora`")
    if other.meta["split"]["fingerprint"] != run.meta["split"]["fingerprint"]:
        raise ConfigError(f"--rerank llm:{path}: trained on another split ({other.meta['split']['fingerprint']} vs "
                          f"{run.meta['split']['fingerprint']}); its tuning may have seen this run's test events")
    return TunedLM(other.model.ranking_lm(), other.model.ranking_prompt)


def ranking_stage(run: LoadedRun, ranker: LoadedRun, candidates: int = RANKER_CANDIDATES,
                  weight: float | str = "auto") -> RankerStage:
    """The stage that re-orders `run`'s retrieved items by z(retriever) + weight * z(`ranker`'s model):
    `weight` "auto" is chosen on the run's validation holdout (`ranking.stages.choose_weight`; 0 keeps the
    retriever's order), "alone" ranks by the ranker alone. ConfigError unless that model scores candidates and
    both runs share the split and the item IDs."""
    if not supports(ranker.model, CandidateScorer):
        raise ConfigError(f"--rank-with {ranker.run_dir.root}: {ranker.meta.get('model')} is not a ranking model "
                          "(it cannot score candidates); fit one with `-m dcn`")
    if ranker.meta["split"]["fingerprint"] != run.meta["split"]["fingerprint"]:
        raise ConfigError(f"--rank-with {ranker.run_dir.root}: trained on another split "
                          f"({ranker.meta['split']['fingerprint']} vs {run.meta['split']['fingerprint']}); its "
                          "training data may hold this run's test events")
    if ranker.items.digest() != run.items.digest():
        raise ConfigError(f"--rank-with {ranker.run_dir.root}: its item IDs differ from this run's")
    if weight == "alone":
        return RankerStage(ranker.model, candidates, None)
    if weight == "auto":
        if run.split.valid is None or not len(run.split.valid):
            raise ConfigError("--rank-weight auto needs the run's validation holdout; give --rank-weight W")
        chosen, search = choose_weight(RankingPipeline.for_model(run.model), ranker.model, run.split.valid,
                                       candidates)
        return RankerStage(ranker.model, candidates, chosen, search)
    try:
        value = float(weight)
    except ValueError:
        raise ConfigError(f"--rank-weight {weight!r}: expected auto, alone or a number >= 0") from None
    return RankerStage(ranker.model, candidates, value)


def write_evaluation(evaluation: RunEvaluation) -> dict[str, Any]:
    """metrics.json, per_user.csv, recommendations.csv and targets.csv in the run directory; returns the
    metrics written."""
    run, test = evaluation.run, evaluation.test
    run_dir = run.run_dir
    metrics = evaluation.to_json()
    atomic_write_json(run_dir.metrics, metrics)
    per_user = pd.DataFrame({"user_id": spreadsheet_safe(run.users.to_raw(test.users)),
                             **dict(test.per_user.items())})
    atomic_write(run_dir.per_user, lambda tmp: per_user.to_csv(tmp, index=False))
    write_recommendations(test.ranking, run.users.raw, run.items.raw, run_dir.recommendations, run_dir.targets,
                          max(evaluation.options.ks))
    return metrics


def evaluate_run(run: LoadedRun, *, ks: tuple[int, ...] | None = None, exclude_seen: bool | None = None,
                 rerank: Sequence[str] = (), progress: Reporter | None = None, rank_with: LoadedRun | None = None,
                 rank_candidates: int = RANKER_CANDIDATES, rank_weight: float | str = "auto",
                 content_filter: FilterRules | None = None, users: int | None = None,
                 test_only: bool = False) -> dict[str, Any]:
    """`evaluate_loaded` then `write_evaluation`; returns the metrics written."""
    return write_evaluation(evaluate_loaded(run, ks=ks, exclude_seen=exclude_seen, rerank=rerank,
                                            progress=progress, rank_with=rank_with, rank_candidates=rank_candidates,
                                            rank_weight=rank_weight, content_filter=content_filter, users=users,
                                            test_only=test_only))
