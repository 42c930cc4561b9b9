"""Updater: learns new data without forgetting old data; update_run bookkeeping and the atomic version swap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories, Interactions, Sequences
from lmrec.errors import DataError, ModelFileError
from lmrec.models.baselines import Pop
from lmrec.models.sequence import SequentialConfig, SequentialRecommender
from lmrec.online.events import Event, EventLog
from lmrec.online.updater import (
    UpdateConfig,
    Updater,
    concat,
    read_state,
    recent_window_spans,
    recent_windows,
    update_run,
    window_impressions,
)
from lmrec.pipeline import build_config, fit_run, load_run
from lmrec.testing.toy import ring_data
from lmrec.train.trainer import TrainConfig

REPO = Path(__file__).resolve().parents[3]
TRAIN = TrainConfig(epochs=40, batch_size=32, lr=0.01, patience=40, threads=1, seed=0)
SMALL = SequentialConfig(dim=32, heads=2, max_len=16, dropout=0.1, train=TRAIN)


def ring_walks(first_item: int, n_ring: int, n_users: int, length: int, *, first_user: int = 0, seed: int = 0,
               n_users_total: int, n_items: int) -> Interactions:
    """Users walk a ring of items first_item .. first_item+n_ring-1, each step to the next item."""
    starts = np.random.default_rng(seed).integers(0, n_ring, size=n_users)
    walks = first_item + (starts[:, None] + np.arange(length)[None, :]) % n_ring
    users = np.repeat(np.arange(first_user, first_user + n_users), length)
    times = np.tile(np.arange(length), n_users).astype(np.int64)
    return Interactions(users, walks.ravel().astype(np.int64), times, n_users_total, n_items)


def ring_queries(first_item: int, n_ring: int) -> tuple[Histories, np.ndarray]:
    queries = [[first_item + (s + j) % n_ring for j in range(4)] for s in range(n_ring)]
    answers = np.asarray([first_item + (s + 4) % n_ring for s in range(n_ring)])
    return Histories.from_lists(queries), answers


def hr1(model, first_item: int, n_ring: int = 20) -> float:
    queries, answers = ring_queries(first_item, n_ring)
    return float((model.recommend(queries, 1).items[:, 0] == answers).mean())


@pytest.fixture(scope="module")
def shifted() -> dict:
    """A model fitted on ring A (items 0-19); new users then walk ring B (items 20-39)."""
    old = ring_walks(0, 20, 60, 12, n_users_total=120, n_items=40)
    new = ring_walks(20, 20, 60, 12, first_user=60, seed=1, n_users_total=120, n_items=40)
    model = SequentialRecommender(SMALL).fit(old)
    return {"model": model, "old": old, "new": new}


def test_update_with_replay_learns_the_new_ring_and_keeps_the_old(shifted: dict) -> None:
    model = shifted["model"]
    assert hr1(model, 0) > 0.9 and hr1(model, 20) < 0.3
    before = {k: v.clone() for k, v in model.module_.state_dict().items()}
    result = Updater(UpdateConfig(epochs=15, replay_ratio=1.0)).update(model, shifted["new"], shifted["old"])
    assert hr1(result.model, 20) > 0.9  # learned the new data
    assert hr1(result.model, 0) > 0.9  # and still recommends the old ring
    assert result.info["mode"] == "partial_fit" and result.info["replay_windows"] == result.info["new_windows"] == 60
    assert all(torch.equal(v, model.module_.state_dict()[k]) for k, v in before.items())  # served model untouched
    assert result.version and result.model is not model


def test_replay_ratio_zero_replays_nothing(shifted: dict) -> None:
    config = UpdateConfig(epochs=1, replay_ratio=0.0)
    result = Updater(config).update(shifted["model"], shifted["new"], shifted["old"])
    assert result.info["replay_windows"] == 0 and result.info["new_windows"] == 60


def test_partial_fit_continues_training_and_checks_items(shifted: dict) -> None:
    model = Updater().update(shifted["model"], shifted["new"].select(np.arange(0)), shifted["old"]).model
    assert model is shifted["model"]  # nothing new: the same model comes back
    copy = deepcopy(shifted["model"])
    log = copy.partial_fit(shifted["old"], epochs=1, lr=1e-3)
    assert len(log["epochs"]) == 1 and log["windows"] == 60
    assert hr1(copy, 0) > 0.9  # one more small step keeps what was learned: no re-initialisation
    assert copy.partial_fit(shifted["old"].select(np.arange(0)), epochs=1)["epochs"] == []
    unknown = Interactions(np.zeros(2, np.int64), np.array([3, 45]), np.arange(2), 1, 46)
    with pytest.raises(DataError, match="beyond the model"):
        copy.partial_fit(unknown, epochs=1)


def forking_walks(n_users: int, length: int, p_two: float, *, seed: int, first_user: int = 0) -> Interactions:
    """Users walk a ring of 20 items one or two steps at a time (two with probability `p_two`)."""
    rng = np.random.default_rng(seed)
    steps = np.where(rng.random((n_users, length)) < p_two, 2, 1)
    steps[:, 0] = rng.integers(0, 20, n_users)
    users = np.repeat(np.arange(first_user, first_user + n_users), length)
    times = np.tile(np.arange(length), n_users).astype(np.int64)
    return Interactions(users, (np.cumsum(steps, axis=1) % 20).ravel(), times, 120, 20)


def test_impressions_push_the_items_passed_over_below_the_chosen_ones() -> None:
    """Trained on walks of one or two steps, the model cannot tell the two apart; then users take one step with
    the two-step item on screen and pass it over. Updating with those impressions separates the two more than
    the same update (same seed, same windows) without them."""
    old = forking_walks(60, 12, 0.5, seed=0)
    model = SequentialRecommender(SMALL).fit(old)
    new = forking_walks(30, 8, 0.0, seed=4, first_user=60)
    shown = Sequences.from_lists([[(item + 1) % 20] for item in new.item])  # the two-step item, passed over
    last = np.arange(3, 23) % 20
    queries = Histories.from_lists([[(s + j) % 20 for j in range(4)] for s in range(20)])

    def margin(m) -> float:  # one step's score minus two steps'
        scores = m.score(queries)
        return float((scores[np.arange(20), (last + 1) % 20] - scores[np.arange(20), (last + 2) % 20]).mean())

    config = UpdateConfig(epochs=3, replay_ratio=0.0, impression_weight=1.0)
    plain = Updater(config).update(model, new, old).model
    taught = Updater(config).update(model, new, old, shown=shown)
    assert taught.info["impression_negatives"] == len(new) - 30  # a user's first new item is context only
    assert margin(taught.model) > margin(plain) + 0.25
    ignored = Updater(replace(config, impression_weight=0.0)).update(model, new, old, shown=shown)
    assert ignored.info["impression_negatives"] == 0
    assert torch.allclose(ignored.model.score(queries), plain.score(queries))
    with pytest.raises(DataError, match="one row per event"):
        Updater(config).update(model, new, old, shown=Sequences.from_lists([[5]]))


def test_window_impressions_follow_the_new_events_into_their_windows() -> None:
    seen = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([0, 1, 2]), 2, 10)
    new = Interactions(np.array([1, 0, 0]), np.array([4, 5, 6]), np.array([3, 4, 5]), 2, 10)
    combined = concat(seen, new)
    spans = recent_window_spans(combined.sequences(), np.bincount(new.user, minlength=2), 8)
    shown = window_impressions(combined, len(seen), Sequences.from_lists([[7], [8, 9], []]), spans)
    windows = [combined.sequences().items[lo:hi].tolist() for lo, hi in spans]
    assert windows == [[1, 2, 5, 6], [3, 4]]
    assert [shown.row(r).tolist() for r in range(len(shown))] == [[], [], [8, 9], [], [], [7]]


def test_fused_models_move_their_text_part_only_when_asked_and_at_its_own_rate() -> None:
    from lmrec.models.registry import create_model

    ring = ring_data()
    config = {"dim": 16, "max_len": 8, "encoder": {"kind": "tfidf", "tfidf_dim": 8},
              "train": {"epochs": 2, "threads": 1}}
    model = create_model("sasrec-fused", config).fit(ring.split.train, catalog=ring.dataset.catalog)
    new = ring_walks(0, 20, 10, 6, first_user=0, seed=3, n_users_total=100, n_items=20)
    updated = Updater(UpdateConfig(epochs=1)).update(model, new, ring.split.train).model
    before, after = model.module_, updated.module_
    for old, moved in zip(before.text_part.parameters(), after.text_part.parameters(), strict=True):
        assert torch.equal(old, moved) and moved.requires_grad  # frozen for the update only
    assert torch.equal(before.text_vectors, after.text_vectors)
    assert not torch.equal(before.id_part.embedding.weight, after.id_part.embedding.weight)

    def adapter_shift(config: UpdateConfig) -> float:
        moved = Updater(config).update(model, new, ring.split.train).model.module_
        pairs = zip(before.text_part.adapter.parameters(), moved.text_part.adapter.parameters(), strict=True)
        return sum(float((a - b).detach().abs().sum()) for a, b in pairs)

    full = adapter_shift(UpdateConfig(epochs=1, freeze_text=False))
    slow = adapter_shift(UpdateConfig(epochs=1, freeze_text=False, text_lr_scale=0.01))
    assert full > 0 and slow < full / 10  # the LM side moves when allowed, at its own rate


def test_recent_windows_cover_exactly_the_new_targets() -> None:
    seqs = Sequences.from_lists([list(range(10)), [7, 8], [5]])
    windows = recent_windows(seqs, np.array([3, 0, 1]), max_len=4)
    assert [w.tolist() for w in windows] == [[5, 6, 7, 8, 9]]  # user 2 has one item: nothing to predict
    windows = recent_windows(seqs, np.array([6, 2, 0]), max_len=4)
    assert [w.tolist() for w in windows] == [[5, 6, 7, 8, 9], [1, 2, 3, 4, 5], [7, 8]]


def test_models_without_partial_fit_are_refitted_on_everything_seen() -> None:
    seen = Interactions(np.array([0, 0, 1]), np.array([0, 1, 1]), np.arange(3), 2, 4)
    new = Interactions(np.array([2, 2, 2, 1]), np.array([3, 2, 3, 3]), np.arange(4), 3, 4)
    pop = Pop().fit(seen)
    result = Updater().update(pop, new, seen)
    assert result.info["mode"] == "refit" and result.info["train_events"] == 7
    top = result.model.recommend(Histories.from_lists([[0]]), 3, exclude_seen=False).items[0]
    assert top.tolist() == [3, 1, 0]  # counts 3:3, 1:2, 0:1, 2:1 (lower index first)
    assert pop.recommend(Histories.from_lists([[0]]), 1, exclude_seen=False).items[0, 0] == 1  # untouched


# -- run directories -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory) -> Path:
    ring = ring_data(n_items=20, n_users=40, length=8)
    small = {"dim": 16, "heads": 2, "max_len": 8, "dropout": 0.1, "encoder": {"cache": False},
             "train": {"epochs": 3, "batch_size": 32, "lr": 0.01, "threads": 1}}
    config = build_config({}, {"data": {"dataset": "toy-ring"}, "model": {"name": "sasrec", **small}})
    out = tmp_path_factory.mktemp("runs") / "ring"
    fit_run(config, out, dataset=ring.dataset)
    return out


@pytest.fixture
def run_dir(fitted_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(fitted_run, out)
    return out


def scores(run_dir: Path) -> np.ndarray:
    return load_run(run_dir).model.score(Histories.from_lists([[1, 2, 3], [7]])).numpy()


def log_events(run_dir: Path, events: list[Event]) -> list[int]:
    with EventLog(run_dir / "events.sqlite") as log:
        return log.append(events)


def test_update_run_bookkeeping(run_dir: Path) -> None:
    initial = scores(run_dir)
    ids = log_events(run_dir, [Event("u1", "r3", 10), Event("new", "r4", 11), Event("new", "r5", 12),
                               Event("u2", "nope", 13)])
    v1 = update_run(run_dir, config=UpdateConfig(epochs=1))
    state = read_state(run_dir)
    assert state["version"] == v1 and state["last_event_id"] == ids[-1] and state["updates"] == 1
    assert state["carried_event_ids"] == [ids[3]]  # the event on an item the model does not know is kept aside
    info = json.loads((run_dir / "versions" / v1 / "update.json").read_text())
    assert info["new_events"] == 3 and info["carried_unknown_items"] == 1 and info["new_users"] == 1
    run = load_run(run_dir)
    assert run.version == v1 and run.users.raw[-1] == "new" and len(run.users) == 41
    assert run.history.row(40).tolist() == [4, 5]  # the new user's history store
    assert run.history.row(run.users.index("u1")).tolist()[-1] == 3
    assert not np.allclose(scores(run_dir), initial)  # the new weights are the ones loaded

    more = log_events(run_dir, [Event("u3", "r6", 14), Event("new", "r6", 15)])
    v2 = update_run(run_dir, config=UpdateConfig(epochs=1))
    info = json.loads((run_dir / "versions" / v2 / "update.json").read_text())
    assert v2 > v1 and info["first_event_id"] == more[0] and info["new_events"] == 2 and info["previous"] == v1
    assert read_state(run_dir)["updates"] == 2
    assert load_run(run_dir).history.row(40).tolist() == [4, 5, 6]
    assert update_run(run_dir) == v2 and read_state(run_dir)["last_event_id"] == more[-1]  # nothing new
    log_events(run_dir, [Event("u4", "unknown-item", 16)])
    assert update_run(run_dir) == v2 and read_state(run_dir)["last_event_id"] == more[-1] + 1  # cursor on
    assert read_state(run_dir)["carried_event_ids"] == [ids[3], more[-1] + 1]  # carried, not dropped
    log_events(run_dir, [Event("u5", "r1", 17)])
    v3 = update_run(run_dir, config=UpdateConfig(epochs=1, keep_versions=1))
    assert sorted(p.name for p in (run_dir / "versions").iterdir()) == [v2, v3]  # pruned to current + 1


def test_impressions_are_logged_but_never_learned_as_positives(run_dir: Path) -> None:
    initial = scores(run_dir)
    shown = log_events(run_dir, [Event("u1", "r9", 10, "impression"), Event("u1", "r8", 11, "impression")])
    assert update_run(run_dir) == "initial" and read_state(run_dir)["last_event_id"] == shown[-1]
    assert np.allclose(scores(run_dir), initial)  # nothing but exposure: no new version, the cursor moves on
    log_events(run_dir, [Event("u1", "r7", 12, "impression"), Event("u1", "r3", 13)])
    version = update_run(run_dir, config=UpdateConfig(epochs=1))
    info = json.loads((run_dir / "versions" / version / "update.json").read_text())
    assert info["new_events"] == 1 and info["impressions"] == 1 and info["impression_negatives"] == 1
    history = load_run(run_dir).history.row(load_run(run_dir).users.index("u1")).tolist()
    assert history[-1] == 3 and not {7, 8, 9} & set(history[-3:])


def test_update_run_learns_from_a_postgresql_log(run_dir: Path, postgres_url: str) -> None:
    from lmrec.online.event_logs import open_event_log

    with open_event_log(postgres_url) as log:
        ids = log.append([Event("u1", "r3", 10), Event("new", "r4", 11)])
    version = update_run(run_dir, postgres_url, config=UpdateConfig(epochs=1))
    assert read_state(run_dir)["last_event_id"] == ids[-1] and not (run_dir / "events.sqlite").exists()
    assert load_run(run_dir).version == version and load_run(run_dir).users.raw[-1] == "new"


def test_update_run_without_event_log_is_a_clear_error(run_dir: Path) -> None:
    with pytest.raises(ModelFileError, match="no event log"):
        update_run(run_dir)


class Crash(BaseException):
    """Stands in for kill -9: nothing in the write path catches it or cleans up after it."""


def crash_then_recover(run_dir: Path, monkeypatch: pytest.MonkeyPatch, target: str, fake) -> None:
    log_events(run_dir, [Event("u1", "r3", 10), Event("u2", "r4", 11)])
    v1 = update_run(run_dir, config=UpdateConfig(epochs=1))
    before, state = scores(run_dir), read_state(run_dir)
    log_events(run_dir, [Event("u3", "r5", 12), Event("new", "r6", 13), Event("new", "r7", 14)])
    with monkeypatch.context() as patch:
        patch.setattr(target, fake)
        with pytest.raises(Crash):
            update_run(run_dir, config=UpdateConfig(epochs=1))
    assert read_state(run_dir) == state and load_run(run_dir).version == v1
    np.testing.assert_array_equal(scores(run_dir), before)  # the previous model still loads, unchanged
    v2 = update_run(run_dir, config=UpdateConfig(epochs=1))  # the same events are learned again
    assert json.loads((run_dir / "versions" / v2 / "update.json").read_text())["new_events"] == 3
    assert not list((run_dir / "versions").glob(".tmp-*")) and load_run(run_dir).version == v2


def test_crash_while_writing_the_model_keeps_the_previous_version(run_dir, monkeypatch) -> None:
    def half_save(model, directory) -> None:
        Path(directory).mkdir(parents=True)
        (Path(directory) / "weights.safetensors").write_bytes(b"\0" * 100)  # a torn file
        raise Crash

    crash_then_recover(run_dir, monkeypatch, "lmrec.models.base.BaseRecommender.save", half_save)


def test_crash_between_version_and_pointer_keeps_the_previous_version(run_dir, monkeypatch) -> None:
    def no_commit(*args, **kwargs) -> None:
        raise Crash

    crash_then_recover(run_dir, monkeypatch, "lmrec.pipeline.rundir.RunDir.commit_update_state", no_commit)


def test_crash_during_the_pointer_rename_keeps_the_previous_version(run_dir, monkeypatch) -> None:
    real = os.replace

    def replace(src, dst) -> None:
        if Path(dst).name == "update_state.json":
            raise Crash
        real(src, dst)

    crash_then_recover(run_dir, monkeypatch, "lmrec.io.os.replace", replace)


def test_killed_process_mid_update_leaves_a_loadable_run(run_dir: Path) -> None:
    log_events(run_dir, [Event("u1", "r3", 10)])
    script = (
        "import os, sys\n"
        "from lmrec.models.base import BaseRecommender\n"
        "from lmrec.online.updater import UpdateConfig, update_run\n"
        "real = BaseRecommender.save\n"
        "def save(self, directory):\n"
        "    real(self, directory)\n"
        "    os._exit(9)\n"  # the model is on disk in the .tmp- folder; the process dies before the rename
        "BaseRecommender.save = save\n"
        "update_run(sys.argv[1], config=UpdateConfig(epochs=1))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(run_dir)], cwd=REPO, env=env, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    assert list((run_dir / "versions").glob(".tmp-*")) and load_run(run_dir).version is None
    assert update_run(run_dir, config=UpdateConfig(epochs=1)) == load_run(run_dir).version
