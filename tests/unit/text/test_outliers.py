"""Outlier handling before int8: exact in float, finds the injected outlier channels, leaves other models alone."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lmrec.text.outliers import SplitOutput, bert_layers, tame_outliers  # noqa: E402


def tiny_bert_with_outliers() -> torch.nn.Module:
    """A random 2-layer BERT with one large FFN channel per layer and one large LayerNorm channel."""
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=32)
    model = transformers.BertModel(config).eval()
    with torch.no_grad():
        model.embeddings.LayerNorm.weight[3] = 20.0  # layer 0's Q/K/V input
        for i, layer in enumerate(model.encoder.layer):
            layer.intermediate.dense.bias[5 + i] = 30.0  # GELU output ~30 on every token
            layer.attention.output.LayerNorm.weight[7] = 15.0  # the FFN input
    return model


def test_rewrite_is_exact_in_float_and_moves_the_outliers() -> None:
    model = tiny_bert_with_outliers()
    ids = torch.randint(1, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).last_hidden_state
    split = tame_outliers(model, lambda: model(input_ids=ids, attention_mask=mask))
    with torch.no_grad():
        after = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    assert 5 in split["layer.0"] and 6 in split["layer.1"]
    assert all(isinstance(layer.output, SplitOutput) for layer in model.encoder.layer)
    first = model.encoder.layer[0].intermediate.dense
    assert first.out_features == 64 and not first.weight[5].any() and first.bias[5] == 0  # widths kept
    seen = {}
    hooks = [model.encoder.layer[0].attention.self.query.register_forward_pre_hook(
        lambda _m, args: seen.__setitem__("qkv", args[0].abs().amax(dim=(0, 1)))),
             model.encoder.layer[0].intermediate.dense.register_forward_pre_hook(
        lambda _m, args: seen.__setitem__("ffn", args[0].abs().amax(dim=(0, 1))))]
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for hook in hooks:
        hook.remove()
    for channel, key in ((3, "qkv"), (7, "ffn")):  # scaled down to the bulk (8th largest), no longer the max
        values = seen[key]
        assert values[channel] <= values.sort(descending=True).values[7] * 1.001


def test_a_model_without_bert_layers_is_left_alone() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    calls = []
    assert tame_outliers(model, lambda: calls.append(1)) == {}
    assert bert_layers(model) is None and calls == []
