"""A run: data -> split -> fit -> artefacts in RUN_DIR; then evaluate / recommend from RUN_DIR alone.

RUN_DIR layout (every file written atomically):
  config.yaml      full resolved config (data, prepare, split, model, eval, seed)
  model/           weights.safetensors + config.yaml + meta.json (the model's own artefact)
  ids.json         raw <-> dense ID maps of users and items
  split.npz        the frozen split (train events, valid/test holdouts), no pickles; its fingerprint in meta.json
  history.npz      every user's full chronological history (for `recommend --user`)
  catalog.parquet  item text and attributes, when the data has them
  meta.json        dataset digest and stats, split fingerprint, seed, versions, timings, peak memory
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.config import from_dict, merge, read_yaml, to_dict, write_yaml
from lmrec.data.split import Holdout, Split, SplitConfig, make_split
from lmrec.data.types import Catalog, Dataset, IdMap, Interactions, Sequences
from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: a built-in dataset name, or generic files with a column mapping."""

    dataset: str | None = None
    interactions: str | None = None
    items: str | None = None
    data_dir: str | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    timestamp_col: str = "timestamp"
    rating_col: str | None = "rating"
    order_col: str | None = None
    sep: str | None = None


@dataclass(frozen=True)
class EvalConfig:
    ks: tuple[int, ...] = (10, 20)
    exclude_seen: bool = True
    n_bootstrap: int = 1000


@dataclass(frozen=True)
class ModelSpec:
    """The model's registered name and its own config values (validated against the model's Config)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    model: ModelSpec
    prepare: Any = None  # lmrec.data.prepare.PrepareConfig
    split: SplitConfig = SplitConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = 0


# -- config <-> dict ---------------------------------------------------------------------------------------------
def resolve_config(values: dict[str, Any]) -> RunConfig:
    """Strictly build a RunConfig from a nested dict (YAML + --set overrides)."""
    from lmrec.data.prepare import PrepareConfig
    from lmrec.models.registry import get_model_class

    values = dict(values)
    allowed = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"unknown config section(s) {unknown}; valid: {sorted(allowed)}")
    model_values = dict(values.get("model") or {})
    name = model_values.pop("name", None)
    if not name:
        raise ConfigError("no model given (--model NAME or model.name in the config)")
    model_cls = get_model_class(str(name))
    seed = int(values.get("seed", 0))
    names = {f.name for f in fields(model_cls.Config)}
    if "seed" in names and "seed" not in model_values:
        model_values["seed"] = seed
    if "train" in names and "seed" not in (model_values.get("train") or {}):
        model_values["train"] = {**(model_values.get("train") or {}), "seed": seed}
    params = to_dict(from_dict(model_cls.Config, model_values, where="model."))
    data = from_dict(DataConfig, values.get("data"), where="data.")
    if not data.dataset and not data.interactions:
        raise ConfigError("no data given: use --dataset NAME or --interactions FILE")
    if data.dataset and data.interactions:
        raise ConfigError("give either --dataset or --interactions, not both")
    return RunConfig(
        data=data,
        model=ModelSpec(str(name), params),
        prepare=from_dict(PrepareConfig, values.get("prepare"), where="prepare."),
        split=from_dict(SplitConfig, values.get("split"), where="split."),
        eval=from_dict(EvalConfig, values.get("eval"), where="eval."),
        seed=int(values.get("seed", 0)),
    )


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return {
        "data": to_dict(config.data),
        "prepare": to_dict(config.prepare),
        "split": to_dict(config.split),
        "model": {"name": config.model.name, **config.model.params},
        "eval": {**to_dict(config.eval), "ks": list(config.eval.ks)},
        "seed": config.seed,
    }


def build_config(base: dict[str, Any] | None, overrides: dict[str, Any]) -> RunConfig:
    return resolve_config(merge(base or {}, overrides))


# -- data --------------------------------------------------------------------------------------------------------
def load_data(config: RunConfig) -> Dataset:
    """Read the dataset a run asks for and apply the preparation config."""
    from lmrec.data.prepare import prepare
    from lmrec.data.readers import ColumnMap, load_files
    from lmrec.data.sources import load_dataset

    data = config.data
    if data.dataset:
        dataset = load_dataset(data.dataset, data_dir=data.data_dir)
    else:
        columns = ColumnMap(user=data.user_col, item=data.item_col, timestamp=data.timestamp_col,
                            rating=data.rating_col, order=data.order_col)
        dataset = load_files(data.interactions, data.items, columns=columns, sep=data.sep)
    return prepare(dataset, config.prepare)


# -- fit ---------------------------------------------------------------------------------------------------------
def fit_run(config: RunConfig, out: str | Path, *, progress: Progress | None = None,
            dataset: Dataset | None = None) -> dict[str, Any]:
    """Load data, split, fit the model and write RUN_DIR. Returns the run's meta dict."""
    from lmrec.models.base import environment
    from lmrec.models.registry import get_model_class

    out = Path(out)
    started = time.perf_counter()
    dataset = dataset if dataset is not None else load_data(config)
    split = make_split(dataset, config.split)
    model_cls = get_model_class(config.model.name)
    model = model_cls(from_dict(model_cls.Config, config.model.params))
    if progress is not None and hasattr(model, "progress"):
        model.progress = lambda *a: progress("fit", *a[:2])
    fit_start = time.perf_counter()
    model.fit(split.train, valid=split.valid, catalog=dataset.catalog)
    fit_seconds = time.perf_counter() - fit_start

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model")
    write_yaml(out / "config.yaml", config_to_dict(config))
    atomic_write_json(out / "ids.json", {"users": dataset.users.raw.tolist(), "items": dataset.items.raw.tolist()})
    save_split(out / "split.npz", split)
    history = dataset.interactions.sequences()
    atomic_write(out / "history.npz",
                 lambda tmp: np.savez(open(tmp, "wb"), indptr=history.indptr, items=history.items))
    if dataset.catalog is not None:
        save_catalog(out / "catalog.parquet", dataset.catalog)
    meta = {
        "model": config.model.name,
        "dataset": {**dataset.stats(), "digest": dataset.digest()},
        "split": {**split.info, "fingerprint": split.fingerprint(), "train_interactions": len(split.train)},
        "seed": config.seed,
        "fit_seconds": fit_seconds,
        "total_seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
        "fit_log": _as_dict(getattr(model, "fit_log_", None)),
        **environment(),
    }
    atomic_write_json(out / "meta.json", meta)
    return meta


