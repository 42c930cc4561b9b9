"""TrainableTextEncoder on the real MiniLM: equal to encode_catalog before training, LoRA / full fine-tuning touch
exactly the weights they should, bf16 autocast, safetensors round trip, merged copies."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("sentence_transformers")
pytest.importorskip("peft")

from lmrec.data.types import Catalog  # noqa: E402
from lmrec.errors import ConfigError, DataError  # noqa: E402
from lmrec.text import EncoderConfig, encode_catalog  # noqa: E402
from lmrec.text.trainable import TrainableTextEncoder  # noqa: E402

TITLES = ["Toy Story (1995)", "GoldenEye (1995)", "", "Four Rooms (1995)", "Get Shorty (1995)",
          "wireless noise-cancelling headphones", "   ", "Copycat (1995)"]
CONFIG = EncoderConfig(cache=False)
MINILM_BASE = 22_565_376  # all-MiniLM-L6-v2 without its unused pooler head (23.05 M with it)
LORA_R8 = 331_776  # r=8 on query/key/value/dense of the 6 layers (+6,144 for the pooler's dense, dropped here)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    catalog = Catalog(pd.DataFrame({"title": TITLES}), text_fields=("title",))
    return encode_catalog(catalog, CONFIG)


def build(mode: str = "lora", **options: object) -> TrainableTextEncoder:
    return TrainableTextEncoder(TITLES, CONFIG, mode=mode, **options)  # type: ignore[arg-type]


def pull_together(encoder: TrainableTextEncoder, steps: int = 3, lr: float = 1e-2) -> None:
    """A toy contrastive objective: make item 0 and item 1 (Toy Story, GoldenEye) more similar."""
    optimiser = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=lr)
    encoder.train()
    for _ in range(steps):
        vectors = encoder(torch.tensor([0, 1]))
        loss = -(vectors[0] * vectors[1]).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    encoder.eval()


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_equals_encode_catalog_before_training(mode: str, reference: np.ndarray) -> None:
    encoder = build(mode)
    assert not encoder.training and encoder.dim == 384 and encoder.n_items == len(TITLES)
    with torch.no_grad():
        forward = encoder(torch.tensor([7, 0, 2, 0, 5, 6, 1, 3, 4])).numpy()
    everything = encoder.encode_all(batch_size=3).numpy()
    order = [7, 0, 2, 0, 5, 6, 1, 3, 4]
    np.testing.assert_allclose(forward, reference[order], atol=1e-5)
    np.testing.assert_allclose(everything, reference, atol=1e-5)
    cosine = (everything * reference).sum(axis=1)
    assert (cosine[[0, 1, 3, 4, 5, 7]] > 0.999).all()
    assert not everything[[2, 6]].any()  # empty texts: zero vectors, as in encode_catalog


def test_truncates_at_the_smaller_of_max_tokens_and_max_length() -> None:
    text = ["a long product description with many words that goes on well past eight word pieces"]
    short = encode_catalog(Catalog(pd.DataFrame({"title": text}), text_fields=("title",)),
                           EncoderConfig(cache=False, max_length=8))
    encoder = TrainableTextEncoder(text, CONFIG, max_tokens=8)
    assert encoder.max_tokens == 8
    np.testing.assert_allclose(encoder.encode_all().numpy(), short, atol=1e-5)


def test_lora_trains_only_the_adapters() -> None:
    encoder = build("lora")
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    base = {name: p.detach().clone() for name, p in encoder.named_parameters() if not p.requires_grad}
    before = encoder.encode_all()
    pull_together(encoder)
    for name, parameter in encoder.named_parameters():
        if "lora_" in name:
            assert parameter.grad is not None, name
        else:
            assert parameter.grad is None, name
            assert torch.equal(parameter, base[name]), name
    assert not torch.equal(encoder.encode_all(), before)


def test_full_mode_trains_every_weight() -> None:
    encoder = build("full")
    layer = encoder.lm.encoder.layer[5].output.dense.weight.detach().clone()
    pull_together(encoder, steps=1, lr=1e-4)
    missing = [name for name, p in encoder.named_parameters() if not p.requires_grad or p.grad is None]
    assert missing == []
    assert not torch.equal(encoder.lm.encoder.layer[5].output.dense.weight, layer)


def test_parameter_counts() -> None:
    lora = build("lora", lora_rank=8)
    assert lora.parameter_counts() == (LORA_R8, MINILM_BASE + LORA_R8)
    assert 0.0144 < LORA_R8 / (MINILM_BASE + LORA_R8) < 0.0146
    assert build("full").parameter_counts() == (MINILM_BASE, MINILM_BASE)
    assert build("lora", lora_rank=4, target_modules=("query", "value")).parameter_counts()[0] == 6 * 2 * 4 * 768


def test_training_moves_vectors_and_encode_all_is_deterministic() -> None:
    encoder = build("lora", lora_dropout=0.1)
    before = encoder.encode_all()
    pull_together(encoder, steps=4)
    encoder.train()
    after, again = encoder.encode_all(), encoder.encode_all()
    assert encoder.training  # the caller's mode comes back
    assert torch.equal(after, again)  # eval mode inside: no dropout
    assert float(after[0] @ after[1]) > float(before[0] @ before[1]) + 0.05
    assert not after.requires_grad and not after.is_inference()


def test_adapter_state_round_trips_through_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    encoder = build("lora")
    pull_together(encoder)
    state = encoder.adapter_state()
    assert state and all("lora_" in name and t.is_contiguous() and t.device.type == "cpu" for name, t in state.items())
    save_file(state, str(tmp_path / "adapter.safetensors"))
    fresh = build("lora")
    fresh.load_adapter_state(load_file(str(tmp_path / "adapter.safetensors")))
    np.testing.assert_allclose(fresh.encode_all().numpy(), encoder.encode_all().numpy(), atol=1e-6)
    with pytest.raises(ConfigError, match="does not fit"):
        build("lora", lora_rank=4, target_modules=("query",)).load_adapter_state(state)


def test_full_state_round_trips_through_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    encoder = build("full")
    pull_together(encoder, steps=1, lr=1e-4)
    save_file(encoder.adapter_state(), str(tmp_path / "lm.safetensors"))
    fresh = build("full")
    fresh.load_adapter_state(load_file(str(tmp_path / "lm.safetensors")))
    np.testing.assert_allclose(fresh.encode_all().numpy(), encoder.encode_all().numpy(), atol=1e-6)


def test_merged_copy_matches_and_leaves_the_adapters_trainable() -> None:
    encoder = build("lora")
    pull_together(encoder)
    merged = encoder.merged()
    np.testing.assert_allclose(merged.encode_all().numpy(), encoder.encode_all().numpy(), atol=1e-5)
    assert merged.mode == "merged" and merged.parameter_counts() == (0, MINILM_BASE)
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    assert encoder.mode == "lora" and encoder.parameter_counts()[0] == LORA_R8


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_bf16_autocast_forward_and_backward(mode: str, reference: np.ndarray) -> None:
    encoder = build(mode)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        vectors = encoder(torch.tensor([0, 1, 3]))
    assert vectors.dtype == torch.float32
    assert (vectors.numpy() * reference[[0, 1, 3]]).sum(axis=1).min() > 0.99  # eval mode: bf16 rounding only
    encoder.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        vectors = encoder(torch.tensor([0, 1, 3]))
        loss = -(vectors[0] * vectors[1]).sum() + (vectors[0] * vectors[2]).sum()
    loss.backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in encoder.parameters())  # autocast leaves the weights float32


def test_add_texts_appends_items(reference: np.ndarray) -> None:
    encoder = TrainableTextEncoder(TITLES[:2], CONFIG)
    encoder.add_texts(TITLES[2:])
    assert encoder.n_items == len(TITLES)
    np.testing.assert_allclose(encoder.encode_all().numpy(), reference, atol=1e-5)


def test_errors() -> None:
    encoder = build("lora")
    with pytest.raises(DataError, match="out of range"):
        encoder(torch.tensor([len(TITLES)]))
    with pytest.raises(ConfigError, match="mode="):
        TrainableTextEncoder(TITLES, CONFIG, mode="adapter")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kind='sentence'"):
        TrainableTextEncoder(TITLES, EncoderConfig(kind="tfidf"))
    with pytest.raises(ConfigError, match="not found"):
        TrainableTextEncoder(TITLES, CONFIG, target_modules=("no_such_layer",))


def test_missing_peft_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ConfigError, match=r"lmrec\[peft\]"):
        build("lora")
    assert build("full").mode == "full"  # full fine-tuning does not need peft
