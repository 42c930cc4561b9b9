"""Peer libraries in the benchmark harness: the same split, trained in the same run, evaluated by the same code.

A peer runs as a script in its own environment (`make peers` builds `.venv-peers`; RecTools needs numpy < 2 and
pandas < 3) and exchanges plain CSV files with lmrec: lmrec writes the split's training events and query
histories, the peer chooses its config and epochs on the validation holdout and writes top-k lists, and lmrec
ranks and scores those lists exactly as it scores its own models (`lmrec.eval.ranking.rank_lists`), writing an
ordinary evaluated run folder (metrics.json, per_user.csv, recommendations.csv), so paired tests treat peers like
any model.

    row = run_peer("rectools-sasrec", config, "bench/out/runs/rectools-sasrec", threads=2)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmrec.config import write_yaml
from lmrec.data.config import load_data
from lmrec.data.split import Holdout, Split, make_split
from lmrec.data.types import PAD, Dataset, IdMap
from lmrec.errors import ConfigError, LmrecError
from lmrec.eval.evaluate import EvalOptions, summarise, write_recommendations
from lmrec.eval.ranking import rank_lists
from lmrec.io import atomic_write, atomic_write_json, spreadsheet_safe
from lmrec.pipeline.config import RunConfig, config_to_dict
from lmrec.pipeline.rundir import RunDir
from lmrec.provenance import environment

PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"
LIST_LENGTH = 100  # items a peer lists per user: more than any k the harness reports


@dataclass(frozen=True)
class PeerSpec:
    """A peer model: the script that trains it, its arguments (the config grid it may choose from), and the
    sentence the results say about its config."""

    name: str
    script: str
    args: tuple[str, ...]
    note: str


_TRANSFORMER = {"n_blocks": 2, "n_heads": 4, "dropout_rate": 0.2, "session_max_len": 50, "batch_size": 128,
                "lr": 1e-3, "loss": "softmax"}
_GRID = [{"n_factors": 64}, {"n_factors": 128}]
PEERS: dict[str, PeerSpec] = {
    "rectools-sasrec": PeerSpec(
        "rectools-sasrec", "rectools_run.py",
        ("--model", "sasrec", "--base", json.dumps(_TRANSFORMER), "--grid", json.dumps(_GRID)),
        "RecTools 0.19 SASRecModel, softmax loss, 2 blocks, 4 heads, dropout 0.2, lr 1e-3, batch 128, "
        "session_max_len 50; n_factors 64 or 128 and the epoch (every 2, at most --peer-epochs, patience 10) chosen on "
        "validation NDCG@10. It trains on each user's last 51 items only and cannot rank items unseen in training."),
    "rectools-bert4rec": PeerSpec(
        "rectools-bert4rec", "rectools_run.py",
        ("--model", "bert4rec", "--base", json.dumps({**_TRANSFORMER, "mask_prob": 0.15}), "--grid",
         json.dumps(_GRID)),
        "RecTools 0.19 BERT4RecModel (mask_prob 0.15, softmax loss), otherwise as rectools-sasrec: n_factors and "
        "epochs chosen on validation NDCG@10."),
}


def peer_names() -> list[str]:
    return sorted(PEERS)


def get_peer(name: str) -> PeerSpec:
    try:
        return PEERS[name]
    except KeyError:
        raise ConfigError(f"unknown peer {name!r}; available: {', '.join(peer_names())}") from None


def peers_python() -> str:
    """The interpreter of the peers environment: $LMREC_PEERS_PYTHON, else .venv-peers beside the repo's .venv."""
    given = os.environ.get("LMREC_PEERS_PYTHON")
    if given:
        return given
    for root in (Path.cwd(), PEERS_DIR.parents[1]):
        candidate = root / ".venv-peers" / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    raise ConfigError("no peers environment: run `make peers` (builds .venv-peers with RecTools) or set "
                      "LMREC_PEERS_PYTHON to a python that has rectools[torch]==0.19.0")


def write_exchange(folder: Path, dataset: Dataset, split: Split) -> None:
    """The split as the peer reads it: training events, the validation and test query histories, the validation
    targets (raw IDs; `position` orders a user's events)."""
    folder.mkdir(parents=True, exist_ok=True)
    users, items = dataset.users.raw, dataset.items.raw
    train = split.train.sequences()
    owners = np.repeat(np.arange(len(train)), train.lengths)
    _events(users[owners], items[train.items], _positions(train.lengths)).to_csv(folder / "train.csv", index=False)
    for name, holdout in (("valid", split.valid), ("test", split.test)):
        if holdout is None:
            raise ConfigError(f"peers need a {name} holdout (choose epochs on valid, score on test)")
        inputs = holdout.inputs
        owner = np.repeat(np.asarray(holdout.users), inputs.lengths)
        _events(users[owner], items[inputs.items], _positions(inputs.lengths)).to_csv(
            folder / f"{name}_inputs.csv", index=False)
    targets = split.valid.targets
    owner = np.repeat(np.asarray(split.valid.users), targets.lengths)
    pd.DataFrame({"user_id": users[owner], "item_id": items[targets.items]}).to_csv(
        folder / "valid_targets.csv", index=False)


def _events(users: np.ndarray, items: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"user_id": users, "item_id": items, "position": positions})


