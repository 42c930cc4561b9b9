"""text-user: the history read as one text by the LM; training lifts it above the untrained LM on a sequence it
can only learn from data, and a model trained on one catalogue ranks another one it never saw."""

import dataclasses

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories, Interactions, Sequences
from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.models.base import load_model
from lmrec.models.registry import create_model
from lmrec.models.text_user import training_prefixes
from lmrec.testing.toy import block_data, ring_data
from lmrec.train.validation import validation_ndcg

TINY = {"encoder": {"cache": False}, "hidden": 64, "history_items": 3,
        "train": {"epochs": 20, "batch_size": 32, "lr": 0.005, "threads": 1}}


def test_prefixes_are_every_position_after_the_first_with_at_most_the_last_n_items() -> None:
    inter = Interactions(np.array([0, 0, 0, 0, 1]), np.array([3, 4, 5, 6, 2]), np.arange(5), 2, 7)
    histories, targets, rows = training_prefixes(inter, 2)
    prefixes = [histories.seq[r, : histories.lengths[r]].tolist() for r in range(len(histories))]
    assert prefixes == [[3], [3, 4], [4, 5]] and targets.tolist() == [4, 5, 6] and rows.tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="nothing to train on"):
        training_prefixes(Interactions(np.array([0]), np.array([1]), np.arange(1), 1, 2), 2)


def test_the_history_text_is_the_most_recent_titles_most_recent_first() -> None:
    data = block_data()
    model = create_model("text-user", {**TINY, "finetune": "none", "history_items": 2}).fit(
        data.split.train, catalog=data.dataset.catalog)
    titles = data.dataset.catalog.texts()
    (text,) = model.history_texts(Histories.from_lists([[0, 1, 2]]))
    assert text == f"{titles[2]} ; {titles[1]}"


def test_training_learns_the_ring_the_untrained_lm_cannot_and_a_reload_scores_the_same(tmp_path) -> None:
    ring = ring_data()
    untrained = create_model("text-user", {**TINY, "finetune": "none"}).fit(ring.split.train,
                                                                           catalog=ring.dataset.catalog)
    trained = create_model("text-user", TINY).fit(ring.split.train, valid=ring.split.valid,
                                                 catalog=ring.dataset.catalog)

    def hit_rate(model) -> float:
        return float((model.recommend(ring.queries, 1).items[:, 0] == ring.answers).mean())

    assert hit_rate(trained) > 0.9 and hit_rate(untrained) < 0.5
    trained.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert again.item_texts_ == trained.item_texts_
    assert torch.allclose(again.score(ring.queries), trained.score(ring.queries), atol=1e-5)


def test_a_trained_model_starts_another_catalogue_and_refuses_what_is_not_one(tmp_path) -> None:
    ring, blocks = ring_data(), block_data()
    source = create_model("text-user", TINY).fit(ring.split.train, catalog=ring.dataset.catalog)
    source.save(tmp_path / "source")
    zero_shot = create_model("text-user", {**TINY, "finetune": "none", "init_from": str(tmp_path / "source")})
    zero_shot.fit(blocks.split.train, valid=blocks.split.valid, catalog=blocks.dataset.catalog)
    chosen = zero_shot.fit_log_["adapter_scale"]  # trusted as far as the target's validation users support
    assert chosen["chosen"] == max(chosen["validation_ndcg@10"], key=chosen["validation_ndcg@10"].get)
    for name, weights in source.towers_.state_dict().items():
        if name != "adapter_scale":
            assert torch.equal(zero_shot.towers_.state_dict()[name], weights), name
    assert zero_shot.score(blocks.queries).shape == (len(blocks.queries), blocks.split.train.n_items)
    few_shot = create_model("text-user", {**TINY, "init_from": str(tmp_path / "source")})
    few_shot.fit(blocks.split.train, valid=blocks.split.valid, catalog=blocks.dataset.catalog)
    log = few_shot.fit_log_  # starts at the chosen trust, and never ends below where it started on validation
    assert log["adapter_scale"]["chosen"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert validation_ndcg(few_shot, blocks.split.valid) >= log["start_valid"] - 1e-9
    wider = create_model("text-user", {**TINY, "hidden": 32, "init_from": str(tmp_path / "source")})
    with pytest.raises(ConfigError, match="do not fit this config"):
        wider.fit(blocks.split.train, catalog=blocks.dataset.catalog)
    create_model("pop").fit(blocks.split.train).save(tmp_path / "pop")
    other = create_model("text-user", {**TINY, "init_from": str(tmp_path / "pop")})
    with pytest.raises(ModelFileError, match="needs a saved text-user"):
        other.fit(blocks.split.train, catalog=blocks.dataset.catalog)


def test_bad_configs_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="finetune"):
        create_model("text-user", {"finetune": "lora"})
    with pytest.raises(ConfigError, match="history_items >= 1"):
        create_model("text-user", {"history_items": 0})
    assert dataclasses.is_dataclass(create_model("text-user").config)


def test_online_updates_move_the_adapters_only_when_the_lm_side_may_move() -> None:
    """The plain LM cannot follow the ring; the updater teaches it from new walks when `freeze_text` is off (with
    impressions as negatives), and leaves the adapters alone when it is on."""
    from lmrec.online.updater import UpdateConfig, Updater

    ring = ring_data()
    model = create_model("text-user", {**TINY, "finetune": "none"}).fit(ring.split.train, catalog=ring.dataset.catalog)
    seen, new = ring.split.train, ring_data(seed=1).split.train
    new = Interactions(new.user + seen.n_users, new.item, new.timestamp, 2 * seen.n_users, seen.n_items)
    shown = Sequences.from_lists([[(item + 2) % 20] for item in new.item])

    def hit_rate(m) -> float:
        return float((m.recommend(ring.queries, 1).items[:, 0] == ring.answers).mean())

    frozen = Updater(UpdateConfig(epochs=1)).update(model, new, seen, shown=shown)
    assert torch.allclose(frozen.model.score(ring.queries), model.score(ring.queries))
    moved = Updater(UpdateConfig(epochs=10, freeze_text=False, replay_ratio=0.5)).update(model, new, seen, shown=shown)
    assert hit_rate(model) < 0.5 and hit_rate(moved.model) > 0.9
    assert moved.info["mode"] == "partial_fit" and moved.info["impression_negatives"] > 0
