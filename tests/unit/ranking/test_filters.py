"""Content rules: which items they remove and why, and one clear line for a bad rules file."""

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.ranking.filters import apply_rules, load_rules, rules_from_dict

TEXTS = ["Stapler, heavy duty", "Assault rifle scope mount", "Gel pens, blue", "A guide to self-harm",
         "Killing time: a puzzle book", "Paper shredder", "Skillet pan"]
GENRES = [frozenset({"office"}), frozenset({"outdoor"}), frozenset({"office"}), frozenset({"books"}),
          frozenset({"books"}), frozenset({"office"}), frozenset({"kitchen"})]


def test_keywords_match_whole_words_in_any_case() -> None:
    found = apply_rules(rules_from_dict({"keywords": ["rifle", "self-harm", "kill"]}), TEXTS)
    assert found.reasons == {1: "keyword:rifle", 3: "keyword:self-harm"}  # "Killing", "Skillet" are not "kill"
    assert found.keep.tolist() == [True, False, True, False, True, True, True]
    assert found.counts() == {"keyword": 2, "total": 2}


def test_patterns_and_categories_and_the_first_rule_named() -> None:
    rules = rules_from_dict({"patterns": [r"\bkill(s|ing)?\b"], "blocked_categories": {"genre": ["outdoor"]}})
    found = apply_rules(rules, TEXTS, lambda name: GENRES)
    assert found.reasons == {1: "category:genre=outdoor", 4: r"pattern:\bkill(s|ing)?\b"}


def test_similar_to_removes_items_close_to_a_description() -> None:
    def encode(texts: list[str]) -> np.ndarray:  # a bag of three words: enough to test the rule's plumbing
        return np.asarray([[("rifle" in t.lower() or "weapon" in t.lower()) + 0.0, "pen" in t.lower(),
                            "paper" in t.lower()] for t in texts], np.float64) + 1e-3

    rules = rules_from_dict({"similar_to": {"descriptions": ["weapons and their parts"], "threshold": 0.9}})
    found = apply_rules(rules, TEXTS, encode=encode)
    assert list(found.reasons) == [1] and found.reasons[1].startswith("similar_to:weapons")


def test_added_items_extend_the_outcome() -> None:
    rules = rules_from_dict({"keywords": ["rifle"]})
    first = apply_rules(rules, TEXTS[:2])
    both = first.extended(apply_rules(rules, ["rifle sling", "pencil"]))
    assert both.keep.tolist() == [True, False, False, True] and set(both.reasons) == {1, 2}
    assert both.audit(["a", "b", "c", "d"])["items"] == {"b": "keyword:rifle", "c": "keyword:rifle"}


@pytest.mark.parametrize("content, message", [
    ("keywords: gun", "'keywords' must be a list of strings"),
    ("patterns: ['(unclosed']", "patterns[0] '(unclosed' is not a regular expression"),
    ("colours: [red]", "unknown field 'colours'"),
    ("similar_to: {descriptions: [x], threshold: 3}", "'similar_to.threshold' must be a number in [-1, 1]"),
    ("similar_to: {descriptions: []}", "needs at least one description"),
    ("- just\n- a list", "expected a mapping of rules"),
    ("keywords: [a\n  b: [", "not YAML or JSON"),
])
def test_bad_rules_files_get_one_line_naming_the_file(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_rules(path)
    assert str(path) in str(raised.value) and message in str(raised.value)
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "missing.yaml")


