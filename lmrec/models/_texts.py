"""Item texts kept inside a model's safetensors file (UTF-8 bytes + offsets), for models that read titles when
they score (history-as-text, generative prompts), so a saved model scores without its catalogue."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def texts_to_tensors(texts: list[str], prefix: str = "texts") -> dict[str, Tensor]:
    raw = [t.encode("utf-8") for t in texts]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in raw], dtype=np.int64)]).astype(np.int64)
    data = np.frombuffer(b"".join(raw), dtype=np.uint8).copy() if offsets[-1] else np.zeros(0, np.uint8)
    return {f"{prefix}.bytes": torch.from_numpy(data), f"{prefix}.offsets": torch.from_numpy(offsets)}


def tensors_to_texts(tensors: dict[str, Tensor], prefix: str = "texts") -> list[str]:
    data, offsets = tensors[f"{prefix}.bytes"].numpy().tobytes(), tensors[f"{prefix}.offsets"].numpy()
    return [data[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace") for i in range(len(offsets) - 1)]


def clean(text: str, limit: int | None = None) -> str:
    """One line, single spaces, at most `limit` characters."""
    one = " ".join(str(text).split())
    return one[:limit] if limit else one
