"""Prequential evaluation: chunking, history prefixes, hand-checked hits, and online beating static on drift."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmrec.data.types import PAD, Histories, Interactions
from lmrec.models.base import TopK
from lmrec.models.baselines import Pop
from lmrec.models.sequence import SequentialConfig, SequentialRecommender
from lmrec.online.prequential import (
    PrequentialConfig,
    TimeCutStream,
    compare,
    holdout_last,
    prefix_histories,
    prequential,
    score_events,
    shown_slates,
    stream_chunks,
)
from lmrec.online.updater import UpdateConfig, Updater
from lmrec.train.trainer import TrainConfig

CUT = 1_000


def drifting_stream(n_users: int = 60, before: int = 10, after: int = 8) -> Interactions:
    """Before the cut, users 0..n-1 walk ring A (items 0-19); from the cut on, new users n..2n-1 walk ring B
    (items 20-39), interleaved in time."""
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    for u in range(n_users):
        a, b = rng.integers(0, 20, size=2)
        users += [u] * before + [n_users + u] * after
        items += [(a + j) % 20 for j in range(before)] + [20 + (b + j) % 20 for j in range(after)]
        times += [CUT - before + j for j in range(before)] + [CUT + 10 * j + u % 10 for j in range(after)]
    order = np.argsort(np.asarray(users), kind="stable")  # user-major, chronological within each user
    return Interactions(np.asarray(users)[order], np.asarray(items)[order],
                        np.asarray(times, dtype=np.int64)[order], 2 * n_users, 40)


def test_stream_chunks_by_events_and_by_days() -> None:
    t = np.array([5, 3, 99, 1, 4, 86_400 + 3, 2 * 86_400 + 5])
    inter = Interactions(np.zeros(7, np.int64), np.arange(7), t, 1, 7)
    by_events = stream_chunks(inter, 3, PrequentialConfig(chunk_events=2))
    assert [c.tolist() for c in by_events] == [[1, 4], [0, 2], [5, 6]]  # time order, ties by row
    by_days = stream_chunks(inter, 3, PrequentialConfig(chunk_days=1.0))
    assert [c.tolist() for c in by_days] == [[1, 4, 0, 2], [5], [6]]


def test_prefix_histories_and_hand_checked_hits() -> None:
    inter = Interactions(np.array([0, 0, 0, 1, 1]), np.array([2, 0, 1, 1, 3]), np.arange(5), 2, 4)
    seqs = inter.sequences()
    h = prefix_histories(seqs, np.array([0, 1, 0]), np.array([2, 1, 0]))
    assert h.seq.tolist() == [[2, 0], [1, PAD], [PAD, PAD]] and h.lengths.tolist() == [2, 1, 0]

    class Fixed:  # a top-k-only ranker: items 3 > 2 > 1 > 0 for every query
        def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True):
            scores = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).repeat(len(histories), 1)
            for row, length in enumerate(histories.lengths):
                scores[row, torch.from_numpy(histories.seq[row, :length])] = float("-inf")
            top = torch.topk(scores, k)
            return TopK(top.indices.numpy(), top.values.numpy())

    config = PrequentialConfig(k=2, batch_size=1)
    hit, ndcg, _ = score_events(Fixed(), seqs, np.array([0, 0, 1]), np.array([1, 2, 1]), np.array([0, 1, 3]), config)
    # user 0 after [2]: top-2 [3, 1] -> 0 missed; after [2, 0]: [3, 1] -> 1 at rank 2; user 1 after [1]: 3 first
    assert hit.tolist() == [0.0, 1.0, 1.0]
    np.testing.assert_allclose(ndcg, [0.0, 1 / np.log2(3), 1.0])


def test_shown_slates_are_the_top_k_less_the_chosen_item() -> None:
    users, items = np.array([0, 0, 1, 1, 1]), np.array([4, 5, 6, 2, 8])
    top = np.array([[1, 5, 4], [3, PAD, PAD]])  # scored rows 1 (user 0 chose 5; 4 too, earlier) and 4
    shown = shown_slates(np.array([0, 1, 4]), np.array([1, 4]), top, users, items)
    assert [shown.row(r).tolist() for r in range(3)] == [[], [1], [3]]  # row 0 was not scored
    later = shown_slates(np.array([3, 4]), np.array([4]), np.array([[2, 3, 8]]), users, items)
    assert later.row(1).tolist() == [3]  # 2 is taken by the same user at row 3 of the chunk


def test_prequential_hands_the_shown_slates_to_the_updater(replayed: dict) -> None:
    from dataclasses import replace

    inter, config = replayed["inter"], replace(replayed["config"], impressions=True)
    train = inter.select(inter.timestamp < CUT)
    result = prequential(Pop().fit(train), inter, CUT, updater=Updater(), config=config, name="online")
    assert result.chunks[0]["update"]["mode"] == "refit"  # a refit takes no negatives, but runs
    model = replayed["model"]
    online = prequential(model, inter, CUT, updater=Updater(UpdateConfig(epochs=1)), config=config, name="online")
    negatives = [chunk["update"]["impression_negatives"] for chunk in online.chunks]
    assert all(n > 0 for n in negatives) and max(negatives) <= 120 * config.k


def test_a_time_cut_stream_fits_on_the_pre_cut_events_less_the_probe() -> None:
    inter = drifting_stream(n_users=10)
    stream = TimeCutStream.at_quantile(inter, 0.5)
    before = int((inter.timestamp < stream.cut).sum())
    assert stream.split.info["method"] == "global_time" and len(stream.split.train) == before
    assert len(stream.train) + len(stream.probe) == before and int(stream.train.timestamp.max()) < stream.cut


def test_holdout_last_keeps_the_last_item_of_each_long_enough_user() -> None:
    inter = Interactions(np.array([0, 0, 0, 1, 1, 2, 2, 2]), np.array([5, 6, 7, 1, 2, 3, 4, 9]), np.arange(8), 3, 10)
    rest, probe = holdout_last(inter)
    assert probe.users.tolist() == [0, 2] and probe.targets.items.tolist() == [7, 9]
    assert probe.inputs.row(1).tolist() == [3, 4] and rest.item.tolist() == [5, 6, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def replayed() -> dict:
    inter = drifting_stream()
    train, probe = holdout_last(inter.select(inter.timestamp < CUT))
    train_config = TrainConfig(epochs=40, batch_size=32, lr=0.01, patience=40, threads=1, seed=0)
    config = SequentialConfig(dim=32, heads=2, max_len=16, dropout=0.1, train=train_config)
    model = SequentialRecommender(config).fit(train)
    config = PrequentialConfig(chunk_events=120, k=3)
    common = {"train": train, "probe": probe, "config": config}
    static = prequential(model, inter, CUT, name="static", **common)
    online = prequential(model, inter, CUT, updater=Updater(UpdateConfig(epochs=10)), name="online", **common)
    plain = Updater(UpdateConfig(epochs=10, replay_ratio=0.0))
    no_replay = prequential(model, inter, CUT, updater=plain, name="no-replay", **common)
    return {"inter": inter, "static": static, "online": online, "no_replay": no_replay, "config": config,
            "model": model}


def test_online_beats_static_on_a_drifting_stream(replayed: dict) -> None:
    static, online = replayed["static"], replayed["online"]
    assert len(static.chunks) == 4 and np.array_equal(static.rows, online.rows)
    assert len(static.rows) == 60 * 7  # a new user's first event has no history to predict from
    for result in (static, online):
        assert np.all((0 <= result.ndcg) & (result.ndcg <= result.hit) & (result.hit <= 1))
    later = static.later(0.5)
    assert later.sum() == 240 and static.chunk[later].min() == 2
    assert online.hit[later].mean() > 0.8 and static.hit[later].mean() < 0.3  # ring B is only learned online
    first = static.chunk == 0
    assert first.sum() == 60 and np.array_equal(online.hit[first], static.hit[first])  # same model before updates
    result = compare(static, online, n_boot=200)
    assert result["later"]["hr@3"]["paired"]["mean_diff"] > 0.5 and result["later"]["hr@3"]["paired"]["p_value"] < 1e-6
    assert "update_seconds" in online.chunks[0] and "update_seconds" not in static.chunks[0]


def test_replay_keeps_the_old_ring_on_the_probe(replayed: dict) -> None:
    static, online = replayed["static"], replayed["online"]
    assert len(static.probe) == 1 and len(online.probe) == 1 + 4  # before, then after every chunk
    assert static.probe[0]["hr@3"] > 0.9
    assert online.probe[-1]["hr@3"] > 0.9  # old users' next items are still found after learning ring B
    assert replayed["no_replay"].probe[-1]["hr@3"] < online.probe[-1]["hr@3"] - 0.3  # plain fine-tuning forgets


def test_refit_models_replay_too() -> None:
    inter = drifting_stream(n_users=20, before=3)  # ring A items: 3 events each; ring B grows by 2 a chunk
    train = inter.select(inter.timestamp < CUT)
    config = PrequentialConfig(chunk_events=40, k=5)
    static = prequential(Pop().fit(train), inter, CUT, config=config)
    online = prequential(Pop().fit(train), inter, CUT, updater=Updater(), config=config, name="online")
    later = static.later(0.5)
    assert online.hit[later].mean() > static.hit[later].mean()  # ring B items become popular only online


def test_cli_prequential_and_update(tmp_path) -> None:
    """`lmrec prequential` on a global-time run (and the deprecated `evaluate --prequential`), then `lmrec update`
    from an event log."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from lmrec.cli import app
    from lmrec.online.events import Event, EventLog

    day, rng, rows = 86_400, np.random.default_rng(0), []
    for u in range(40):  # one event a day: old users walk ring A on days 0-13, new users ring B on days 10-17
        a, b = rng.integers(0, 20, size=2)
        rows += [(f"old{u}", f"i{(a + j) % 20}", j * day) for j in range(14)]
        rows += [(f"new{u}", f"i{20 + (b + j) % 20}", (10 + j) * day) for j in range(8)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame.to_csv(tmp_path / "inter.csv", index=False)
    runner, out = CliRunner(), tmp_path / "run"
    result = runner.invoke(app, ["fit", "--interactions", str(tmp_path / "inter.csv"), "--model", "ease", "--out",
                                 str(out), "--set", "split.method=global_time", "--set", f"split.cut={10 * day}",
                                 "--set", f"split.valid_cut={9 * day}", "--set", "model.reg_weight=10"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["prequential", str(out), "--chunk-days", "2", "-k", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "prequential.json").read_text())
    result = runner.invoke(app, ["evaluate", str(out), "--prequential", "--chunk-days", "2", "-k", "5"])
    assert result.exit_code == 0, result.output
    notices = [line for line in result.output.splitlines() if "deprecated" in line]
    assert len(notices) == 1 and "use `lmrec prequential RUN_DIR`" in notices[0]
    assert json.loads((out / "prequential.json").read_text())["compare"] == report["compare"]
    assert len(report["static"]["chunks"]) == 4 and len(report["online"]["probe"]) == 5
    later = report["compare"]["later"]["hr@5"]
    assert later["online"] > later["static"] + 0.3  # ring B is learned by the refitted model only

    with EventLog(out / "events.sqlite") as log:
        log.append([Event("old1", "i25"), Event("someone-new", "i26"), Event("someone-new", "i27")])
    result = runner.invoke(app, ["update", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "3 events (0 carried for unknown items, 1 new users)" in said, said
    result = runner.invoke(app, ["update", str(out)])
    assert result.exit_code == 0 and "no new events" in " ".join(result.output.split())
    with EventLog(out / "events.sqlite") as log:
        log.append([Event("old2", "i30", event_type="impression"), Event("old2", "i31")])
    result = runner.invoke(app, ["update", str(out), "--update-lm", "--impression-weight", "0.5"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "1 impressions, 0 used as negatives" in said, said  # EASE refits: no negatives
    result = runner.invoke(app, ["update", str(out), "--impression-weight", "-1"])
    assert result.exit_code != 0 and "impression-weight" in result.output
    for bad, says in ((["--events", str(out / "events.sqlite"), "--events-url", "postgresql://h/db"], "not both"),
                      (["--events-url", "sqlite:///x"], "expected postgresql://")):
        result = runner.invoke(app, ["update", str(out), *bad])
        assert result.exit_code == 2 and says in result.output, result.output
    result = runner.invoke(app, ["recommend", str(out), "--user", "someone-new", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
