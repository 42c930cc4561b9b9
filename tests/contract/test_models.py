"""Every registered model x the RecommenderContract (DESIGN principle 6), each through its declared tiny preset."""

import pytest

from lmrec.models.registry import get_model, model_names
from lmrec.testing.contract import RecommenderContract


@pytest.mark.parametrize("model_name", model_names(), scope="class")
class TestBuiltinModels(RecommenderContract):
    pass


def test_every_builtin_model_is_registered():
    assert {"pop", "itemknn", "ease", "bpr", "tfidf", "hybrid", "sasrec", "sasrec-fused", "gru4rec"} <= set(
        model_names())


def test_presets_share_a_class_and_differ_in_their_declared_defaults():
    sasrec, fused, gru = get_model("sasrec"), get_model("sasrec-fused"), get_model("gru4rec")
    assert sasrec.cls is fused.cls is gru.cls
    assert (sasrec.config().net, sasrec.config().item_repr) == ("sasrec", "id")
    assert (fused.config().net, fused.config().item_repr) == ("sasrec", "fused")
    assert gru.config().net == "gru4rec"
    assert fused.create().name == "sasrec-fused"
