"""Every encoder keeps the `ItemEncoder` contract: float32 [n, dim], unit rows, zero rows for empty text."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import DataError
from lmrec.text import CachedEncoder, ItemEncoder, TfidfEncoder

TEXTS = ["wireless noise-cancelling headphones", "", "blue gel ink pens fine point", "   ",
         "a much longer item text about an ergonomic office chair with lumbar support and armrests",
         "wireless noise-cancelling headphones"]


@pytest.fixture
def tfidf(titles: list[str]) -> TfidfEncoder:
    return TfidfEncoder(dim=32, seed=0).fit(titles)


@pytest.fixture(params=["tfidf", "minilm", "minilm_bf16", pytest.param("minilm_int8", marks=pytest.mark.slow),
                        "fake", "cached"])
def encoder(request: pytest.FixtureRequest) -> ItemEncoder:
    if request.param == "fake":
        return request.getfixturevalue("fake_encoder")(dim=16)
    if request.param == "cached":
        inner = request.getfixturevalue("fake_encoder")(dim=16)
        return CachedEncoder(inner, request.getfixturevalue("tmp_path"))
    return request.getfixturevalue(request.param)


def test_shape_dtype_and_unit_rows(encoder: ItemEncoder) -> None:
    vectors = encoder.encode(TEXTS, batch_size=2)
    assert isinstance(encoder, ItemEncoder)
    assert vectors.shape == (len(TEXTS), encoder.dim) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 2, 4, 5]], 1.0, atol=1e-5)


def test_empty_text_is_the_zero_vector(encoder: ItemEncoder) -> None:
    vectors = encoder.encode(["", "  \n", "blue gel ink pens fine point"])
    assert not vectors[:2].any()
    assert np.linalg.norm(vectors[2]) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_and_independent_of_batching(encoder: ItemEncoder) -> None:
    first = encoder.encode(TEXTS, batch_size=64)
    again = encoder.encode(TEXTS, batch_size=64)
    np.testing.assert_array_equal(first, again)
    one_by_one = np.concatenate([encoder.encode([t], batch_size=1) for t in TEXTS])
    # bf16 rounding and int8 dynamic activation scales depend on the (padded) batch a text shares
    precision = getattr(getattr(encoder, "config", None), "precision", "float32")
    floor = {"bf16": 0.999, "int8": 0.97}.get(precision, 0.99999)
    cosine = (one_by_one * first).sum(axis=1)[[0, 2, 4, 5]]
    assert cosine.min() > floor
    assert not one_by_one[[1, 3]].any()
    np.testing.assert_array_equal(first[0], first[5])


def test_name_and_no_texts(encoder: ItemEncoder) -> None:
    assert isinstance(encoder.name, str) and encoder.name
    empty = encoder.encode([])
    assert empty.shape == (0, encoder.dim) and empty.dtype == np.float32


def test_rejects_a_bare_string_and_non_text(encoder: ItemEncoder) -> None:
    with pytest.raises(DataError, match="single string"):
        encoder.encode("headphones")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="position 1"):
        encoder.encode(["ok", None])  # type: ignore[list-item]


def test_progress_reaches_the_total(encoder: ItemEncoder, titles: list[str]) -> None:
    seen: list[tuple[int, int]] = []
    texts = ["", *titles[:9], "  "]
    encoder.encode(texts, batch_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (11, 11) and all(total == 11 for _, total in seen)
    seen.clear()
    encoder.encode(["", " "], progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2, 2)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
