"""Every registered model x the RecommenderContract (DESIGN principle 6)."""

import pytest

from lmrec.models.registry import model_names
from lmrec.testing.contract import RecommenderContract

# Small-data settings so the torch models converge on the toy set within seconds.
FAST = {
    "bpr": {
        "dim": 8,
        "train": {
            "epochs": 30,
            "batch_size": 32,
            "lr": 0.02,
            "weight_decay": 1e-2,
            "patience": 30,
            "threads": 1,
        },
    },
}
_SEQUENTIAL = {"dim": 32, "heads": 2, "hidden": 32, "max_len": 16, "dropout": 0.1,
               "encoder": {"cache": False},
               "train": {"epochs": 40, "batch_size": 32, "lr": 0.01, "patience": 40, "threads": 1}}
FAST.update({name: _SEQUENTIAL for name in ("sasrec", "sasrec-text", "sasrec-fused", "gru4rec", "gru4rec-fused")})


@pytest.mark.parametrize("model_name", model_names(), scope="class")
class TestBuiltinModels(RecommenderContract):
    config_overrides = FAST


def test_every_builtin_model_is_registered():
    assert {"pop", "itemknn", "ease", "bpr", "tfidf", "hybrid"} <= set(model_names())
