"""Harmful-content filtering: a deployment's rules decide which items may never be recommended; the pipeline
removes them before ranking leaves it (as a standing exclusion, so no re-ranking stage can bring them back), and
an audit says which rule removed how many items.

A rules file (YAML or JSON):

    blocked_categories: {genre: [Horror]}        # catalogue field -> values
    keywords: [firearm, "self-harm"]              # whole words or phrases in the item text, any case
    patterns: ['\\bkill(s|ing)?\\b']                # regular expressions over the item text, any case
    similar_to:                                   # items whose text means what a description says
      descriptions: ["instructions for building weapons"]
      threshold: 0.6                              # cosine similarity of the text vectors
      encoder: {kind: sentence}                   # optional: lmrec.text.EncoderConfig fields
    classifier:                                   # a linear classifier on the text vectors: example listings
      examples: ["combat knife with sheath", ...] # of harmful content against the catalogue's own items
      threshold: 0.5                              # probability of "harmful" at which an item is removed
      strength: 0.3                               # inverse L2 strength (C); smaller generalises more
      neighbour_margin: -0.15                     # optional nearest-neighbour test beside it: also remove an item
                                                  # whose nearest example is at most this much less similar
                                                  # (cosine) than its nearest harmless catalogue item
      allowed: ["chef's knife, 8 inch", ...]      # optional: harmless listings that resemble the examples; the
                                                  # classifier learns them as harmless (each weighing as much as
                                                  # an example) and the neighbour test counts them as harmless

    rules = load_rules("rules.yaml")
    found = apply_rules(rules, texts, category_sets, encode)   # ContentFilter: keep [N], reasons, counts
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import ConfigError
from lmrec.ranking.candidates import Exclusions

MAX_RULES = 10_000
MAX_PATTERN = 500


@dataclass(frozen=True)
class SimilarityRule:
    descriptions: tuple[str, ...]
    threshold: float = 0.6
    encoder: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassifierRule:
    examples: tuple[str, ...]
    threshold: float = 0.5
    strength: float = 0.3
    encoder: dict[str, Any] = field(default_factory=dict)
    neighbour_margin: float | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class FittedClassifier:
    """The classifier rule fitted on one catalogue: the linear model, and for the nearest-neighbour test the
    unit-length vectors of the examples and of what counts as harmless (`harmless`: the rule's allowed listings,
    at negative positions, and the catalogue items the linear model keeps, at their catalogue positions), so
    items added later are judged against the same catalogue."""

    model: Any
    examples: np.ndarray
    harmless: np.ndarray
    harmless_positions: np.ndarray

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        """[N] probability that each text vector is harmful, by the linear model."""
        return self.model.predict_proba(np.asarray(vectors, np.float64))[:, 1]

    def margins(self, vectors: np.ndarray, positions: np.ndarray | None = None, chunk: int = 4096
                ) -> tuple[np.ndarray, np.ndarray]:
        """([N] cosine to the nearest example minus cosine to the nearest harmless catalogue item, [N] index of
        that example). `positions[i]` is item i's own catalogue position (its own vector is never its
        neighbour); None for items outside the catalogue."""
        unit = _unit(vectors)
        to_examples = unit @ self.examples.T
        nearest = np.full(len(unit), -np.inf)
        for start in range(0, len(unit), chunk):
            sims = unit[start : start + chunk] @ self.harmless.T  # [c, H]
            if positions is not None and len(self.harmless_positions):  # harmless_positions is sorted
                own = positions[start : start + chunk]
                cols = np.minimum(np.searchsorted(self.harmless_positions, own), len(self.harmless_positions) - 1)
                rows = np.flatnonzero(self.harmless_positions[cols] == own)
                sims[rows, cols[rows]] = -np.inf
            if sims.shape[1]:
                nearest[start : start + chunk] = sims.max(axis=1)
        return to_examples.max(axis=1) - nearest, to_examples.argmax(axis=1)


@dataclass(frozen=True)
class FilterRules:
    """What a deployment refuses to recommend; `source` names the file for error lines and the audit."""

    blocked_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    similar_to: SimilarityRule | None = None
    classifier: ClassifierRule | None = None
    source: str = "rules"
    keyword_regex: re.Pattern[str] | None = field(init=False, default=None, repr=False, compare=False)
    compiled: tuple[re.Pattern[str], ...] = field(init=False, default=(), repr=False, compare=False)

    @property
    def encoder(self) -> dict[str, Any]:
        """The text encoder settings of the semantic rules (similar_to's, else the classifier's)."""
        rule = self.similar_to or self.classifier
        return dict(rule.encoder) if rule is not None else {}

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyword_regex", _keyword_regex(self.keywords))
        compiled = []
        for n, pattern in enumerate(self.patterns):
            if len(pattern) > MAX_PATTERN:
                raise ConfigError(f"{self.source}: patterns[{n}] is longer than {MAX_PATTERN} characters")
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise ConfigError(f"{self.source}: patterns[{n}] {pattern!r} is not a regular expression ({exc})"
                                  ) from None
        object.__setattr__(self, "compiled", tuple(compiled))

    def text_rule(self, text: str) -> str | None:
        """The first keyword or pattern rule `text` breaks, named for the audit (None: it passes)."""
        if self.keyword_regex is not None:
            found = self.keyword_regex.search(text)
            if found:
                return f"keyword:{found.group(0).lower()}"
        for pattern in self.compiled:
            if pattern.search(text):
                return f"pattern:{pattern.pattern}"
        return None


@dataclass(frozen=True, eq=False)
class ContentFilter:
    """The outcome for a catalogue: `keep [N]` and, per removed item index, the rule that removed it."""

    keep: np.ndarray
    reasons: dict[int, str]
    source: str = "rules"
    classifier: FittedClassifier | None = None  # the classifier rule fitted here, kept to judge later items

    @property
    def exclusions(self) -> Exclusions:
        return Exclusions(keep=self.keep) if len(self.reasons) else Exclusions()

    def counts(self) -> dict[str, int]:
        """Removed items per rule kind (category, keyword, pattern, similar_to) and in total."""
        out: dict[str, int] = {}
        for reason in self.reasons.values():
            kind = reason.split(":", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return {**dict(sorted(out.items())), "total": len(self.reasons)}

    def audit(self, item_ids: Sequence[str]) -> dict[str, Any]:
        """What `metrics.json` and the service's audit record: the rules file, counts, each removed item's rule."""
        return {"rules": self.source, "removed": self.counts(),
                "items": {str(item_ids[i]): reason for i, reason in sorted(self.reasons.items())}}

    def extended(self, more: ContentFilter) -> ContentFilter:
        """This filter followed by `more`, the outcome for items appended after these."""
        offset = len(self.keep)
        reasons = {**self.reasons, **{offset + i: r for i, r in more.reasons.items()}}
        return ContentFilter(np.concatenate([self.keep, more.keep]), reasons, self.source, self.classifier)


def load_rules(path: str | Path) -> FilterRules:
    """Rules from a YAML or JSON file; ConfigError naming the file and the field that is wrong."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: filter rules file not found")
    if path.stat().st_size > 10_000_000:
        raise ConfigError(f"{path}: filter rules file is larger than 10 MB")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not YAML or JSON ({type(exc).__name__})") from None
    return rules_from_dict(tree or {}, source=str(path))


