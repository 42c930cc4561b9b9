"""The scoring forms of a sequence model's net besides float32: `int8` (dynamic quantisation of its Linear, GRU and
LSTM layers) and `onnx` (the float32 net run by ONNX Runtime).

Weights are always saved as float32 safetensors; a form is rebuilt from them when first needed and again whenever
they change (keyed, like the item-table cache, on every net weight's storage and in-place version), so training
(`partial_fit`), growing the catalogue and `lmrec update` keep working on a compressed model. Only the user state
is compressed: the item table stays the module's own (cached) float matrix, fed to the form as an input, and
scores stay one matrix product. Both forms compute on the CPU (inputs are moved there and the result back).

Dynamic quantisation picks one activation scale per call, so an int8 history's scores can move within
quantisation noise with the batch it is scored in.
"""

from __future__ import annotations

import copy
import io
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lmrec.config import shorten
from lmrec.errors import ConfigError
from lmrec.models.sequence.module import SequenceModule

INFERENCE_FORMS = ("float32", "int8", "onnx")
QUANTISED_LAYERS = (nn.Linear, nn.GRU, nn.LSTM)  # what `int8` quantises (weights int8, activations per call)
ONNX_OPSET = 17
ONNX_EXTRA = "pip install 'lmrec[onnx]'"
Runner = Callable[[Tensor, Tensor], Tensor]  # (seq [B, L] int64, table [N, D] float32) -> users [B, D], on CPU

_FORMS: weakref.WeakKeyDictionary[SequenceModule, tuple[tuple, Runner]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def compressed_user_vectors(module: SequenceModule, form: str, seq: Tensor, table: Tensor | None = None, *,
                            max_len: int) -> Tensor:
    """[B, D] user states of right-aligned `seq [B, L <= max_len]` computed by the net's `form` (int8 or onnx),
    against `table` (the module's item table when None); on the table's device and dtype."""
    if table is None:
        table = module.item_table()
    held = table.detach().cpu().float()
    runner = _runner(module, form, held, max_len)
    return runner(seq.detach().cpu().long(), held).to(table.device, table.dtype)


def form_key(module: SequenceModule, form: str) -> tuple:
    """What a form depends on: the form, every net weight (storage, in-place version), the text skip's tau and,
    with the skip, the text vectors its profiles read."""
    weights = tuple((p.data_ptr(), p._version) for p in module.net.parameters())
    skip = None
    if module.tau is not None:
        text = module.text_vectors
        skip = (module.tau.data_ptr(), module.tau._version, text.data_ptr(), tuple(text.shape), text._version)
    return form, weights, skip


def _runner(module: SequenceModule, form: str, table: Tensor, max_len: int) -> Runner:
    key = form_key(module, form)
    with _LOCK:
        held = _FORMS.get(module)
        if held is not None and held[0] == key:
            return held[1]
        with torch.inference_mode(False), torch.no_grad():
            runner = build_form(module, form, table, max_len)
        _FORMS[module] = (key, runner)
        return runner


def build_form(module: SequenceModule, form: str, table: Tensor, max_len: int) -> Runner:
    """A fresh runner of `form` from the module's current float weights (eval mode: no dropout); `table` [N, D]
    and `max_len` shape the ONNX trace."""
    if form == "int8":
        return _int8(module)
    if form == "onnx":
        return _onnx(module, table, max_len)
    raise ConfigError(f"model.inference={form!r} is not one of {list(INFERENCE_FORMS)}")


def with_net(module: SequenceModule, net: nn.Module) -> SequenceModule:
    """A view of `module` whose user states come from `net`: the same tower (shared, not copied) and text skip."""
    view = SequenceModule(module.tower, net, dim=module.dim, text_skip=module.tau is not None,
                          skip_decay=module.skip_decay)
    view.tau = module.tau
    view.training = False  # not .eval(): that would also switch the shared tower of a module in training
    return view


def quantise_net(net: nn.Module) -> nn.Module:
    """An int8 copy of `net`: dynamic quantisation of its Linear, GRU and LSTM layers (torch.ao; its deprecation
    notice points to torchao, which this environment does not ship)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(net).cpu().eval(), set(QUANTISED_LAYERS),
                                                      dtype=torch.qint8)


def _int8(module: SequenceModule) -> Runner:
    view = with_net(module, quantise_net(module.net))

    def run(seq: Tensor, table: Tensor) -> Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return view.user_vectors(seq, table)

    return run


class _UserState(nn.Module):
    """What the ONNX graph computes: (seq [B, L], table [N, D]) -> user states [B, D]."""

    def __init__(self, view: SequenceModule) -> None:
        super().__init__()
        self.view = view

    def forward(self, seq: Tensor, table: Tensor) -> Tensor:
        return self.view.user_vectors(seq, table)


def export_onnx(view: SequenceModule, table: Tensor, max_len: int) -> bytes:
    """The user-state part of `view` (its net, its text skip) as an ONNX graph in memory: the legacy TorchScript
    exporter (`dynamo=False`: the dynamo exporter needs onnxscript), batch, length and catalogue size dynamic.
    Traced on histories of the longest input (`max_len`) over `table` [N, D]: a net may branch in Python on the
    length (SASRec adds positions up to max_len), and inputs are never longer."""
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_UserState(view).eval(), (probe(max_len, table.shape[0]), table), buffer,
                              input_names=["seq", "table"], output_names=["users"], opset_version=ONNX_OPSET,
                              dynamo=False, dynamic_axes={"seq": {0: "batch", 1: "length"}, "table": {0: "items"},
                                                          "users": {0: "batch"}})
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types for a net it cannot trace
        raise ConfigError(f"model.inference='onnx': {type(view.net).__name__} does not export to ONNX "
                          f"({type(exc).__name__}: {shorten(str(exc))}); use int8 or float32") from None
    return buffer.getvalue()


def probe(length: int, n_items: int) -> Tensor:
    """[2, length] right-aligned histories, the second half left-padded (as right_align makes them)."""
    seq = torch.arange(2 * length).reshape(2, length) % max(n_items, 1)
    seq[1, : length // 2] = -1
    return seq


def onnx_session(graph: bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session of `graph` with torch's thread count (or `threads`)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f"model.inference='onnx' needs ONNX Runtime: {ONNX_EXTRA}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _onnx(module: SequenceModule, table: Tensor, max_len: int) -> Runner:
    view = with_net(module, copy.deepcopy(module.net).cpu().eval())  # the tracer may perturb what it traces
    check = probe(min(3, max_len), table.shape[0])  # shorter than the trace: the length must really be dynamic
    expected = view.user_vectors(check, table)
    session = onnx_session(export_onnx(view, table, max_len))

    def run(seq: Tensor, table: Tensor) -> Tensor:
        feeds = {"seq": np.ascontiguousarray(seq.numpy()), "table": np.ascontiguousarray(table.numpy())}
        return torch.from_numpy(session.run(None, feeds)[0])

    error = float((run(check, table) - expected).abs().max())
    if not error <= 1e-3 * max(float(expected.abs().max()), 1.0):
        raise ConfigError(f"model.inference='onnx': the exported {type(module.net).__name__} disagrees with torch "
                          f"(max abs diff {error:.2e}); use int8 or float32")
    return run
