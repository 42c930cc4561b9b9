"""Compression of a sequence model: pruning reaches the sparsity asked for and is permanent; the int8 and ONNX
forms score close to float32 on a small trained model, survive save/load with float32 safetensors only, and are
rebuilt whenever the weights change (training, growing) instead of serving a stale net."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lmrec.errors import ConfigError
from lmrec.models.base import WEIGHTS, load_model
from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY, register_net
from lmrec.models.sequence.compress import CompressionSpec, compress, net_bytes, prunable
from lmrec.testing.toy import block_data

NETS = ("sasrec", "gru4rec", "lstm4rec")


@pytest.fixture(scope="module")
def data():
    return block_data(n_blocks=2, users_per_block=15, items_per_block=10, items_per_user=6, seed=0)


@pytest.fixture(scope="module")
def fitted(data) -> dict:
    """One small trained model per net (enough epochs that the scores carry structure)."""
    tiny = {**SEQUENCE_TINY, "train": {**SEQUENCE_TINY["train"], "epochs": 8}}
    return {name: create_model(name, tiny).fit(data.split.train) for name in NETS}


def top(scores: torch.Tensor, k: int = 5) -> list[set[int]]:
    return [set(row) for row in scores.topk(k, dim=1).indices.tolist()]


@pytest.mark.parametrize(("text", "prune", "form"), [
    ("int8", None, "int8"), ("onnx", None, "onnx"), ("prune:0.5", 0.5, None), (" prune:0.25 , int8 ", 0.25, "int8"),
])
def test_method_specs_parse(text, prune, form) -> None:
    spec = CompressionSpec.parse(text)
    assert (spec.prune, spec.inference) == (prune, form)
    assert CompressionSpec.parse(str(spec)) == spec  # the canonical spelling recorded in meta reads back


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected"), ("int4", "unknown part 'int4'"), ("prune", "fraction"), ("prune:1.5", "(0, 1)"),
    ("prune:0", "(0, 1)"), ("int8,onnx", "one of int8 and onnx"), ("prune:0.1,prune:0.2", "twice"),
    ("float32", "unknown part"),
])
def test_bad_method_specs_say_what_is_wrong(text, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CompressionSpec.parse(text)


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("amount", [0.3, 0.7])
def test_pruning_reaches_the_requested_sparsity_and_is_permanent(fitted, data, name, amount) -> None:
    source = fitted[name]
    pruned, info = compress(source, CompressionSpec(prune=amount))
    net = pruned.module_.net
    weights = [getattr(m, n) for m, n in prunable(net)]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert info["pruning"]["sparsity"] == pytest.approx(zeros) == pytest.approx(amount, abs=1e-3)
    assert not any(k.endswith(("_orig", "_mask")) for k in pruned.module_.state_dict())  # no masks left
    assert not any(m._forward_pre_hooks for m in net.modules())  # no pruning hooks left
    kept = torch.cat([w.flatten().abs() for w in weights])
    original = torch.cat([getattr(m, n).flatten().abs() for m, n in prunable(source.module_.net)])
    assert kept[kept > 0].min() >= original.kthvalue(int(amount * original.numel())).values - 1e-7  # by magnitude
    assert torch.equal(pruned.module_.tower.embedding.weight, source.module_.tower.embedding.weight)  # items kept
    assert info["nonzero_parameters"] < info["parameters"]
    assert pruned.config.inference == source.config.inference == "float32"
    assert torch.isfinite(pruned.score(data.queries)).all()


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize(("form", "tolerance"), [("int8", 0.05), ("onnx", 1e-4)])
def test_int8_and_onnx_score_close_to_float32(fitted, data, name, form, tolerance) -> None:
    source = fitted[name]
    small, info = compress(source, CompressionSpec(inference=form))
    assert small.config.inference == form and info["inference"] == form
    reference, got = source.score(data.queries), small.score(data.queries)
    scale = float(reference.abs().max())
    assert float((got - reference).abs().max()) <= tolerance * scale
    overlap = np.mean([len(a & b) / 5 for a, b in zip(top(reference), top(got), strict=True)])
    assert overlap >= 0.95
    with torch.inference_mode():  # the halves a FAISS index serves from reproduce score()
        assert torch.allclose(small.user_vectors(data.queries) @ small.item_table().T, got, atol=1e-5)


def test_int8_net_is_smaller_as_scored(fitted) -> None:
    module = fitted["sasrec"].module_
    assert net_bytes(module, "int8") < 0.4 * net_bytes(module, "float32")
    assert net_bytes(module, "onnx") == net_bytes(module, "float32")


@pytest.mark.parametrize("form", ["int8", "onnx"])
def test_a_compressed_model_saves_float32_and_loads_as_its_form(fitted, data, form, tmp_path) -> None:
    small, _ = compress(fitted["sasrec"], CompressionSpec(prune=0.5, inference=form))
    small.save(tmp_path)
    tensors = load_file(str(tmp_path / WEIGHTS))
    assert {t.dtype for k, t in tensors.items() if k != "_n_items"} == {torch.float32}  # no int8 / pickled state
    loaded = load_model(tmp_path)
    assert loaded.config.inference == form
    assert torch.allclose(loaded.score(data.queries), small.score(data.queries), atol=1e-5)


@pytest.mark.parametrize("form", ["int8", "onnx"])
def test_the_form_follows_the_weights_after_training(fitted, data, form) -> None:
    small, _ = compress(fitted["gru4rec"], CompressionSpec(inference=form))
    before = small.score(data.queries)
    log = small.partial_fit(data.split.train, epochs=2, lr=0.05)
    assert log["epochs"]  # it trained: the float weights moved
    after = small.score(data.queries)
    floating, _ = compress(small, CompressionSpec(inference="float32"))
    reference = floating.score(data.queries)
    assert not torch.allclose(after, before, atol=1e-3)
    assert float((after - reference).abs().max()) <= 0.05 * float(reference.abs().max())


def test_a_fused_onnx_model_copies_and_grows(data) -> None:
    tiny = {**SEQUENCE_TINY, "encoder": {"kind": "tfidf", "tfidf_dim": 16, "cache": False},
            "train": {**SEQUENCE_TINY["train"], "epochs": 3}, "text_skip": True}
    fused = create_model("sasrec-fused", tiny).fit(data.split.train, catalog=data.dataset.catalog)
    small, _ = compress(fused, CompressionSpec(inference="onnx"))
    n = fused.n_items_
    assert torch.allclose(small.score(data.queries), fused.score(data.queries), atol=1e-4)
    grown = copy.deepcopy(small)  # what the service does before POST /items
    new = grown.add_items(fused.text_vectors[:2].numpy())
    fused.add_items(fused.text_vectors[:2].numpy())
    scores = grown.score(data.queries)
    assert scores.shape[1] == n + 2 and list(new) == [n, n + 1]
    assert torch.allclose(scores, fused.score(data.queries), atol=1e-4)
    assert small.score(data.queries).shape[1] == n  # the original is untouched


def test_only_sequence_models_compress(data) -> None:
    ease = create_model("ease").fit(data.split.train)
    with pytest.raises(ConfigError, match="sequence models"):
        compress(ease, CompressionSpec(inference="int8"))


class LengthBranchNet(torch.nn.Module):
    """Branches in Python on the history length: a trace at one length cannot stand for the others."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, seq: torch.Tensor, table: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        x = table[seq.clamp(min=0)] * (seq >= 0).unsqueeze(-1)  # [B, L, D]
        return self.out(x if seq.shape[1] > 4 else -x)