def _positions(lengths: np.ndarray) -> np.ndarray:
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum())) - starts


def read_lists(path: Path, holdout: Holdout, users: IdMap, items: IdMap) -> np.ndarray:
    """[len(holdout), LIST_LENGTH] dense item indices per holdout row (PAD where the peer listed fewer)."""
    try:
        frame = pd.read_csv(path, dtype={"user_id": str, "item_id": str})
    except (OSError, ValueError) as exc:
        raise LmrecError(f"{path}: unreadable peer output ({exc})") from None
    row_of = {int(u): r for r, u in enumerate(holdout.users)}
    out = np.full((len(holdout), LIST_LENGTH), PAD, dtype=np.int64)
    user_index, _ = users.split_known(frame.user_id)
    item_index, unknown = items.split_known(frame.item_id)
    if unknown or len(user_index) != len(frame):
        raise LmrecError(f"{path}: the peer listed users or items outside the split ({unknown[:3]})")
    ranks = frame["rank"].to_numpy() - 1
    for user, item, rank in zip(user_index, item_index, ranks, strict=True):
        row = row_of.get(int(user))
        if row is not None and 0 <= rank < LIST_LENGTH:
            out[row, rank] = item
    return out


def run_peer(name: str, config: RunConfig, out: str | Path, *, threads: int | None = None, jobs: int = 1,
             ks: tuple[int, ...] = (10, 20), dataset: Dataset | None = None, max_epochs: int = 100
             ) -> dict[str, Any]:
    """Train peer `name` on the split `config` describes (the split lmrec's models get), evaluate its lists, write
    an evaluated run folder; returns a benchmark row."""
    spec = get_peer(name)
    python = peers_python()
    run_dir = RunDir(out)
    exchange = run_dir.root / "exchange"
    dataset = dataset if dataset is not None else load_data(config.data, config.prepare)
    split = make_split(dataset, config.split)
    write_exchange(exchange, dataset, split)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or os.cpu_count() or 1), "PYTHONWARNINGS": "ignore"}
    command = [python, str(PEERS_DIR / spec.script), "--exchange", str(exchange), *spec.args, "--k",
               str(LIST_LENGTH), "--seed", str(config.seed), "--threads", str(threads or 0), "--max-epochs",
               str(max_epochs)]
    started = time.perf_counter()
    with open(run_dir.root / "peer.log", "w") as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    fit_seconds = time.perf_counter() - started
    if finished.returncode != 0:
        tail = (run_dir.root / "peer.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise LmrecError(f"peer {name} failed (exit {finished.returncode}; {run_dir.root / 'peer.log'}): {tail[0]}")
    report = json.loads((exchange / "peer.json").read_text())
    options = EvalOptions(ks=ks, exclude_seen=config.eval.exclude_seen, n_bootstrap=config.eval.n_bootstrap,
                          seed=config.seed)
    categories = None
    if dataset.catalog is not None and dataset.catalog.categorical:
        categories = dataset.catalog.category_sets(dataset.catalog.categorical[0])
    results = {}
    for holdout_name, holdout in (("valid", split.valid), ("test", split.test)):
        lists = read_lists(exchange / f"{holdout_name}_lists.csv", holdout, dataset.users, dataset.items)
        ranking = rank_lists(lists, holdout, n_items=dataset.n_items, k=max(options.ks),
                             exclude_seen=options.exclude_seen)
        results[holdout_name] = summarise(ranking, n_items=dataset.n_items, options=options, train=split.train,
                                          item_categories=categories)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    meta = {"model": name, "peer": {**report, "note": spec.note, "command": command[1:]},
            "dataset": {**dataset.stats(), "digest": dataset.digest()},
            "split": {**split.info, "fingerprint": split.fingerprint(), "train_interactions": len(split.train)},
            "seed": config.seed, "device": "cpu (the peer's own)", "fit_seconds": fit_seconds,
            "peak_rss_mib": peak, "fit_log": None, **environment()}
    write_yaml(run_dir.config, {**config_to_dict(config), "model": {"name": name, "peer": spec.args}})
    atomic_write_json(run_dir.meta, meta)
    metrics = {key: {**result.to_json(), "seconds": 0.0} for key, result in results.items()}
    metrics.update(rerank=[], split_fingerprint=meta["split"]["fingerprint"], dataset_digest=meta["dataset"]["digest"])
    atomic_write_json(run_dir.metrics, metrics)
    test = results["test"]
    per_user = pd.DataFrame({"user_id": spreadsheet_safe(dataset.users.to_raw(test.users)),
                             **dict(test.per_user.items())})
    atomic_write(run_dir.per_user, lambda tmp: per_user.to_csv(tmp, index=False))
    write_recommendations(test.ranking, dataset.users.raw, dataset.items.raw, run_dir.recommendations,
                          run_dir.targets, max(options.ks))
    return {"model": name, "run_dir": str(run_dir.root), "fit_seconds": fit_seconds, "peak_rss_mib": peak,
            "peak_rss_mib_with_eval": peak, "threads": threads, "jobs": jobs, "meta": meta, "metrics": metrics,
            "eval_seconds": 0.0, "peer": True}


__all__ = ["PEERS", "PeerSpec", "get_peer", "peer_names", "peers_python", "read_lists", "run_peer",
           "write_exchange"]
