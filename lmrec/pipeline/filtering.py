"""A deployment's content filter (lmrec.ranking.filters) applied to a run's catalogue: the text each item is known
by, its categories, and an encoder for the `similar_to` rule; shared by `lmrec evaluate --filter` and the
service, so an item removed offline is removed when served."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmrec.config import from_dict
from lmrec.data.types import Catalog, category_values
from lmrec.errors import ConfigError
from lmrec.ranking.filters import ContentFilter, FilterRules, apply_rules
from lmrec.text.base import EncoderConfig


def catalogue_filter(rules: FilterRules, catalog: Catalog | None, n_items: int) -> ContentFilter:
    """The filter's outcome for a run's `n_items` items (a run without a catalogue has no text: only rules that
    need none can remove anything, and rules that need a catalogue are refused)."""
    if catalog is None or len(catalog) != n_items:
        if rules.blocked_categories or rules.keywords or rules.patterns or rules.similar_to or rules.classifier:
            raise ConfigError(f"{rules.source}: content filters read item text and categories; this run has no "
                              "catalogue of its items")
        return ContentFilter(np.ones(n_items, bool), {}, rules.source)
    texts = catalog.texts()
    return apply_rules(rules, texts, _category_sets(catalog), text_encoder(rules, catalog))


def text_encoder(rules: FilterRules, catalog: Catalog | None) -> Callable[[list[str]], np.ndarray] | None:
    """`encode(texts)` for the semantic rules (similar_to, classifier), built on first use; None without them."""
    if rules.similar_to is None and rules.classifier is None:
        return None
    from lmrec.text.encoder import catalogue_encoder

    config = from_dict(EncoderConfig, rules.encoder, where="encoder.")
    built: list = []

    def encode(texts: list[str]) -> np.ndarray:
        if not built:
            built.append(catalogue_encoder(config, catalog))
        return np.asarray(built[0].encode(texts), np.float32)

    return encode


def _category_sets(catalog: Catalog) -> Callable[[str], list[frozenset[str]]]:
    def sets(name: str) -> list[frozenset[str]]:
        if name not in catalog.frame.columns or name == "item_id":
            raise ConfigError(f"blocked_categories: the catalogue has no field {name!r}; fields: "
                              f"{[c for c in catalog.frame.columns if c != 'item_id']}")
        return catalog.category_sets(name)

    return sets


def added_items_filter(rules: FilterRules, catalog: Catalog | None, texts: Sequence[str],
                       attributes: Sequence[dict], classifier=None) -> ContentFilter:
    """The outcome for items added to a served catalogue (their texts and attributes as posted), judged by the
    classifier the catalogue fitted."""
    def sets(name: str) -> list[frozenset[str]]:
        return [category_values(a.get(name)) for a in attributes]

    return apply_rules(rules, list(texts), sets, text_encoder(rules, catalog), classifier)

