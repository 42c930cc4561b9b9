"""Why an item was recommended: which history items drove its score, what it shares with them, in one sentence.

    found = explain(model, history, items, catalog=run.catalog)      # one Explanation per recommended item
    found[0].drivers   # [(history item, weight), ...] strongest first
    found[0].shared    # {"genre": ["Drama"], "words": ["noir"]}
    found[0].reason    # "Because you chose Casablanca and The Maltese Falcon; it shares genre Drama."

Attribution: integrated gradients for models that declare `HistoryAttribution` (the sequence models; captum,
the `explain` extra; without it "auto" falls back, and says so in `method`), else leave-one-out for any scorer
(the score drop when that history item is removed). The deletion test in bench/explain.py checks gradient
attributions against what deleting items does; for leave-one-out that test holds by construction, so it is only
reported as the reference.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lmrec.data.types import Catalog, Histories
from lmrec.errors import ConfigError
from lmrec.models.capabilities import HistoryAttribution, Scorer, supports

METHODS = ("auto", "gradients", "leave-one-out")
LOO_WINDOW = 50  # history positions leave-one-out tries (the most recent)
MAX_EXPLAINED = 50  # items of one list that get an explanation (the first ones)
WORD = re.compile(r"[a-z][a-z'-]{2,}")


@dataclass(frozen=True)
class Explanation:
    """One recommended item's explanation; item indices are the model's dense ones."""

    item: int
    drivers: list[tuple[int, float]]  # history items by attribution, strongest first (a repeated item summed)
    method: str  # "gradients" or "leave-one-out"
    shared: dict[str, list[str]] = field(default_factory=dict)  # catalogue field (or "words") -> shared values
    reason: str = ""
    lm_reason: str | None = None  # the small LM's sentence, when asked for and when it kept to the facts

    def to_json(self, item_ids: Any) -> dict[str, Any]:
        out = {"method": self.method, "reason": self.reason, "shared": self.shared,
               "drivers": [{"item_id": str(item_ids[i]), "weight": round(float(w), 6)} for i, w in self.drivers]}
        return {**out, "lm_reason": self.lm_reason} if self.lm_reason is not None else out


def attributions(model: Any, history: np.ndarray, items: np.ndarray, *, user: int = -1, method: str = "auto",
                 steps: int = 16) -> tuple[np.ndarray, str]:
    """([M, n] attribution of each of the n history positions to each item's score, the method used)."""
    if method not in METHODS:
        raise ConfigError(f"explanation method {method!r}: choose one of {', '.join(METHODS)}")
    history = np.asarray(history, np.int64)
    items = np.asarray(items, np.int64)
    if not len(history):
        return np.zeros((len(items), 0)), "none"
    queries = Histories.from_lists([history.tolist()])
    if user >= 0:
        queries = Histories(queries.seq, queries.lengths, users=np.asarray([user], np.int64))
    use_gradients = method == "gradients" or (method == "auto" and supports(model, HistoryAttribution)
                                              and _has_captum())
    if use_gradients:
        if not supports(model, HistoryAttribution):
            raise ConfigError(f"{model.name} has no gradient attribution; use leave-one-out")
        return model.attribute_history(queries, items[None, :], steps=steps)[0, :, : len(history)], "gradients"
    return leave_one_out(model, history, items, user=user), "leave-one-out"


def leave_one_out(model: Any, history: np.ndarray, items: np.ndarray, *, user: int = -1,
                  window: int = LOO_WINDOW) -> np.ndarray:
    """[M, n] score(item | history) - score(item | history without position j), for any scorer; only the last
    `window` positions are tried (one scoring row each: a long history must not cost thousands), older ones get 0."""
    if not supports(model, Scorer):
        raise ConfigError(f"{model.name} returns lists, not scores: its recommendations cannot be attributed")
    tried = range(max(0, len(history) - window), len(history))
    variants = [history.tolist()] + [np.delete(history, j).tolist() for j in tried]
    queries = Histories.from_lists(variants)
    if user >= 0:
        queries = Histories(queries.seq, queries.lengths, users=np.full(len(variants), user, np.int64))
    with torch.inference_mode():
        scores = model.score(queries)[:, torch.as_tensor(items)].float().cpu().numpy()  # [1 + tried, M]
    out = np.zeros((len(items), len(history)))
    out[:, tried.start:] = (scores[0][None, :] - scores[1:]).T
    return out


def explain(model: Any, history: np.ndarray, items: np.ndarray, *, catalog: Catalog | None = None, user: int = -1,
            method: str = "auto", top: int = 3, steps: int = 16, lm: Any = None, lm_items: int = 1
            ) -> list[Explanation]:
    """An Explanation for each of `items` recommended after `history` (dense indices, oldest first; at most
    MAX_EXPLAINED items); with `lm` (lmrec.text.generate.SmallLM) the first `lm_items` also get the LM's sentence
    where it passes `grounded`."""
    if len(items) > MAX_EXPLAINED:
        raise ConfigError(f"explanations are given for at most {MAX_EXPLAINED} items at once, not {len(items)}")
    weights, used = attributions(model, history, items, user=user, method=method, steps=steps)
    history = np.asarray(history, np.int64)
    texts, names = _catalogue_texts(catalog) if catalog is not None else (None, None)
    out = []
    for m, item in enumerate(np.asarray(items, np.int64).tolist()):
        drivers = _drivers(history, weights[m], top)
        described = [i for i, _ in drivers if catalog is not None and i < len(catalog)]  # items added later
        shared = (shared_features(catalog, texts, item, described)
                  if catalog is not None and item < len(catalog) else {})
        sentence = None
        if lm is not None and m < lm_items and drivers:
            sentence = lm_reason(lm, _name(names, item), [_name(names, d) for d, _ in drivers], shared)
        out.append(Explanation(item, drivers, used, shared, reason_text(drivers, shared, names), sentence))
    return out


LM_SYSTEM = "You explain a recommendation in one short sentence, using only the facts given."
# words a faithful sentence may use beyond the facts themselves
LM_ALLOWED = frozenset("""because chose choose chosen picked recommended recommend recommendation like liked likes
enjoy enjoyed similar share shares shared common both also might may item items movie movies film films product
products category categories genre genres words word same kind style you your user""".split())


def lm_reason(lm: Any, item: str, drivers: list[str], shared: dict[str, list[str]]) -> str | None:
    """One sentence from the small LM about why `item` follows `drivers`; None unless it passes `grounded`."""
    sentence, facts = lm_sentence(lm, item, drivers, shared)
    return sentence if grounded(sentence, facts) else None


def lm_sentence(lm: Any, item: str, drivers: list[str], shared: dict[str, list[str]]) -> tuple[str, str]:
    """(the LM's sentence, the facts it was given): started as "Because you chose <first driver>", given only the
    item, the drivers and the shared values, cut at the end of its first sentence."""
    common = "; ".join(f"{name} {', '.join(values)}" for name, values in shared.items()) or "nothing named"
    facts = f"Recommended: {item}. The user chose: {'; '.join(drivers)}. In common: {common}."
    prefix = f"Because you chose {drivers[0]}"
    rest = lm.generate(facts + " Why is it recommended?", system=LM_SYSTEM, prefix=prefix, max_new_tokens=30)
    rest = rest.split("\n")[0].rstrip()
    end = rest.find(". ")  # the end of the first sentence after the prefix ("Mr. Wrong" is in the prefix)
    return (prefix + (rest[: end + 1] if end >= 0 else rest)).strip(), facts


def grounded(sentence: str, facts: str) -> bool:
    """Every content word and number of `sentence` is in `facts` or in a small list of connecting words: a check
    that rejects what a 135M model adds on its own (a franchise, a genre the items do not share), not a proof."""
    known = set(WORD.findall(facts.lower())) | set(re.findall(r"\d+", facts))
    used = set(WORD.findall(sentence.lower())) - _stop_words() - LM_ALLOWED
    numbers = set(re.findall(r"\d+", sentence))
    return bool(sentence) and used <= known and numbers <= known


def _name(names: list[str] | None, item: int) -> str:
    return short_name(names[item]) if names is not None and item < len(names) else f"item {item}"


@functools.lru_cache(maxsize=4)
def _catalogue_texts(catalog: Catalog) -> tuple[list[str], list[str]]:
    """(texts, names) of a catalogue, computed once per catalogue object (a served request reuses them)."""
    return catalog.texts(), item_names(catalog)


@functools.lru_cache(maxsize=16)
def _category_sets(catalog: Catalog, name: str) -> list[frozenset[str]]:
    return catalog.category_sets(name)


def item_names(catalog: Catalog | None) -> list[str] | None:
    """What a sentence calls each item: the catalogue's title (or name) field, else its text."""
    if catalog is None:
        return None
    for column in ("title", "name", "movie_title"):
        if column in catalog.frame.columns:
            return catalog.frame[column].fillna("").astype(str).tolist()
    return catalog.texts()


def _has_captum() -> bool:
    import importlib.util

    return importlib.util.find_spec("captum") is not None


def _drivers(history: np.ndarray, weights: np.ndarray, top: int) -> list[tuple[int, float]]:
    """History items by summed attribution, the positive ones first (at most `top`; the strongest one when none
    is positive)."""
    totals: dict[int, float] = {}
    for item, weight in zip(history.tolist(), weights.tolist(), strict=True):
        totals[item] = totals.get(item, 0.0) + float(weight)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    positive = [kv for kv in ranked if kv[1] > 0][:top]
    return positive or ranked[:1]


def shared_features(catalog: Catalog, texts: list[str] | None, item: int, drivers: list[int]) -> dict[str, list[str]]:
    """Values of each categorical field, and content words of the text, that `item` shares with the drivers."""
    shared: dict[str, list[str]] = {}
    for name in catalog.categorical:
        sets = _category_sets(catalog, name)
        common = sorted(set(sets[item]) & set().union(*(sets[d] for d in drivers))) if drivers else []
        if common:
            shared[name] = common[:5]
    if texts is not None and drivers:
        theirs = set().union(*(_words(texts[d]) for d in drivers))
        named = {v.lower() for values in shared.values() for v in values}  # a shared genre is not a shared word
        words = [w for w in dict.fromkeys(WORD.findall(texts[item].lower()))
                 if w in theirs and w not in _stop_words() and w not in named]
        if words:
            shared["words"] = words[:5]
    return shared


def reason_text(drivers: list[tuple[int, float]], shared: dict[str, list[str]], names: list[str] | None) -> str:
    """A sentence built from the attribution and the shared features alone, so it says nothing they do not."""
    if not drivers:
        return "Recommended to everyone at first: there is no history to go on."
    names = [short_name(names[i]) if names is not None and i < len(names) else f"item {i}" for i, _ in drivers]
    chosen = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    parts = [f"{name} {', '.join(values)}" for name, values in shared.items() if name != "words"]
    if "words" in shared:
        parts.append("the words " + ", ".join(shared["words"]))
    return f"Because you chose {chosen}" + (f"; it shares {'; '.join(parts)}." if parts else ".")


def short_name(text: str, limit: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _words(text: str) -> set[str]:
    return set(WORD.findall(str(text).lower())) - _stop_words()


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    """sklearn's English stop words, imported on the first explanation (not when the service starts)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)

