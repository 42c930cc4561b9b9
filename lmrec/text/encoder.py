"""Item text encoders: pick one from an `EncoderConfig`, encode a catalogue (cached), get `[n_items, dim]`.

    vectors = encode_catalog(dataset.catalog, EncoderConfig(template="{title}. {brand}"))

The protocol and config live in `lmrec.text.base`, the encoders in `sentence.py` and `tfidf.py`, the cache in
`cache.py`; this module is the one entry point and re-exports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.errors import ConfigError
from lmrec.text.base import DEFAULT_MODEL, EncoderConfig, ItemEncoder, Progress, default_cache_dir
from lmrec.text.cache import CachedEncoder
from lmrec.text.loading import resolve_model
from lmrec.text.sentence import SentenceEncoder
from lmrec.text.tfidf import TfidfEncoder

if TYPE_CHECKING:
    from lmrec.data.types import Catalog

__all__ = [
    "DEFAULT_MODEL", "CachedEncoder", "EncoderConfig", "ItemEncoder", "Progress", "SentenceEncoder",
    "TfidfEncoder", "catalogue_encoder", "default_cache_dir", "encode_catalog", "make_encoder", "resolve_model",
]


def make_encoder(config: EncoderConfig | None = None, *, device: Any = None) -> ItemEncoder:
    """The encoder a config describes: a `SentenceEncoder` on `device` behind a `CachedEncoder` (unless
    `cache=False`), or an unfitted `TfidfEncoder` (not cached: fitting is per catalogue and cheaper than a cache
    lookup)."""
    config = config or EncoderConfig()
    if config.kind == "tfidf":
        return TfidfEncoder(config.tfidf_dim, seed=config.seed)
    encoder = SentenceEncoder(config, device=device)
    return CachedEncoder(encoder, config.resolved_cache_dir()) if config.cache else encoder


def catalogue_encoder(config: EncoderConfig, catalog: Catalog | None, *, device: Any = None) -> ItemEncoder:
    """The encoder that made a catalogue's vectors, ready for new texts: a TF-IDF one is refitted on the
    catalogue's texts, which reproduces the vectors it gave them."""
    encoder = make_encoder(config, device=device)
    if isinstance(encoder, TfidfEncoder):
        if catalog is None:
            raise ConfigError("a TF-IDF item encoder needs the trained catalogue to refit on; this run has none")
        encoder.fit(catalog.texts(config.template))
    return encoder


def encode_catalog(catalog: Catalog, config: EncoderConfig | None = None, *, progress: Progress | None = None,
                   device: Any = None) -> np.ndarray:
    """float32 [n_items, dim] item vectors, row i for dense item i, from `catalog.texts(config.template)`.

    A TF-IDF encoder is fitted on these same texts first.
    """
    config = config or EncoderConfig()
    encoder = catalogue_encoder(config, catalog, device=device)
    return encoder.encode(catalog.texts(config.template), batch_size=config.batch_size, progress=progress)
