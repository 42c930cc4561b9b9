"""Pre-training on one catalogue, zero-shot and few-shot on another: what moves, what transfers, what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lmrec.data.split import SplitConfig, leave_last_out, make_split
from lmrec.errors import ConfigError
from lmrec.models.growth import new_item_encoder
from lmrec.pipeline import evaluate_run, fit_run, load_run
from lmrec.pipeline.transfer import transfer_config
from lmrec.testing.toy import block_data
from lmrec.text.trainable import TunedTextEncoder
from lmrec.transfer import load_pretrained, pretrain, resolve_pretrain_config
from lmrec.transfer.pretrain import concat_training

SMALL = {"dim": 16, "max_len": 8, "experts": 2, "train": {"epochs": 15, "batch_size": 32}}


@pytest.fixture(scope="module")
def source():
    return block_data(n_blocks=4, users_per_block=30, items_per_block=12, items_per_user=8, seed=0)


@pytest.fixture(scope="module")
def target():
    # new users, new item IDs; the same kinds of words (a related domain)
    return block_data(n_blocks=4, users_per_block=20, items_per_block=12, items_per_user=8, seed=1)


@pytest.fixture(scope="module")
def checkpoint(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "pre"
    pretrain(resolve_pretrain_config({"sources": [{"dataset": "toy"}], "model": SMALL}), out,
             datasets=[source.dataset])
    return out


def fit_target(checkpoint: Path, target, out: Path, finetune: str, **overrides):
    config = transfer_config(checkpoint, {"dataset": "toy"}, finetune=finetune,
                             overrides={"model": {"train": {"epochs": 2}}, **overrides})
    meta = fit_run(config, out, dataset=target.dataset)
    return meta, load_run(out)


def test_pretrain_writes_a_reusable_checkpoint(checkpoint: Path) -> None:
    for name in ("model/weights.safetensors", "model/config.yaml", "pretrain.yaml", "meta.json"):
        assert (checkpoint / name).is_file(), name
    meta = json.loads((checkpoint / "meta.json").read_text())
    assert len(meta["sources"]) == 1 and meta["sources"][0]["digest"] and meta["versions"]["torch"]
    assert load_pretrained(checkpoint).config.adapter == "moe"


def test_zero_shot_places_a_new_catalogue_by_text(checkpoint: Path, target, tmp_path: Path) -> None:
    meta, run = fit_target(checkpoint, target, tmp_path / "zs", "none")
    assert meta["fit_log"]["stop_reason"] == "zero-shot" and meta["fit_log"]["trainable_parameters"] == 0
    top = run.model.recommend(target.queries, 5).items  # target users and items the model never saw
    same_block = (target.item_block[top] == target.query_block[:, None]).mean()
    assert same_block > 0.9
    metrics = evaluate_run(run)
    assert metrics["test"]["ndcg@10"] > 2 * (10 / 48) * 0.3  # far above a random ranking of 48 items


def test_zero_shot_blends_the_net_with_text_and_popularity_on_target_validation(checkpoint: Path, target,
                                                                               tmp_path: Path) -> None:
    meta, run = fit_target(checkpoint, target, tmp_path / "zs", "none")
    weights, search = meta["fit_log"]["weights"], meta["fit_log"]["search"]
    assert list(weights) == ["net", "text", "pop"] and sum(weights.values()) == pytest.approx(1.0)
    assert search["valid_users"] == len(run.split.valid)  # the target's validation holdout, never its test
    assert search["valid_ndcg@10"] >= max(search["single_part_valid_ndcg@10"].values())
    bare_meta, bare = fit_target(checkpoint, target, tmp_path / "bare", "none",
                                 **{"model": {"priors": [], "train": {"epochs": 2}}})
    assert "weights" not in bare_meta["fit_log"] and bare.model.config.priors == ()


@pytest.mark.parametrize("mode", ["recommender", "adapter"])
def test_frozen_parts_stay_frozen(checkpoint: Path, target, tmp_path: Path, mode: str) -> None:
    before = load_file(str(checkpoint / "model" / "weights.safetensors"))
    meta, run = fit_target(checkpoint, target, tmp_path / mode, mode)
    after = run.model.module_.state_dict()
    net_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("net."))
    adapter_same = all(torch.equal(before[k], after[k]) for k in before if k.startswith("tower.adapter."))
    assert not adapter_same
    assert net_same == (mode == "adapter")
    log = meta["fit_log"]
    assert 0 < log["trainable_parameters"] < log["total_parameters"]
    assert log["trainable_fraction"] < 0.05  # the LM is most of the model


def test_lora_moves_only_the_language_model(checkpoint: Path, target, tmp_path: Path) -> None:
    zero, _ = fit_target(checkpoint, target, tmp_path / "zs", "none")
    meta, run = fit_target(checkpoint, target, tmp_path / "lora", "lora")
    zs = load_run(tmp_path / "zs").model.module_.state_dict()
    tuned = run.model.module_.state_dict()
    assert all(torch.equal(zs[k], tuned[k]) for k in zs if not k.endswith("text_vectors"))
    assert not torch.allclose(zs["tower.text_vectors"], tuned["tower.text_vectors"])
    assert 0 < meta["fit_log"]["trainable_fraction"] < 0.05
    # the tuned LM is saved with the model and encodes a new item exactly as it encoded the catalogue
    encoder = new_item_encoder(run.model, run.catalog)
    assert isinstance(encoder, TunedTextEncoder)
    assert not isinstance(new_item_encoder(load_run(tmp_path / "zs").model, run.catalog), TunedTextEncoder)
    first_text = target.dataset.catalog.texts(run.model.config.encoder.template)[0]
    again = torch.from_numpy(encoder.encode([first_text]))[0]
    assert torch.nn.functional.cosine_similarity(again, tuned["tower.text_vectors"][0], dim=0) > 0.999


def test_lora_adapter_trains_lora_and_the_text_adapter_only(checkpoint: Path, target, tmp_path: Path) -> None:
    before = load_file(str(checkpoint / "model" / "weights.safetensors"))
    meta, run = fit_target(checkpoint, target, tmp_path / "la", "lora-adapter")
    after = run.model.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("net."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("tower.adapter."))
    assert run.model.language_model_ is not None
    assert 0 < meta["fit_log"]["trainable_fraction"] < 0.05


def test_lora_recommender_trains_lora_and_the_whole_recommender(checkpoint: Path, target, tmp_path: Path) -> None:
    before = load_file(str(checkpoint / "model" / "weights.safetensors"))
    meta, run = fit_target(checkpoint, target, tmp_path / "lr", "lora-recommender")
    after = run.model.module_.state_dict()
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("net."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("tower.adapter."))
    assert run.model.language_model_ is not None
    recommender = sum(v.numel() for k, v in before.items() if not k.endswith("text_vectors"))
    assert recommender < meta["fit_log"]["trainable_parameters"] < 0.05 * meta["fit_log"]["total_parameters"]


def test_fused_model_adds_id_embeddings_after_transfer(checkpoint: Path, target, tmp_path: Path) -> None:
    config = transfer_config(checkpoint, {"dataset": "toy"}, finetune="recommender", model="sasrec-fused",
                             overrides={"model": {"train": {"epochs": 2}}})
    fit_run(config, tmp_path / "fused", dataset=target.dataset)
    model = load_run(tmp_path / "fused").model
    assert model.config.item_repr == "fused"
    assert model.module_.id_part.embedding.weight.shape[0] == target.dataset.n_items


def test_incompatible_configs_are_refused(checkpoint: Path, target, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dim=32"):
        fit_target(checkpoint, target, tmp_path / "x", "adapter", model={"dim": 32})
    with pytest.raises(ConfigError, match="needs model.pretrained"):
        resolve_pretrain_config({"sources": [{"dataset": "toy"}], "model": {"finetune": "adapter"}})
    with pytest.raises(ConfigError, match="inductive text model"):
        resolve_pretrain_config({"sources": [{"dataset": "toy"}], "model": {"name": "sasrec"}})
    with pytest.raises(ConfigError, match="no source data"):
        resolve_pretrain_config({"sources": []})


def test_few_shot_split_keeps_every_test_user(target) -> None:
    full = make_split(target.dataset, SplitConfig())
    few = make_split(target.dataset, SplitConfig(train_users=0.25, user_seed=3))
    assert few.test.digest() == full.test.digest()
    assert len(np.unique(few.train.user)) == 20 and len(few.valid) == 20
    assert set(few.valid.users) == set(np.unique(few.train.user))
    with pytest.raises(ConfigError):
        SplitConfig(train_users=0.0)


def test_pretraining_on_two_sources_records_both(source, target, tmp_path: Path) -> None:
    config = resolve_pretrain_config({"sources": [{"dataset": "a"}, {"dataset": "b"}],
                                      "model": {**SMALL, "train": {"epochs": 2, "batch_size": 32}}})
    meta = pretrain(config, tmp_path / "pre2", datasets=[source.dataset, target.dataset])
    assert [s["items"] for s in meta["sources"]] == [48, 48] and meta["items"] == 96
    assert load_pretrained(tmp_path / "pre2").text_vectors.shape[0] == 96


def test_concat_training_keeps_sources_apart(source, target) -> None:
    a, b = leave_last_out(source.dataset.interactions), leave_last_out(target.dataset.interactions)
    train, valid = concat_training([a, b])
    assert train.n_items == a.train.n_items + b.train.n_items
    assert train.item[len(a.train):].min() >= a.train.n_items
    assert len(valid) == len(a.valid) + len(b.valid)
    np.testing.assert_array_equal(valid.targets.items[len(a.valid):], b.valid.targets.items + a.train.n_items)