def _as_dict(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- artefacts ---------------------------------------------------------------------------------------------------
def save_split(path: Path, split: Split) -> None:
    arrays: dict[str, np.ndarray] = {
        "train_user": split.train.user, "train_item": split.train.item, "train_timestamp": split.train.timestamp,
        "shape": np.asarray([split.train.n_users, split.train.n_items]),
    }
    if split.train.value is not None:
        arrays["train_value"] = split.train.value
    for name, holdout in (("valid", split.valid), ("test", split.test)):
        if holdout is None:
            continue
        arrays[f"{name}_users"] = holdout.users
        for part in ("inputs", "targets"):
            seqs: Sequences = getattr(holdout, part)
            arrays[f"{name}_{part}_indptr"], arrays[f"{name}_{part}_items"] = seqs.indptr, seqs.items
    info = json.dumps({**split.info, "fingerprint": split.fingerprint()})
    arrays["info"] = np.frombuffer(info.encode(), dtype=np.uint8)
    atomic_write(path, lambda tmp: np.savez(open(tmp, "wb"), **arrays))


def load_split(path: Path) -> Split:
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; not an lmrec run directory") from None
    n_users, n_items = (int(v) for v in a["shape"])
    train = Interactions(a["train_user"], a["train_item"], a["train_timestamp"], n_users, n_items,
                         a.get("train_value"))

    def holdout(name: str) -> Holdout | None:
        if f"{name}_users" not in a:
            return None
        seqs = [Sequences(a[f"{name}_{p}_indptr"], a[f"{name}_{p}_items"]) for p in ("inputs", "targets")]
        return Holdout(a[f"{name}_users"], *seqs)

    info = json.loads(bytes(a["info"]).decode())
    split = Split(train, holdout("valid"), holdout("test"), info)
    if split.fingerprint() != info.get("fingerprint"):
        raise ModelFileError(f"{path}: split content does not match its recorded fingerprint (file altered?)")
    return split


def save_catalog(path: Path, catalog: Catalog) -> None:
    frame = catalog.frame.copy()
    frame.attrs = {}
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    meta = {"text_fields": list(catalog.text_fields), "categorical": list(catalog.categorical),
            "numeric": list(catalog.numeric)}
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    atomic_write_json(path.with_suffix(".json"), meta)


def load_catalog(path: Path) -> Catalog | None:
    if not path.is_file():
        return None
    meta = json.loads(path.with_suffix(".json").read_text())
    frame = pd.read_parquet(path)
    for column in frame.columns:
        if str(frame[column].dtype) == "string":
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return Catalog(frame, tuple(meta["text_fields"]), tuple(meta["categorical"]), tuple(meta["numeric"]))


@dataclass
class LoadedRun:
    """Everything `evaluate` and `recommend` need, read back from RUN_DIR."""

    directory: Path
    config: RunConfig
    model: Any
    users: IdMap
    items: IdMap
    split: Split
    history: Sequences
    catalog: Catalog | None
    meta: dict[str, Any]
    version: str | None = None  # the `lmrec update` version in use; None = the model `lmrec fit` wrote


def load_run(directory: str | Path) -> LoadedRun:
    from lmrec.models.base import load_model

    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: no such run directory")
    for required in ("config.yaml", "ids.json", "split.npz", "history.npz", "meta.json", "model"):
        if not (directory / required).exists():
            raise ModelFileError(f"{directory}: missing {required}; not a complete lmrec run (did `lmrec fit` finish?)")
    config = resolve_config(read_yaml(directory / "config.yaml"))
    version, current = current_version(directory)
    ids = json.loads((current / "ids.json").read_text())
    with np.load(current / "history.npz", allow_pickle=False) as z:
        history = Sequences(z["indptr"], z["items"])
    return LoadedRun(directory, config, load_model(current / "model"), IdMap(ids["users"], kind="user"),
                     IdMap(ids["items"], kind="item"), load_split(directory / "split.npz"), history,
                     load_catalog(directory / "catalog.parquet"), json.loads((directory / "meta.json").read_text()),
                     version)


def current_version(directory: Path) -> tuple[str | None, Path]:
    """(version, folder holding model/ + ids.json + history.npz): RUN_DIR itself until `lmrec update` commits
    a version, then RUN_DIR/versions/<version> as named by update_state.json (replaced atomically)."""
    state = directory / "update_state.json"
    if not state.is_file():
        return None, directory
    version = json.loads(state.read_text()).get("version")
    if version is None:
        return None, directory
    current = directory / "versions" / str(version)
    if not current.is_dir():
        raise ModelFileError(f"{state}: names version {version!r} but {current} is missing")
    return str(version), current



def history_for(run: LoadedRun, *, user: str | None = None,
                items: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The item history for a known user, or for a raw list of item IDs (unknown IDs returned, not fatal)."""
    if user is not None:
        return run.history.row(run.users.index(user)), []
    known, unknown = run.items.split_known(items or [])
    if not len(known):
        raise DataError(f"none of the history items are known: {unknown[:5]}", field="history")
    return known, unknown


# -- evaluate ----------------------------------------------------------------------------------------------------
def evaluate_run(run: LoadedRun, *, ks: tuple[int, ...] | None = None, exclude_seen: bool | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Full-ranking evaluation on valid and test; writes metrics.json, recommendations.csv, targets.csv."""
    from lmrec.eval.evaluate import EvalOptions, evaluate, write_recommendations

    ks = tuple(sorted(set(ks or run.config.eval.ks)))
    exclude = run.config.eval.exclude_seen if exclude_seen is None else exclude_seen
    options = EvalOptions(ks=ks, exclude_seen=exclude, n_bootstrap=run.config.eval.n_bootstrap, seed=run.config.seed)
    categories = None
    if run.catalog is not None and run.catalog.categorical:
        categories = run.catalog.category_sets(run.catalog.categorical[0])
    results: dict[str, Any] = {}
    test_result = None
    for name, holdout in (("valid", run.split.valid), ("test", run.split.test)):
        if holdout is None:
            continue
        callback = (lambda done, total, _n=name: progress(f"evaluate {_n}", done, total)) if progress else None
        started = time.perf_counter()
        result = evaluate(run.model, holdout, n_items=len(run.items), options=options, train=run.split.train,
                          item_categories=categories, progress=callback)
        results[name] = {**result.to_json(), "seconds": time.perf_counter() - started}
        if name == "test":
            test_result = result
    results["split_fingerprint"] = run.meta["split"]["fingerprint"]
    results["dataset_digest"] = run.meta["dataset"]["digest"]
    atomic_write_json(run.directory / "metrics.json", results)
    assert test_result is not None
    per_user = pd.DataFrame({"user_id": run.users.to_raw(test_result.users),
                             **{k: v for k, v in test_result.per_user.items()}})
    atomic_write(run.directory / "per_user.csv", lambda tmp: per_user.to_csv(tmp, index=False))
    write_recommendations(test_result.ranking, run.users.raw, run.items.raw,
                          run.directory / "recommendations.csv", run.directory / "targets.csv", max(ks))
    return results


def compare_runs(a: str | Path, b: str | Path, *, metric: str = "ndcg@10", method: str = "t") -> dict[str, Any]:
    """Paired comparison of two evaluated runs on the users both evaluated (same split required)."""
    from lmrec.eval.stats import paired_test

    if method not in ("t", "wilcoxon", "bootstrap", "randomization"):
        raise ConfigError(f"--method {method!r}: use t, wilcoxon, bootstrap or randomization")
    frames = []
    for directory in (Path(a), Path(b)):
        path = directory / "per_user.csv"
        if not path.is_file():
            raise ModelFileError(f"{path}: missing; run `lmrec evaluate {directory}` first")
        frame = pd.read_csv(path, dtype={"user_id": str})
        if metric not in frame.columns:
            raise ConfigError(f"metric {metric!r} not in {path}; available: {[c for c in frame.columns[1:]]}")
        frames.append(frame[["user_id", metric]])
    fingerprints = [json.loads((Path(d) / "meta.json").read_text())["split"]["fingerprint"] for d in (a, b)]
    if fingerprints[0] != fingerprints[1]:
        raise DataError(f"the runs used different splits ({fingerprints[0]} vs {fingerprints[1]}); "
                        "a paired test needs the same users and targets")
    joined = frames[0].merge(frames[1], on="user_id", suffixes=("_a", "_b"))
    result = paired_test(joined[f"{metric}_b"].to_numpy(), joined[f"{metric}_a"].to_numpy(), method=method)
    return {"metric": metric, "a": str(a), "b": str(b), "mean_a": float(joined[f"{metric}_a"].mean()),
            "mean_b": float(joined[f"{metric}_b"].mean()), "users": len(joined), **result}
