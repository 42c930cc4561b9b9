"""The sequence module's item table is computed once per state of the weights when serving, and never served
stale: any change of weights, text vectors or items gives the table the changed weights give."""

from __future__ import annotations

import pytest
import torch

from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.testing.toy import block_data


@pytest.fixture(scope="module")
def data():
    return block_data(n_blocks=2, users_per_block=15, items_per_block=10, items_per_user=6, seed=0)


@pytest.fixture
def model(data):
    tiny = {**SEQUENCE_TINY, "encoder": {"kind": "tfidf", "tfidf_dim": 16, "cache": False},
            "train": {**SEQUENCE_TINY["train"], "epochs": 2}}
    return create_model("sasrec-fused", tiny).fit(data.split.train, catalog=data.dataset.catalog)


def fresh_table(module) -> torch.Tensor:
    """The table recomputed from scratch (grad mode never reads the cache)."""
    with torch.enable_grad():
        return module.item_table().detach()


def test_the_served_table_is_reused_until_something_changes(model, data) -> None:
    module = model.module_.eval()
    with torch.inference_mode():
        first, again = module.item_table(), module.item_table()
    assert again is first  # computed once
    with torch.no_grad():  # what an optimiser step or load_state_dict does
        module.tower.text.adapter.project.weight.add_(0.5)
    with torch.inference_mode():
        stepped = module.item_table()
    assert not torch.allclose(stepped, first) and torch.allclose(stepped, fresh_table(module))
    other = type(model)(model.config, name=model.name).fit(data.split.train, catalog=data.dataset.catalog)
    with torch.no_grad():
        for p in other.module_.parameters():
            p.mul_(1.5)  # a different state than this module's
    module.load_state_dict(other.module_.state_dict())
    with torch.inference_mode():
        assert torch.allclose(module.item_table(), fresh_table(module))
    module.set_text_vectors(torch.randn_like(module.text_vectors))
    with torch.inference_mode():
        assert torch.allclose(module.item_table(), fresh_table(module))


def test_new_items_and_training_are_never_served_stale(model, data) -> None:
    before = model.score(data.queries)
    model.add_items(model.text_vectors[:2].cpu().numpy())
    grown = model.score(data.queries)
    assert grown.shape[1] == before.shape[1] + 2 and torch.allclose(grown[:, :-2], before, atol=1e-5)
    model.partial_fit(data.split.train, epochs=1)
    model.module_.eval()
    with torch.inference_mode():
        assert torch.allclose(model.module_.item_table(), fresh_table(model.module_))
