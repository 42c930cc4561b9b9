"""`TfidfEncoder`: the dependency-light fallback (scikit-learn only), TF-IDF word 1-2 grams reduced by SVD.

It must be fitted on the catalogue texts first. `encode` afterwards uses the fitted vocabulary and SVD basis,
so a new text is described only by words the catalogue contained; a text with no known word gets the zero
vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from lmrec.errors import ConfigError, NotFittedError
from lmrec.text.base import Progress, check_texts, encode_nonempty


class TfidfEncoder:
    """TF-IDF (sublinear tf, word 1-2 grams) -> TruncatedSVD to `dim` -> L2 norm; deterministic for a `seed`.

    Output width is always `dim`: when the catalogue has fewer distinct terms (or items) than `dim`, the
    unused columns are zero. Learned state ends in `_`, as in scikit-learn.
    """

    def __init__(self, dim: int = 256, *, seed: int = 0, max_features: int = 200_000) -> None:
        if int(dim) < 1:
            raise ConfigError(f"TfidfEncoder dim={dim!r} must be a positive integer")
        self._dim, self.seed, self.max_features = int(dim), int(seed), int(max_features)
        self.vectorizer_: Any = None
        self.svd_: Any = None
        self.corpus_sha256_: str | None = None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def name(self) -> str:
        """Includes the fitted corpus hash, so vectors of different fits never share a cache entry."""
        fitted = self.corpus_sha256_[:16] if self.corpus_sha256_ else "unfitted"
        return f"tfidf/dim{self._dim}/seed{self.seed}@{fitted}"

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        """Learn the vocabulary, IDF weights and SVD basis from the catalogue texts; returns self."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = check_texts(texts)
        if not any(t.strip() for t in texts):
            raise ConfigError("TfidfEncoder.fit needs at least one non-empty text")
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode",
                                     max_features=self.max_features, dtype=np.float32)
        try:
            matrix = vectorizer.fit_transform(texts)  # [n, V] sparse
        except ValueError as exc:  # e.g. only stop-word-free punctuation: empty vocabulary
            raise ConfigError(f"TfidfEncoder.fit found no usable terms: {exc}") from None
        components = min(self._dim, matrix.shape[0], matrix.shape[1] - 1)
        svd = None
        if matrix.shape[1] > self._dim and components >= 1:
            svd = TruncatedSVD(n_components=components, algorithm="randomized", n_iter=7,
                               random_state=self.seed).fit(matrix)
        self.vectorizer_, self.svd_ = vectorizer, svd
        digest = hashlib.sha256()
        for text in texts:
            digest.update(text.encode("utf-8") + b"\0")
        digest.update(f"{self._dim}/{self.seed}/{self.max_features}".encode())
        self.corpus_sha256_ = digest.hexdigest()
        return self

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
               ) -> np.ndarray:
        """float32 [n, dim] in the fitted space; rows L2-normalised, zero where no fitted term occurs."""
        if self.vectorizer_ is None:
            raise NotFittedError("TfidfEncoder.encode before fit(catalogue texts)")
        return encode_nonempty(texts, self._dim, self._project, progress)

    def _project(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        matrix = self.vectorizer_.transform(texts)  # [n, V] sparse
        reduced = self.svd_.transform(matrix) if self.svd_ is not None else matrix.toarray()
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        out[:, : reduced.shape[1]] = reduced
        if progress is not None:
            progress(len(texts), len(texts))
        return out
