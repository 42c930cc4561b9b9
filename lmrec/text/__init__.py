"""Item text -> semantic vectors: the `ItemEncoder` protocol, sentence / TF-IDF encoders, a disk cache."""

from lmrec.text.encoder import (
    DEFAULT_MODEL,
    CachedEncoder,
    EncoderConfig,
    ItemEncoder,
    Progress,
    SentenceEncoder,
    TfidfEncoder,
    default_cache_dir,
    encode_catalog,
    make_encoder,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL", "CachedEncoder", "EncoderConfig", "ItemEncoder", "Progress", "SentenceEncoder",
    "TfidfEncoder", "default_cache_dir", "encode_catalog", "make_encoder", "resolve_model",
]