@register_net("test-length-branch")
def _branchy(config) -> torch.nn.Module:
    return LengthBranchNet(config.dim)


def test_an_onnx_export_that_disagrees_with_torch_is_refused(data) -> None:
    model = create_model("sasrec", {**SEQUENCE_TINY, "net": "test-length-branch",
                                    "train": {**SEQUENCE_TINY["train"], "epochs": 1}}).fit(data.split.train)
    small, _ = compress(model, CompressionSpec(inference="onnx"))
    with pytest.raises(ConfigError, match="disagrees with torch"):
        small.score(data.queries)


def test_fit_with_an_int8_form_trains_float32_weights_and_scores_int8(data) -> None:
    tiny = {**SEQUENCE_TINY, "train": {**SEQUENCE_TINY["train"], "epochs": 3}}
    floating = create_model("lstm4rec", tiny).fit(data.split.train, valid=data.split.valid)
    quantised = create_model("lstm4rec", {**tiny, "inference": "int8"}).fit(data.split.train, valid=data.split.valid)
    assert quantised.config.inference == "int8"
    for a, b in zip(floating.module_.parameters(), quantised.module_.parameters(), strict=True):
        assert a.dtype == b.dtype == torch.float32
    reference = floating.score(data.queries)
    assert float((quantised.score(data.queries) - reference).abs().max()) <= 0.05 * float(reference.abs().max())