def test_the_classifier_learns_examples_against_the_catalogue_and_judges_later_items() -> None:
    def encode(texts: list[str]) -> np.ndarray:  # harmful words point one way, everything else the other
        return np.asarray([[1.0, 0.1] if any(w in t.lower() for w in ("blade", "rifle", "knife")) else [0.1, 1.0]
                           for t in texts])

    rules = rules_from_dict({"classifier": {"examples": ["sharp blade", "hunting knife"], "threshold": 0.5}})
    found = apply_rules(rules, TEXTS, encode=encode)
    assert list(found.reasons) == [1] and found.reasons[1].startswith("classifier:")
    later = apply_rules(rules, ["rifle case", "ruler"], encode=encode, classifier=found.classifier)
    assert later.keep.tolist() == [False, True] and later.classifier is found.classifier
    with pytest.raises(ConfigError, match="at least two example texts"):
        rules_from_dict({"classifier": {"examples": ["one"]}})


def _words(texts: list[str]) -> np.ndarray:
    """A bag of four words plus a little of everything, so every cosine is defined."""
    return np.asarray([[w in t.lower() for w in ("knife", "hunting", "paper", "pen")] for t in texts],
                      np.float64) + 0.05


def test_the_neighbour_test_removes_items_nearer_an_example_than_any_harmless_item() -> None:
    catalogue = ["Paper, white", "Gel pens", "Pen and paper set", "Hunting knife, fixed blade"]
    linear_off = {"examples": ["combat knife", "hunting knife"], "threshold": 0.99}  # the linear part keeps all
    plain = apply_rules(rules_from_dict({"classifier": linear_off}), catalogue, encode=_words)
    assert plain.keep.all()
    rules = rules_from_dict({"classifier": {**linear_off, "neighbour_margin": 0.0}})
    found = apply_rules(rules, catalogue, encode=_words)
    # an item is never its own neighbour: with itself counted, every margin would be below 0
    assert found.reasons == {3: "neighbours:hunting knife"} and found.counts() == {"neighbours": 1, "total": 1}
    later = apply_rules(rules, ["Knife", "Pen"], encode=_words, classifier=found.classifier)
    assert later.keep.tolist() == [False, True]


def test_harmful_items_the_linear_model_flags_cannot_vouch_for_each_other() -> None:
    catalogue = ["Paper, white", "Gel pens", "Pen and paper set", "Knife", "Hunting knife"]
    rules = rules_from_dict({"classifier": {"examples": ["combat knife", "hunting knife", "knife", "sharp knife"],
                                            "threshold": 0.6, "strength": 30, "neighbour_margin": 0.5}})
    found = apply_rules(rules, catalogue, encode=_words)
    # "Knife" is flagged by the linear model, so it is not the hunting knife's harmless neighbour (with it, the
    # hunting knife's margin would be about 0.26 and it would stay)
    assert found.reasons[3].startswith("classifier:") and found.reasons[4] == "neighbours:hunting knife"
    assert found.classifier.harmless_positions.tolist() == [0, 1, 2, 4]  # what the linear model keeps


def test_allowed_listings_keep_their_look_alikes() -> None:
    catalogue = ["Paper, white", "Gel pens", "Pen and paper set", "Hunting knife, fixed blade"]
    harmful = {"examples": ["combat knife", "hunting knife"], "threshold": 0.99, "neighbour_margin": 0.01}
    assert not apply_rules(rules_from_dict({"classifier": harmful}), catalogue, encode=_words).keep[3]
    rules = rules_from_dict({"classifier": {**harmful, "allowed": ["hunting knife for game"]}})
    found = apply_rules(rules, catalogue, encode=_words)
    assert found.keep.all()  # the allowed listing is the hunting knife's nearest harmless neighbour
    assert found.classifier.harmless_positions.tolist() == [-1, 0, 1, 2, 3]
    with pytest.raises(ConfigError, match="'classifier.allowed' must be a list of strings"):
        rules_from_dict({"classifier": {**harmful, "allowed": "kitchen knife"}})


@pytest.mark.parametrize("margin", ["wide", True, 3])
def test_a_bad_neighbour_margin_is_one_line(margin) -> None:
    with pytest.raises(ConfigError, match="'classifier.neighbour_margin' must be a number in"):
        rules_from_dict({"classifier": {"examples": ["a", "b"], "neighbour_margin": margin}})