def rules_from_dict(tree: Any, *, source: str = "rules") -> FilterRules:
    if not isinstance(tree, dict):
        raise ConfigError(f"{source}: expected a mapping of rules, got {type(tree).__name__}")
    known = {"blocked_categories", "keywords", "patterns", "similar_to", "classifier"}
    unknown = sorted(set(tree) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}; fields: {sorted(known)}")
    categories = tree.get("blocked_categories") or {}
    if not isinstance(categories, dict):
        raise ConfigError(f"{source}: field 'blocked_categories' must map a catalogue field to a list of values")
    blocked = {str(k): _strings(v, f"blocked_categories.{k}", source) for k, v in categories.items()}
    similar = tree.get("similar_to")
    rule = None
    if similar is not None:
        if not isinstance(similar, dict) or set(similar) - {"descriptions", "threshold", "encoder"}:
            raise ConfigError(f"{source}: field 'similar_to' takes descriptions, threshold and encoder")
        threshold = similar.get("threshold", 0.6)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not -1 <= threshold <= 1:
            raise ConfigError(f"{source}: field 'similar_to.threshold' must be a number in [-1, 1]")
        encoder = similar.get("encoder") or {}
        if not isinstance(encoder, dict):
            raise ConfigError(f"{source}: field 'similar_to.encoder' must be a mapping of encoder settings")
        descriptions = _strings(similar.get("descriptions"), "similar_to.descriptions", source)
        if not descriptions:
            raise ConfigError(f"{source}: field 'similar_to.descriptions' needs at least one description")
        rule = SimilarityRule(descriptions, float(threshold), dict(encoder))
    return FilterRules(blocked, _strings(tree.get("keywords"), "keywords", source),
                       _strings(tree.get("patterns"), "patterns", source), rule,
                       _classifier_rule(tree.get("classifier"), source), source)


