"""int8 sentence encoding through ONNX Runtime: export the transformer once, quantise it, cache the file.

Only the transformer (token embeddings `[B, L, D]`) runs in ORT; tokenisation and the model's own pooling /
normalisation modules stay in sentence-transformers, so any mean/CLS/Dense head works unchanged. The export
uses a separately loaded copy of the model, because the legacy TorchScript exporter perturbs the model it
traces.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import ConfigError, ModelFileError
from lmrec.text.base import fingerprint_files

log = logging.getLogger(__name__)

ONNX_EXTRA = "pip install 'lmrec[onnx]'"
FORMAT = "int8-v1"  # bump when the export or quantisation recipe changes: old files are then ignored
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxTokenModel:
    """An ORT session computing a transformer's token embeddings; threads = torch's count when it opens."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _torch_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelFileError(f"cannot open ONNX model {path}: {exc}; delete it to re-export") from None
        self.path = Path(path)
        self.input_names = [i.name for i in self.session.get_inputs()]

    @classmethod
    def for_sentence_model(cls, model_path: Path, *, cache_dir: Path, label: str = "") -> OnnxTokenModel:
        """The cached int8 model of `model_path`, exported and quantised on first use."""
        require_onnxruntime()
        target = int8_path(model_path, cache_dir, label=label)
        if not target.exists():
            log.info("exporting %s to int8 ONNX at %s", model_path, target)
            export_int8(model_path, target)
        return cls(target)

    def sentence_embeddings(self, model: Any, batch: list[str]) -> np.ndarray:
        """[B, D] sentence vectors: transformer in ORT; tokeniser and pooling from the SentenceTransformer."""
        import torch

        features = model.preprocess(batch)
        feeds = {name: features[name].numpy().astype(np.int64) for name in self.input_names}
        tokens = self.session.run(None, feeds)[0]  # [B, L, D]
        features["token_embeddings"] = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.float32))
        with torch.inference_mode():
            for module in list(model)[1:]:
                features = module(features)
        return features["sentence_embedding"].float().numpy()


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(f"precision='int8' needs ONNX Runtime and onnx: {ONNX_EXTRA}") from None
    return onnxruntime


def int8_path(model_path: Path, cache_dir: Path, *, label: str = "") -> Path:
    """`<cache_dir>/<label>-<files sha256[:16]>-int8-v1/model.onnx`: changed model files give a new export."""
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label or Path(str(model_path).rstrip("/")).name or "model")
    return Path(cache_dir) / f"{label}-{fingerprint_files(Path(model_path))[:16]}-{FORMAT}" / "model.onnx"


def export_int8(model_path: Path, target: Path) -> None:
    """Export a fresh copy's transformer to ONNX fp32, check it, quantise to int8, rename onto `target`."""
    import torch

    require_onnxruntime()
    try:
        import onnx  # noqa: F401 - needed by the exporter and the quantiser
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ConfigError(f"precision='int8' needs the onnx package: {ONNX_EXTRA}") from None
    from lmrec.text.loading import load_sentence_transformer

    fresh = load_sentence_transformer(Path(model_path), max_length=128)
    sample = fresh.preprocess(["a sample item title to trace the graph with", "short"])
    names = [name for name in _INPUTS if name in sample]
    module = _token_module(fresh, names)
    with torch.inference_mode():
        reference = module(*(sample[n] for n in names)).numpy()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        fp32, int8 = work / "model.fp32.onnx", work / "model.int8.onnx"
        dynamic = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
        with _quiet():
            torch.onnx.export(module, tuple(sample[n] for n in names), str(fp32), input_names=names,
                              output_names=["token_embeddings"], dynamic_axes=dynamic, opset_version=17,
                              dynamo=False)
            _check_export(fp32, {n: sample[n].numpy() for n in names}, reference)
            quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
        meta = {"source": str(model_path), "files_sha256": fingerprint_files(Path(model_path)),
                "format": FORMAT, "inputs": names}
        (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        os.replace(work / "meta.json", target.parent / "meta.json")
        os.replace(int8, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _token_module(model: Any, names: list[str]) -> Any:
    """A plain `nn.Module(*inputs) -> last_hidden_state`: HF forward() signatures do not trace directly."""
    import torch

    transformer = getattr(model[0], "model", None)
    if transformer is None:
        transformer = getattr(model[0], "auto_model", None)
    if transformer is None:
        raise ConfigError(f"precision='int8' needs a Hugging Face transformer first; got {model[0]}")

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state  # [B, L, D]

    return TokenEmbeddings().eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide tracer warnings and ORT's advice on the root logger (which would also install a handler)."""
    handlers = list(logging.root.handlers)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
        for handler in logging.root.handlers[len(handlers):] if not handlers else []:
            logging.root.removeHandler(handler)


def _check_export(path: Path, feeds: dict[str, np.ndarray], reference: np.ndarray) -> None:
    ort = require_onnxruntime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.astype(np.int64) for k, v in feeds.items()})[0]
    error = float(np.abs(got - reference).max())
    if not error < 1e-3:
        raise ModelFileError(f"ONNX export of {path.name} disagrees with torch (max abs diff {error:.2e})")


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())
