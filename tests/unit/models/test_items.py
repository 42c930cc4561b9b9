"""Item towers: how a fused tower combines an item's text and ID parts, and the text-ID alignment hook."""

import numpy as np
import pytest
import torch

from lmrec.errors import ConfigError
from lmrec.models.items import FusedItemTower
from lmrec.models.registry import create_model
from lmrec.testing.toy import ring_data

TOY = {"dim": 16, "max_len": 8, "encoder": {"kind": "tfidf", "tfidf_dim": 8}, "train": {"epochs": 2, "threads": 1}}


def _tower(fusion: str, id_dropout: float = 0.0) -> FusedItemTower:
    torch.manual_seed(0)
    return FusedItemTower(torch.randn(12, 8), 12, 16, fusion=fusion, id_dropout=id_dropout, dropout=0.0)


def test_a_fresh_gate_is_the_even_mix_that_equals_the_sum() -> None:
    gate, plain = _tower("gate").eval(), _tower("sum").eval()
    plain.load_state_dict({k: v for k, v in gate.state_dict().items() if not k.startswith("mix.")})
    assert torch.allclose(gate(), plain(), atol=1e-6)


def test_the_gate_can_move_each_item_towards_its_text() -> None:
    tower = _tower("gate").eval()
    with torch.no_grad():
        tower.mix.bias.fill_(20.0)  # sigmoid -> 1: all text
    text = tower.text.adapter(tower.text.text_vectors)
    assert torch.allclose(tower(), 2.0 * text, atol=1e-5)


def test_id_dropout_hides_id_parts_only_while_training() -> None:
    tower = _tower("sum", id_dropout=0.5)
    text, ids = torch.randn(4000, 16), torch.randn(4000, 16)
    tower.train()
    fused = tower.fuse(text, ids)
    hidden = torch.isclose(fused, text).all(dim=1).float().mean().item()
    assert 0.45 < hidden < 0.55  # about half the items lost their ID part
    tower.eval()
    assert torch.allclose(tower.fuse(text, ids), text + tower.alpha * ids)


@pytest.mark.parametrize("options", [{"fusion": "gate"}, {"fusion": "concat"}, {"id_dropout": 0.3},
                                     {"align_weight": 0.5}])
def test_every_fusion_option_trains_scores_and_places_new_items(options: dict) -> None:
    ring = ring_data()
    model = create_model("sasrec-fused", {**TOY, **options}).fit(ring.split.train, catalog=ring.dataset.catalog)
    scores = model.score(ring.queries)
    assert torch.isfinite(scores).all()
    n = model.n_items_
    model.add_items(np.ones((1, model.text_vectors.shape[1]), np.float32) / 3)
    assert torch.isfinite(model.score(ring.queries)).all() and model.n_items_ == n + 1


def test_alignment_pulls_each_items_id_part_towards_its_own_text() -> None:
    def agreement(weight: float) -> float:
        ring = ring_data()
        config = {**TOY, "align_weight": weight, "train": {"epochs": 6, "threads": 1, "seed": 0}}
        model = create_model("sasrec-fused", config).fit(ring.split.train, catalog=ring.dataset.catalog)
        module = model.module_.eval()
        with torch.no_grad():
            text, ids = module.item_views(torch.arange(1, model.n_items_))
            sims = torch.nn.functional.normalize(text, dim=1) @ torch.nn.functional.normalize(ids, dim=1).T
        return float((sims.argmax(dim=1) == torch.arange(len(sims))).float().mean())  # own text is the nearest

    assert agreement(1.0) > agreement(0.0) + 0.2


def test_fusion_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="id_dropout"):
        create_model("sasrec-fused", {**TOY, "id_dropout": 1.0})
    with pytest.raises(ConfigError):
        create_model("sasrec-fused", {**TOY, "fusion": "product"})
