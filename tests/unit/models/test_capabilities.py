"""Declared capabilities: what each built-in model supports, narrowed by its config, as the registry lists it."""

import pytest

from lmrec.models.capabilities import (
    DotProductScoring,
    GrowableCatalogue,
    HistoryAttribution,
    IncrementalUpdates,
    ItemVectors,
    PerturbableItems,
    Scorer,
    SequenceLikelihood,
    supports,
)
from lmrec.models.registry import create_model, get_model

SEQUENCE = {DotProductScoring, IncrementalUpdates, ItemVectors, PerturbableItems, SequenceLikelihood,
            HistoryAttribution}
EXPECTED = {
    "sasrec": SEQUENCE,
    "sasrec-fused": SEQUENCE | {GrowableCatalogue},
    "sasrec-text": SEQUENCE | {GrowableCatalogue},
    "lstm4rec": SEQUENCE,
    "lm-content": {ItemVectors, GrowableCatalogue},
    "ease": set(),
    "bpr": set(),
    "pop": set(),
}
OPTIONAL = {DotProductScoring, IncrementalUpdates, ItemVectors, GrowableCatalogue, PerturbableItems,
            SequenceLikelihood, HistoryAttribution}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_model_supports_what_it_declares(name: str) -> None:
    model = create_model(name)
    assert supports(model, Scorer)
    assert {c for c in OPTIONAL if supports(model, c)} == EXPECTED[name]
    assert set(get_model(name).capabilities) == {c.__name__ for c in EXPECTED[name]} | {"Scorer", "TopKRanker"}


def test_an_id_only_config_of_a_text_model_cannot_grow() -> None:
    assert not supports(create_model("sasrec-fused", {"item_repr": "id"}), GrowableCatalogue)
    assert supports(create_model("sasrec", {"item_repr": "text"}), GrowableCatalogue)


def test_gradient_attribution_is_declared_only_where_it_explains_the_whole_score() -> None:
    assert not supports(create_model("sasrec-fused", {"priors": ("text", "pop")}), HistoryAttribution)
    assert not supports(create_model("sasrec-fused", {"text_skip": True}), HistoryAttribution)
    assert not supports(create_model("sasrec", {"inference": "int8"}), HistoryAttribution)
