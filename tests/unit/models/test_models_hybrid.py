"""Hybrid: per-history z-scores, alpha at the extremes reproduces each part, parts persist under prefixes."""

import pytest
import torch
from safetensors.torch import load_file

from lmrec.errors import ConfigError
from lmrec.models.base import WEIGHTS, load_model
from lmrec.models.blend import standardise
from lmrec.models.hybrid import Hybrid, HybridConfig
from lmrec.testing.toy import block_data


def test_standardise_by_hand():
    z = standardise(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    s = (2 / 3) ** 0.5
    assert torch.allclose(z, torch.tensor([[-1 / s, 0.0, 1 / s], [0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("alpha, part", [(1.0, "cf_"), (0.0, "content_")])
def test_alpha_extremes_reproduce_one_part(alpha, part):
    toy = block_data()
    model = Hybrid(HybridConfig(alpha=alpha)).fit(toy.split.train, catalog=toy.dataset.catalog)
    expected = standardise(getattr(model, part).score(toy.queries))
    assert torch.allclose(model.score(toy.queries), expected)


def test_parts_are_configurable_and_saved_with_prefixes(tmp_path):
    toy = block_data()
    config = HybridConfig(cf="itemknn", cf_config={"k": 5}, content_config={"recency_decay": 0.5}, alpha=0.6)
    model = Hybrid(config).fit(toy.split.train, catalog=toy.dataset.catalog)
    assert model.cf_.config.k == 5 and model.content_.config.recency_decay == 0.5
    model.save(tmp_path)
    names = set(load_file(str(tmp_path / WEIGHTS)))
    assert {"cf.w_data", "content.v_data"} <= names
    assert torch.equal(load_model(tmp_path).score(toy.queries), model.score(toy.queries))


def test_bad_hybrid_configs():
    with pytest.raises(ConfigError):
        HybridConfig(alpha=1.5)
    with pytest.raises(ConfigError):
        HybridConfig(cf="hybrid")
    with pytest.raises(ConfigError, match="valid"):
        Hybrid(HybridConfig(cf_config={"neighbours": 3})).fit(block_data().split.train)
