"""Pre-train an inductive (text-only, ID-free) sequence model on one or several source catalogues.

Each source keeps its own users and items (indices offset, never merged by ID); items are known only by their text
vectors, so the transformer and the text adapter learn "what follows what" in the language model's space, which
is what carries to a catalogue the model has never seen. Every source is split leave-last-out: the second-last
event of each user validates (early stopping), the last is never trained on.

DIR layout: model/ (a saved sasrec-text model), pretrain.yaml (the full config), meta.json (sources with digests
and stats, fit log, timings, library versions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.config import from_dict, to_dict, write_yaml
from lmrec.data.config import DataConfig, load_data
from lmrec.data.split import Holdout, leave_last_out
from lmrec.data.types import Dataset, Interactions, Sequences
from lmrec.errors import ConfigError, DataError
from lmrec.io import atomic_write_json
from lmrec.models.registry import ModelSpec, get_model
from lmrec.models.sequence import SequentialRecommender
from lmrec.provenance import environment, peak_rss_mib
from lmrec.train.progress import Reporter, epoch_progress


def _default_model() -> ModelSpec:
    # The MoE adapter is UniSRec's: several whitened views of the text space transfer better than one projection,
    # and it is the small part that `finetune=adapter` trains on a new catalogue.
    return ModelSpec("sasrec-text", {"adapter": "moe"})


@dataclass(frozen=True)
class PretrainConfig:
    sources: tuple[DataConfig, ...]
    model: ModelSpec = field(default_factory=_default_model)
    prepare: Any = None  # lmrec.data.prepare.PrepareConfig
    seed: int = 0


def resolve_pretrain_config(values: dict[str, Any]) -> PretrainConfig:
    """Strictly build a PretrainConfig from a nested dict (`sources` is a list of data sections)."""
    from lmrec.data.prepare import PrepareConfig

    unknown = sorted(set(values) - {"sources", "model", "prepare", "seed"})
    if unknown:
        raise ConfigError(f"unknown pretrain config section(s) {unknown}; valid: model, prepare, seed, sources")
    sources = tuple(from_dict(DataConfig, s, where=f"sources[{i}].") for i, s in enumerate(values.get("sources") or []))
    if not sources:
        raise ConfigError("no source data: give --dataset NAME or --interactions FILE --items FILE (repeatable)")
    for i, source in enumerate(sources):
        if bool(source.dataset) == bool(source.interactions):
            raise ConfigError(f"sources[{i}]: give exactly one of a dataset name or an interactions file")
    seed = int(values.get("seed", 0))
    model_values = {**_default_model().params, **dict(values.get("model") or {})}
    name = str(model_values.pop("name", "sasrec-text"))
    entry = get_model(name)
    model_values.setdefault("train", {})
    model_values["train"] = {"seed": seed, **model_values["train"]}
    model_config = entry.config(model_values)
    if not issubclass(entry.cls, SequentialRecommender) or model_config.item_repr != "text" or \
            model_config.pretrained:
        raise ConfigError(f"pretraining needs an inductive text model such as sasrec-text (got {name!r}): "
                          "ID embeddings do not carry to a new catalogue")
    return PretrainConfig(sources, ModelSpec(name, to_dict(model_config)),
                          from_dict(PrepareConfig, values.get("prepare"), where="prepare."), seed)


def pretrain_config_to_dict(config: PretrainConfig) -> dict[str, Any]:
    return {"sources": [to_dict(s) for s in config.sources], "model": {"name": config.model.name,
            **config.model.params}, "prepare": to_dict(config.prepare), "seed": config.seed}


def pretrain(config: PretrainConfig, out: str | Path, *, progress: Reporter | None = None,
             datasets: list[Dataset] | None = None, device: Any = None) -> dict[str, Any]:
    """Load and split every source, train the text model on all of them at once, write DIR; returns meta."""
    from lmrec.device import describe, resolve_device
    from lmrec.text.encoder import encode_catalog

    out = Path(out)
    started = time.perf_counter()
    if datasets is None:
        datasets = [load_data(source, config.prepare) for source in config.sources]
    device = resolve_device(device)
    model = get_model(config.model.name).create(config.model.params).to(device)
    for source, dataset in zip(config.sources, datasets, strict=True):
        if dataset.catalog is None:
            raise DataError(f"source {source.dataset or source.interactions}: no item text (pass --items FILE)")
    splits = [leave_last_out(d.interactions) for d in datasets]
    vectors = np.concatenate([encode_catalog(d.catalog, model.config.encoder, device=device) for d in datasets])
    train, valid = concat_training(splits)
    fit_start = time.perf_counter()
    model.fit(train, valid=valid, text_vectors=vectors, progress=epoch_progress(progress, "pretrain"))
    fit_seconds = time.perf_counter() - fit_start

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model")
    write_yaml(out / "pretrain.yaml", pretrain_config_to_dict(config))
    meta = {
        "model": config.model.name,
        "sources": [{**d.stats(), "digest": d.digest(), "train_interactions": len(s.train)}
                    for d, s in zip(datasets, splits, strict=True)],
        "items": int(len(vectors)), "train_interactions": int(len(train)), "seed": config.seed,
        "fit_seconds": fit_seconds, "total_seconds": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib(),
        "fit_log": model.fit_log_, "device": describe(device), **environment(),
    }
    atomic_write_json(out / "meta.json", meta)
    return meta


def concat_training(splits: list) -> tuple[Interactions, Holdout]:
    """Several sources' training events and validation holdouts in one index space: source k's users and items
    are shifted past those of sources 0..k-1, so nothing is shared by ID."""
    users, items, times, rows = [], [], [], []
    valid_users, inputs, targets = [], [], []
    user_offset = item_offset = 0
    for split in splits:
        train, valid = split.train, split.valid
        users.append(train.user + user_offset)
        items.append(train.item + item_offset)
        times.append(train.timestamp)
        rows.append(len(train))
        valid_users.append(valid.users + user_offset)
        inputs.append(_shift(valid.inputs, item_offset))
        targets.append(_shift(valid.targets, item_offset))
        user_offset += train.n_users
        item_offset += train.n_items
    interactions = Interactions(np.concatenate(users), np.concatenate(items), np.concatenate(times),
                                user_offset, item_offset)
    holdout = Holdout(np.concatenate(valid_users), _concat(inputs), _concat(targets))
    return interactions, holdout


def _shift(seqs: Sequences, offset: int) -> Sequences:
    return Sequences(seqs.indptr, seqs.items + offset)


def _concat(parts: list[Sequences]) -> Sequences:
    """Rows of every part, one after another."""
    offsets = np.cumsum([0] + [int(p.indptr[-1]) for p in parts])
    indptr = np.concatenate([p.indptr[:-1] + o for p, o in zip(parts, offsets, strict=False)] + [offsets[-1:]])
    return Sequences(indptr.astype(np.int64), np.concatenate([p.items for p in parts]).astype(np.int64))