def _classifier_rule(tree: Any, source: str) -> ClassifierRule | None:
    if tree is None:
        return None
    known = {"examples", "threshold", "strength", "encoder", "neighbour_margin", "allowed"}
    if not isinstance(tree, dict) or set(tree) - known:
        raise ConfigError(f"{source}: field 'classifier' takes examples, threshold, strength, encoder, "
                          "neighbour_margin and allowed")
    examples = _strings(tree.get("examples"), "classifier.examples", source)
    if len(examples) < 2:
        raise ConfigError(f"{source}: field 'classifier.examples' needs at least two example texts")
    threshold, strength = tree.get("threshold", 0.5), tree.get("strength", 0.3)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise ConfigError(f"{source}: field 'classifier.threshold' must be a probability in (0, 1)")
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not strength > 0:
        raise ConfigError(f"{source}: field 'classifier.strength' must be a number > 0")
    encoder = tree.get("encoder") or {}
    if not isinstance(encoder, dict):
        raise ConfigError(f"{source}: field 'classifier.encoder' must be a mapping of encoder settings")
    margin = tree.get("neighbour_margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int | float)
                               or not -2 <= margin <= 2):
        raise ConfigError(f"{source}: field 'classifier.neighbour_margin' must be a number in [-2, 2]")
    return ClassifierRule(examples, float(threshold), float(strength), dict(encoder),
                          None if margin is None else float(margin),
                          _strings(tree.get("allowed"), "classifier.allowed", source))


