"""TF-IDF fallback: fitted on the catalogue, fixed width, seeded, unknown words give nothing."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError, NotFittedError
from lmrec.text import ItemEncoder, TfidfEncoder


def test_needs_fit_first() -> None:
    encoder = TfidfEncoder(dim=16)
    with pytest.raises(NotFittedError):
        encoder.encode(["pens"])
    assert encoder.name.endswith("@unfitted") and isinstance(encoder, ItemEncoder)


def test_reduces_to_dim_and_is_seeded(titles: list[str]) -> None:
    a = TfidfEncoder(dim=16, seed=3).fit(titles)
    b = TfidfEncoder(dim=16, seed=3).fit(titles)
    va, vb = a.encode(titles), b.encode(titles)
    assert va.shape == (50, 16) and a.svd_ is not None
    np.testing.assert_array_equal(va, vb)
    assert a.name == b.name and a.name.startswith("tfidf/dim16/seed3@")
    assert TfidfEncoder(dim=16, seed=3).fit(titles[:-1]).name != a.name


def test_small_catalogue_pads_to_dim() -> None:
    encoder = TfidfEncoder(dim=256).fit(["blue pens", "red pens", "stapler"])
    vectors = encoder.encode(["blue pens", "stapler"])
    assert vectors.shape == (2, 256) and encoder.svd_ is None
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors[0] @ vectors[1] == pytest.approx(0.0)


def test_new_texts_use_the_fitted_vocabulary(titles: list[str]) -> None:
    encoder = TfidfEncoder(dim=16).fit(titles)
    unknown, known = encoder.encode(["zxqv quantum flux capacitor", "black ballpoint pens"])
    assert not unknown.any()
    assert np.linalg.norm(known) == pytest.approx(1.0, abs=1e-5)
    pens = encoder.encode(["blue gel ink pens fine point", "heavy duty stapler 40 sheets"])
    assert known @ pens[0] > known @ pens[1]


def test_fit_on_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError):
        TfidfEncoder(dim=8).fit(["", "  "])
    with pytest.raises(ConfigError):
        TfidfEncoder(dim=0)
