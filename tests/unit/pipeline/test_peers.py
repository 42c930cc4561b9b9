"""Peers in the harness: the exchange folder a peer reads, and its lists scored by the same code as lmrec's models
(a peer whose lists equal EASE's gets EASE's metrics exactly). The RecTools run itself needs the peers environment
(`make peers`) and is skipped, with the reason, without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.data.split import leave_last_out
from lmrec.errors import ConfigError, LmrecError
from lmrec.eval.evaluate import EvalOptions, evaluate, summarise
from lmrec.eval.ranking import rank_lists
from lmrec.models.registry import create_model
from lmrec.pipeline.peers import LIST_LENGTH, peers_python, read_lists, write_exchange
from lmrec.testing.toy import block_data


@pytest.fixture(scope="module")
def toy():
    data = block_data()
    return data.dataset, leave_last_out(data.dataset.interactions)


def test_the_exchange_holds_the_split_in_raw_ids_and_order(toy, tmp_path: Path) -> None:
    dataset, split = toy
    write_exchange(tmp_path, dataset, split)
    train = pd.read_csv(tmp_path / "train.csv", dtype=str)
    assert len(train) == len(split.train) and set(train.columns) == {"user_id", "item_id", "position"}
    first = dataset.users.raw[0]
    mine = train[train.user_id == first].sort_values("position", key=lambda c: c.astype(int))
    assert mine.item_id.tolist() == dataset.items.raw[split.train.sequences().row(0)].tolist()
    test_inputs = pd.read_csv(tmp_path / "test_inputs.csv", dtype=str)
    assert len(test_inputs) == int(split.test.inputs.lengths.sum())
    assert len(pd.read_csv(tmp_path / "valid_targets.csv")) == int(split.valid.targets.lengths.sum())


def test_lists_are_scored_like_the_model_that_made_them(toy, tmp_path: Path) -> None:
    dataset, split = toy
    model = create_model("ease", {"reg_weight": 10}).fit(split.train)
    top = model.recommend(split.test.inputs.histories(), 20)
    rows = [(dataset.users.raw[u], dataset.items.raw[i], rank + 1) for u, items in zip(split.test.users, top.items,
                                                                                        strict=True)
            for rank, i in enumerate(items)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "rank"]).to_csv(tmp_path / "lists.csv", index=False)
    lists = read_lists(tmp_path / "lists.csv", split.test, dataset.users, dataset.items)
    assert lists.shape == (len(split.test), LIST_LENGTH) and (lists[:, 20:] == -1).all()
    options = EvalOptions(ks=(5, 10), n_bootstrap=0)
    peer = summarise(rank_lists(lists, split.test, n_items=dataset.n_items, k=10), n_items=dataset.n_items,
                     options=options)
    mine = evaluate(model, split.test, n_items=dataset.n_items, options=options)
    for name in ("ndcg@10", "hr@5", "recall@10", "mrr@10", "coverage@10"):
        assert peer.metrics[name] == pytest.approx(mine.metrics[name]), name
    assert np.isnan(peer.metrics["auc"])


def test_a_peer_listing_foreign_items_is_refused(toy, tmp_path: Path) -> None:
    dataset, split = toy
    pd.DataFrame({"user_id": [dataset.users.raw[0]], "item_id": ["not-an-item"], "rank": [1]}).to_csv(
        tmp_path / "lists.csv", index=False)
    with pytest.raises(LmrecError, match="outside the split"):
        read_lists(tmp_path / "lists.csv", split.test, dataset.users, dataset.items)


def test_no_peers_environment_is_one_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LMREC_PEERS_PYTHON", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lmrec.pipeline.peers.PEERS_DIR", tmp_path / "lmrec" / "peers")
    with pytest.raises(ConfigError, match="make peers"):
        peers_python()


def _peers_env() -> str | None:
    try:
        python = peers_python()
    except ConfigError:
        return None
    return python if os.path.exists(python) else None


@pytest.mark.skipif(_peers_env() is None, reason="no peers environment (`make peers` or LMREC_PEERS_PYTHON)")
def test_rectools_sasrec_trains_on_the_split_and_is_scored(tmp_path: Path) -> None:
    from lmrec.pipeline import build_config
    from lmrec.pipeline.peers import run_peer

    data = block_data(n_blocks=2, users_per_block=30)
    config = build_config(None, {"data": {"dataset": "toy"}, "model": {"name": "pop"}, "eval": {"n_bootstrap": 10}})
    row = run_peer("rectools-sasrec", config, tmp_path / "peer", threads=1, dataset=data.dataset, max_epochs=2)
    assert row["peer"] and 0.0 <= row["metrics"]["test"]["ndcg@10"] <= 1.0
    assert row["meta"]["peer"]["best_epoch"] == 2 and len(row["meta"]["peer"]["grid"]) == 2
    for name in ("metrics.json", "per_user.csv", "recommendations.csv", "meta.json"):
        assert (tmp_path / "peer" / name).is_file(), name
