"""The item-encoder vocabulary: the `ItemEncoder` protocol, its frozen config, helpers all encoders share.

Convention for items without text: a text that is empty after `strip()` encodes to the zero vector (never
NaN, never the model's encoding of ""). A zero row says "no information": its cosine with every item is 0,
whereas a shared encoding of "" would make all text-less items look identical to each other. Every other row
has norm 1.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from lmrec.errors import ConfigError, DataError

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` after each batch; the CLI renders it."""

EncodeFn = Callable[[list[str], "Progress | None"], np.ndarray]
"""Encodes a list of non-empty texts to raw [n, dim] vectors, reporting (done, n) to the progress given."""

Precision = Literal["float32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("float32", "bf16", "int8")
DEFAULT_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class ItemEncoder(Protocol):
    """Turns item texts into L2-normalised float32 vectors `[n, dim]` (zero rows for empty texts).

    `name` identifies everything that changes the vectors (model files, precision, max length, fitted state),
    so it is a safe cache key.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
               ) -> np.ndarray: ...


@dataclass(frozen=True)
class EncoderConfig:
    """How item texts become vectors; written beside every model that uses them.

    `template` is applied through `Catalog.texts(template)`, e.g. "{title}. Brand: {brand}".
    `cache_dir` defaults to `$LMREC_CACHE/vectors` or `~/.cache/lmrec/vectors`; int8 ONNX models live in its
    `onnx/` folder. `tfidf_dim` and `seed` only matter for `kind="tfidf"`.
    """

    kind: Literal["sentence", "tfidf"] = "sentence"
    model: str = DEFAULT_MODEL
    precision: Precision = "float32"
    batch_size: int = 64
    max_length: int = 128
    template: str | None = None
    cache_dir: str | None = None
    cache: bool = True
    tfidf_dim: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("sentence", "tfidf"):
            raise ConfigError(f"encoder kind={self.kind!r} is not one of ['sentence', 'tfidf']")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"encoder precision={self.precision!r} is not one of {list(PRECISIONS)}")
        for key in ("batch_size", "max_length", "tfidf_dim"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"encoder {key}={getattr(self, key)!r} must be a positive integer")
        if not str(self.model).strip():
            raise ConfigError("encoder model is empty; give a model name or a local model directory")

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


def default_cache_dir() -> Path:
    """`$LMREC_CACHE/vectors`, else `~/.cache/lmrec/vectors`."""
    root = os.environ.get("LMREC_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "lmrec") / "vectors"


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list of str; anything else is a DataError naming the position."""
    if isinstance(texts, str):
        raise DataError("encode() takes a sequence of texts, not a single string; wrap it in a list")
    out = list(texts)
    for position, text in enumerate(out):
        if not isinstance(text, str):
            raise DataError(f"text at position {position} is {type(text).__name__}, not str")
    return out


def encode_nonempty(texts: Sequence[str], dim: int, encode: EncodeFn,
                    progress: Progress | None = None) -> np.ndarray:
    """Run `encode(kept, progress)` on the non-empty texts only; zero rows for empty ones; rows L2-normalised.

    `progress` sees totals over all texts (empty ones count as done from the start) and always ends at n/n.
    """
    texts = check_texts(texts)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    keep = [i for i, text in enumerate(texts) if text.strip()]
    skipped, total = len(texts) - len(keep), len(texts)
    report = None if progress is None else (lambda done, _n: progress(skipped + done, total))
    if keep:
        out[keep] = l2_normalise(np.asarray(encode([texts[i] for i in keep], report), dtype=np.float32))
    if progress is not None and not keep and total:
        progress(total, total)
    return out


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to norm 1; all-zero (or non-finite) rows become exact zeros."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    good = np.isfinite(norms) & (norms > 1e-12)
    return np.where(good, matrix / np.where(good, norms, 1.0), 0.0).astype(np.float32)


def length_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Index batches of texts of similar length (longest first) so padding costs little; deterministic."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), max(int(batch_size), 1))]


def text_key(text: str) -> bytes:
    """sha256 of the UTF-8 text: the cache key of one item."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def fingerprint_files(root: Path) -> str:
    """sha256 over relative names and contents of every file under `root` (README, dotfiles skipped)."""
    key = _dir_stamp(root)
    if key in _FINGERPRINTS:
        return _FINGERPRINTS[key]
    digest = hashlib.sha256()
    for path in _model_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


_FINGERPRINTS: dict[tuple, str] = {}


def _model_files(root: Path) -> list[Path]:
    files = [Path(d) / f for d, _, names in os.walk(root, followlinks=True) for f in names]
    files = [p for p in files if p.is_file()]
    skip = lambda p: any(part.startswith(".") for part in p.relative_to(root).parts) or p.name == "README.md"  # noqa: E731
    return sorted((p for p in files if not skip(p)), key=lambda p: str(p.relative_to(root)))


def _dir_stamp(root: Path) -> tuple:
    """(path, names, sizes, mtimes): when unchanged, the memoised fingerprint is reused within the process."""
    files = _model_files(root)
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return (str(Path(root).resolve()), *stamps)
