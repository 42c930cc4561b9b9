"""The one way new items join a fitted model: their texts through the model's own new-item encoder (the
fine-tuned LM when transfer tuned one, the configured encoder otherwise), then `add_items`. The service's
POST /items and the cold-start protocol both call this, so an item gets the same vector either way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.data.types import Catalog
from lmrec.errors import ConfigError
from lmrec.models.capabilities import GrowableCatalogue, supports
from lmrec.text.base import ItemEncoder


def new_item_encoder(model: object, catalog: Catalog | None) -> ItemEncoder:
    """The encoder that places new items in `model` (ConfigError when the model cannot grow)."""
    if not supports(model, GrowableCatalogue):
        raise ConfigError(f"model {getattr(model, 'name', type(model).__name__)!r} cannot place an item it never "
                          "saw (ID-only); use a text or fused model (e.g. sasrec-text, sasrec-fused, lm-content)")
    return model.new_item_encoder(catalog)  # type: ignore[attr-defined]


def encode_new_items(encoder: ItemEncoder, texts: Sequence[str]) -> np.ndarray:
    """[n, T] vectors of new item texts, exactly as `place_new_items` adds them."""
    return np.asarray(encoder.encode(list(texts)), dtype=np.float32)


def place_new_items(model: object, texts: Sequence[str], *, encoder: ItemEncoder | None = None,
                    catalog: Catalog | None = None) -> np.ndarray:
    """Add items known only by their texts to `model` (in place); returns their dense indices. Pass the
    `encoder` from `new_item_encoder` to reuse it across calls, else it is built from `catalog`."""
    encoder = encoder if encoder is not None else new_item_encoder(model, catalog)
    return model.add_items(encode_new_items(encoder, texts))  # type: ignore[attr-defined]