def apply_rules(rules: FilterRules, texts: Sequence[str],
                category_sets: Callable[[str], list[frozenset[str]]] | None = None,
                encode: Callable[[list[str]], np.ndarray] | None = None,
                classifier: FittedClassifier | None = None) -> ContentFilter:
    """Which of the items (`texts[i]` is item i's text) the rules remove, and why. `category_sets(field)` gives
    each item's values of a field (needed by blocked_categories), `encode(texts)` text vectors (similar_to,
    classifier). The classifier rule is fitted on these items unless a `classifier` fitted before is given (items
    added to a served catalogue are judged by the model the catalogue trained)."""
    n = len(texts)
    reasons: dict[int, str] = {}
    for name, values in rules.blocked_categories.items():
        if category_sets is None:
            raise ConfigError(f"{rules.source}: blocked_categories needs a catalogue with field {name!r}")
        blocked = set(values)
        for i, cats in enumerate(category_sets(name)[:n]):
            hit = sorted(cats & blocked)
            if hit and i not in reasons:
                reasons[i] = f"category:{name}={hit[0]}"
    for i, text in enumerate(texts):
        if i not in reasons:
            broken = rules.text_rule(str(text))
            if broken:
                reasons[i] = broken
    if rules.similar_to is not None and n:
        if encode is None:
            raise ConfigError(f"{rules.source}: similar_to needs a text encoder")
        similarity = _cosine(encode(list(texts)), encode(list(rules.similar_to.descriptions)))  # [N, D]
        best = similarity.argmax(axis=1)
        for i in np.flatnonzero(similarity.max(axis=1) >= rules.similar_to.threshold):
            reasons.setdefault(int(i), f"similar_to:{rules.similar_to.descriptions[best[i]][:60]}")
    if rules.classifier is not None and n:
        if encode is None:
            raise ConfigError(f"{rules.source}: classifier needs a text encoder")
        vectors = encode(list(texts))
        positions = None
        if classifier is None:  # fitted on these items: each is its own catalogue position
            rule = rules.classifier
            allowed = encode(list(rule.allowed)) if rule.allowed else None
            classifier = fit_classifier(rule, encode(list(rule.examples)), vectors, allowed)
            positions = np.arange(n)
        harmful = classifier.probability(vectors)
        for i in np.flatnonzero(harmful >= rules.classifier.threshold):
            reasons.setdefault(int(i), f"classifier:{harmful[i]:.2f}")
        if rules.classifier.neighbour_margin is not None:
            margins, nearest = classifier.margins(vectors, positions)
            for i in np.flatnonzero(margins >= rules.classifier.neighbour_margin):
                reasons.setdefault(int(i), f"neighbours:{rules.classifier.examples[nearest[i]][:60]}")
    keep = np.ones(n, bool)
    keep[list(reasons)] = False
    return ContentFilter(keep, reasons, rules.source, classifier)


def fit_classifier(rule: ClassifierRule, examples: np.ndarray, items: np.ndarray,
                   allowed: np.ndarray | None = None) -> FittedClassifier:
    """Logistic regression of "harmful" on text vectors: the examples against the catalogue's items, which are
    taken as harmless (a few harmful ones among thousands barely move it), classes weighted to balance; the
    `allowed` listings (harmless look-alikes of the examples) are harmless too, each weighing as much as one
    example. The nearest-neighbour test compares each item with the allowed listings and the items this model
    keeps, so a cluster of harmful items (a seller's variants of one listing) cannot vouch for each other."""
    from sklearn.linear_model import LogisticRegression

    allowed = np.zeros((0, items.shape[1]), items.dtype) if allowed is None else np.asarray(allowed)
    features = np.vstack([examples, allowed, items]).astype(np.float64)
    labels = np.r_[np.ones(len(examples)), np.zeros(len(allowed) + len(items))]
    total = len(features)
    example_weight = total / (2 * len(examples))  # the balanced weights, with the allowed listings as examples
    weights = np.r_[np.full(len(examples) + len(allowed), example_weight),
                    np.full(len(items), total / (2 * max(len(items), 1)))]
    model = LogisticRegression(C=rule.strength, max_iter=1000).fit(features, labels, sample_weight=weights)
    fitted = FittedClassifier(model, _unit(examples), np.zeros((0, items.shape[1]), np.float32),
                              np.zeros(0, np.int64))
    if rule.neighbour_margin is None:
        return fitted
    kept = np.flatnonzero(fitted.probability(items) < rule.threshold)
    positions = np.r_[np.arange(-len(allowed), 0), kept]  # allowed listings: negative, never an item's own
    return FittedClassifier(model, fitted.examples, _unit(np.vstack([allowed, items[kept]])), positions)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _unit(a) @ _unit(b).T


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _keyword_regex(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One regex for all keywords: whole words or phrases (inner spaces match any whitespace), any case."""
    words = [k.strip() for k in keywords if k.strip()]
    if not words:
        return None
    parts = sorted((r"\s+".join(re.escape(w) for w in k.split()) for k in words), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _strings(value: Any, name: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{source}: field {name!r} must be a list of strings")
    if len(value) > MAX_RULES:
        raise ConfigError(f"{source}: field {name!r} has more than {MAX_RULES} entries")
    return tuple(str(v) for v in value)
