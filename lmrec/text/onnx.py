"""int8 sentence encoding through ONNX Runtime: export the transformer once, quantise it, cache the file.

Only the transformer (token embeddings `[B, L, D]`) runs in ORT; tokenisation and the model's own pooling /
normalisation modules stay in sentence-transformers, so any mean/CLS/Dense head works unchanged. The export
uses a separately loaded copy of the model, because the legacy TorchScript exporter perturbs the model it
traces.

The int8 file is not plain `quantize_dynamic`: a BERT-style copy first has its outlier activation channels
handled exactly in float (`lmrec.text.outliers`), because ORT's one-scale-per-tensor activations lose most of
their resolution to them. Encoding sorts texts by token count and runs at most MAX_BATCH per ORT call (padding
~2 % of the tokens, against ~46 % for 64 texts grouped by characters). Measured on 2,000 Amazon Office titles
at 1 thread (all-MiniLM-L6-v2): cosine to float32 0.9986 mean / 0.9963 min (recipe int8-v1: 0.9934 / 0.9835),
and 1.7-1.9x int8-v1's items/s in A/B runs in one process on a shared machine: token sorting and small calls
~1.7-1.8x, the eager-attention graph a few per cent more, the outlier handling costs within the noise (<5 %).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import ConfigError, ModelFileError
from lmrec.text.base import Progress, fingerprint_files

log = logging.getLogger(__name__)

ONNX_EXTRA = "pip install 'lmrec[onnx]'"
FORMAT = "int8-v2"  # bump when the export or quantisation recipe changes: old files and vectors are then ignored
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MAX_BATCH = 16  # texts per ORT call: 8-24 measured alike at 1 thread; 64 ~20 % slower (activations leave cache)
CHUNK = 4096  # texts tokenised (and length-sorted) at once: bounds the padded id arrays to ~12 MB


class OnnxTokenModel:
    """An ORT session computing a transformer's token embeddings. `threads` (torch's count when it opens) are
    used as that many concurrent single-threaded calls, not as ORT's intra-op threads: on 16-text int8 calls
    ORT's own threading gained 1.1x from a second core here, concurrent calls 1.9x (bench/results/
    encoder_throughput.md); `run` is thread-safe and releases the GIL."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        self.workers = max(1, threads or _torch_threads())
        options.intra_op_num_threads = 1
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

    def encode(self, model: Any, texts: list[str], *, batch_size: int = MAX_BATCH,
               progress: Progress | None = None) -> np.ndarray:
        """[n, D] sentence vectors (not yet normalised by us), in the order of `texts`.

        Texts are tokenised a chunk at a time by the model's own `preprocess`, then run longest first, sorted
        by token count, at most min(batch_size, MAX_BATCH) per ORT call, each call cut to its longest text so
        little padding is computed. Dynamic int8 scales depend on the call, so a vector can differ slightly
        with the texts it shares a call with.
        """
        size = max(1, min(int(batch_size), MAX_BATCH))
        out: np.ndarray | None = None
        done = 0
        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        try:
            for start in range(0, len(texts), CHUNK):
                features = model.preprocess(texts[start:start + CHUNK])
                order = np.argsort(-features["attention_mask"].sum(dim=1).numpy(), kind="stable")
                calls = [order[first:first + size] for first in range(0, len(order), size)]
                run = functools.partial(self._call, model, features)
                for rows, vectors in zip(calls, pool.map(run, calls) if pool else map(run, calls), strict=True):
                    if out is None:
                        out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                    out[start + rows] = vectors
                    done += len(rows)
                    if progress is not None:
                        progress(done, len(texts))
        finally:
            if pool is not None:
                pool.shutdown()
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def _call(self, model: Any, features: dict[str, Any], rows: np.ndarray) -> np.ndarray:
        return self.sentence_embeddings(model, _take_rows(features, rows))

    def sentence_embeddings(self, model: Any, features: dict[str, Any]) -> np.ndarray:
        """[B, D] sentence vectors of preprocessed `features`: transformer in ORT, pooling in the model."""
        import torch

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
    """Export a fresh copy's transformer to ONNX fp32, check it, quantise to int8, rename onto `target`.

    The copy runs eager attention (a plainer graph than SDPA's, no NaN guards) and has its outlier channels
    tamed (`lmrec.text.outliers`); the check compares the rewritten graph with the untouched model's output.
    """
    import torch

    require_onnxruntime()
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ConfigError(f"precision='int8' needs the onnx package: {ONNX_EXTRA}") from None
    from lmrec.text.loading import load_sentence_transformer
    from lmrec.text.outliers import CALIBRATION_TEXTS, SIDE_PREFIX, tame_outliers

    fresh = load_sentence_transformer(Path(model_path), max_length=128)
    sample = fresh.preprocess(["a sample item title to trace the graph with", "short"])
    names = [name for name in _INPUTS if name in sample]
    module = _token_module(fresh, names)
    with torch.inference_mode():
        reference = module(*(sample[n] for n in names)).numpy()
    with contextlib.suppress(AttributeError, ValueError, NotImplementedError):
        module.transformer.set_attn_implementation("eager")
    calibration = fresh.preprocess(list(CALIBRATION_TEXTS))
    tamed = tame_outliers(module.transformer, lambda: module(*(calibration[n] for n in names)))
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
            side = [n.name for n in onnx.load(str(fp32)).graph.node if f"/{SIDE_PREFIX}" in n.name]
            quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8,
                             nodes_to_exclude=side)
        meta = {"source": str(model_path), "files_sha256": fingerprint_files(Path(model_path)),
                "format": FORMAT, "inputs": names, "outliers": tamed}
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


def _take_rows(features: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The features of `rows` only, cut to the columns any of them uses (their longest text, either padding side)."""
    import torch

    index = torch.as_tensor(rows)
    mask = features["attention_mask"]
    n, width = mask.shape
    used = mask[index].bool().any(dim=0)
    out: dict[str, Any] = {}
    for key, value in features.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and tuple(value.shape[:2]) == (n, width):
            out[key] = value[index][:, used]
        elif isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == n:
            out[key] = value[index]
        else:
            out[key] = value
    return out


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
