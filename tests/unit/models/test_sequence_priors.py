"""A sequence model's priors (text similarity, popularity) blended with its net: what each weight means, the
validation search, persistence, growth and the refused configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmrec.errors import ConfigError
from lmrec.models.base import load_model, mask_seen
from lmrec.models.capabilities import DotProductScoring, supports
from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.testing.toy import block_data

TINY = {**SEQUENCE_TINY, "train": {**SEQUENCE_TINY["train"], "epochs": 5}}


@pytest.fixture(scope="module")
def data():
    return block_data(n_blocks=3, users_per_block=20, items_per_block=12, items_per_user=8, seed=0)


def fit(data, **params):
    model = create_model("sasrec-text", {**TINY, **params})
    split = data.split
    return model.fit(split.train, valid=split.valid, catalog=data.dataset.catalog)


def top(model, histories, k: int = 5) -> np.ndarray:
    scores = mask_seen(model.score(histories).float().clone(), histories)
    return torch.topk(scores, k, dim=1).indices.numpy()


def test_a_prior_alone_ranks_as_its_own_model(data) -> None:
    queries = data.queries
    text_only = fit(data, priors=["text", "pop"], prior_weights=[0, 1, 0])
    lm_content = create_model("lm-content", {"encoder": {"cache": False}}).fit(
        data.split.train, catalog=data.dataset.catalog)
    assert (top(text_only, queries) == top(lm_content, queries)).all()
    pop_only = fit(data, priors=["pop"], prior_weights=[0, 1])
    pop = create_model("pop").fit(data.split.train)
    counts = np.bincount(data.split.train.item, minlength=data.dataset.n_items)
    assert (np.sort(counts[top(pop_only, queries)]) == np.sort(counts[top(pop, queries)])).all()  # ties: any order


def test_net_weight_one_is_the_plain_net(data) -> None:
    plain, blended = fit(data), fit(data, priors=["text"], prior_weights=[1, 0])
    assert (top(plain, data.queries) == top(blended, data.queries)).all()


def test_weights_are_searched_on_validation_and_saved(data, tmp_path: Path) -> None:
    model = fit(data, priors=["text", "pop"])
    weights = model.fit_log_["weights"]
    assert list(weights) == ["net", "text", "pop"] and sum(weights.values()) == pytest.approx(1.0)
    search = model.fit_log_["search"]
    assert search["valid_ndcg@10"] >= max(search["single_part_valid_ndcg@10"].values())
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert torch.allclose(loaded.score(data.queries), model.score(data.queries), atol=1e-5)
    assert not supports(model, DotProductScoring)  # a blend is no single dot product: no FAISS path
    assert supports(fit(data), DotProductScoring)


def test_new_items_have_no_events_and_are_still_scored(data) -> None:
    model = fit(data, priors=["text", "pop"], prior_weights=[1, 1, 1])
    text = model.text_vectors[:2].cpu().numpy()
    new = model.add_items(text)
    scores = model.score(data.queries)
    assert scores.shape[1] == data.dataset.n_items + 2 and torch.isfinite(scores[:, new]).all()


@pytest.mark.parametrize("params", [
    {"priors": ["text", "stars"]},
    {"priors": ["text", "text"]},
    {"priors": ["text"], "prior_weights": [1.0]},
    {"priors": ["pop"], "prior_weights": [float("nan"), 1.0]},
    {"priors": ["pop"], "prior_weights": [0, 0]},
    {"priors": ["pop"], "prior_decay": 0},
])
def test_bad_prior_configs_are_refused(params) -> None:
    with pytest.raises(ConfigError, match="prior"):
        create_model("sasrec-text", params)


def test_an_id_model_has_no_text_prior() -> None:
    with pytest.raises(ConfigError, match="no item text"):
        create_model("sasrec", {"priors": ["text"]})
    assert create_model("sasrec", {"priors": ["pop"]}).config.priors == ("pop",)


def test_text_skip_is_one_dot_product_that_starts_as_text_similarity(data) -> None:
    model = fit(data, text_skip=True)
    queries = data.queries
    table = model.item_table()
    assert table.shape[1] == 32 + model.text_vectors.shape[1]  # [item vector, item text vector]
    assert torch.allclose(model.score(queries), model.user_vectors(queries, table) @ table.T, atol=1e-4)
    assert supports(model, DotProductScoring)
    module = model.module_
    with torch.no_grad():  # with the net's part silenced the model ranks exactly as lm-content
        for p in module.net.parameters():
            p.zero_()
    lm_content = create_model("lm-content", {"encoder": {"cache": False}}).fit(
        data.split.train, catalog=data.dataset.catalog)
    assert (top(model, queries) == top(lm_content, queries)).all()


def test_text_skip_needs_text() -> None:
    with pytest.raises(ConfigError, match="text_skip"):
        create_model("sasrec", {"text_skip": True})
