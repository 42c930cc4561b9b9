"""EncoderConfig validation, the factory and `encode_catalog` on a Catalog with a text template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmrec.config import from_dict
from lmrec.data.types import Catalog
from lmrec.errors import ConfigError
from lmrec.text import (
    CachedEncoder,
    EncoderConfig,
    SentenceEncoder,
    TfidfEncoder,
    default_cache_dir,
    encode_catalog,
    make_encoder,
)


@pytest.fixture
def catalog(titles: list[str]) -> Catalog:
    frame = pd.DataFrame({"title": titles[:20], "brand": ["Acme", None] * 10})
    return Catalog(frame, text_fields=("title", "brand"))


@pytest.mark.parametrize("bad", [{"precision": "fp8"}, {"kind": "bert"}, {"batch_size": 0}, {"model": " "},
                                 {"max_length": -1}])
def test_bad_values_are_config_errors(bad: dict) -> None:
    with pytest.raises(ConfigError):
        EncoderConfig(**bad)


def test_from_dict_is_strict() -> None:
    config = from_dict(EncoderConfig, {"kind": "tfidf", "tfidf_dim": "64", "template": "{title}"})
    assert config == EncoderConfig(kind="tfidf", tfidf_dim=64, template="{title}")
    with pytest.raises(ConfigError, match="valid:"):
        from_dict(EncoderConfig, {"precission": "bf16"})


def test_default_cache_dir_follows_lmrec_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "vectors"
    assert EncoderConfig().resolved_cache_dir() == tmp_path / "vectors"
    assert EncoderConfig(cache_dir="/x/y").resolved_cache_dir() == Path("/x/y")
    monkeypatch.delenv("LMREC_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "lmrec" / "vectors"


def test_make_encoder_kinds(tmp_path: Path) -> None:
    assert isinstance(make_encoder(EncoderConfig(kind="tfidf")), TfidfEncoder)
    cached = make_encoder(EncoderConfig(cache_dir=str(tmp_path)))
    assert isinstance(cached, CachedEncoder) and isinstance(cached.encoder, SentenceEncoder)
    assert isinstance(make_encoder(EncoderConfig(cache=False)), SentenceEncoder)


def test_encode_catalog_tfidf_uses_the_template(catalog: Catalog, titles: list[str]) -> None:
    plain = encode_catalog(catalog, EncoderConfig(kind="tfidf", tfidf_dim=16))
    assert plain.shape == (20, 16) and plain.dtype == np.float32
    templated = encode_catalog(catalog, EncoderConfig(kind="tfidf", tfidf_dim=16, template="{title}"))
    np.testing.assert_allclose(templated, TfidfEncoder(16).fit(titles[:20]).encode(titles[:20]), atol=1e-6)


def test_encode_catalog_sentence_is_cached(catalog: Catalog, minilm: SentenceEncoder, tmp_path: Path) -> None:
    config = EncoderConfig(cache_dir=str(tmp_path), template="{title} by {brand}")
    seen: list[tuple[int, int]] = []
    vectors = encode_catalog(catalog, config, progress=lambda done, total: seen.append((done, total)))
    assert vectors.shape == (20, 384) and seen[-1] == (20, 20)
    np.testing.assert_allclose(vectors, minilm.encode(catalog.texts(config.template)), atol=1e-5)
    assert len(list(tmp_path.glob("sentence_all-MiniLM-L6-v2_float32_len128*/*.safetensors"))) == 1
    np.testing.assert_array_equal(encode_catalog(catalog, config), vectors)
