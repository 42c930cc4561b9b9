"""The cold-start item protocol: relabelling, no leakage of new items into fit, -inf for ID-only models, and text
models that find new items on data where text predicts the next item (lmrec.testing.toy.new_items_data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lmrec.data.split import Holdout, SplitConfig
from lmrec.data.types import Histories, Sequences
from lmrec.errors import ConfigError, DataError
from lmrec.eval.coldstart import KnownItemsOnly, cold_start_data, keep_targets, place_items, run_cold_start
from lmrec.eval.coldstart_report import write_cold_start
from lmrec.eval.evaluate import EvalOptions, evaluate
from lmrec.models.registry import create_model, get_model
from lmrec.testing.toy import new_items_data
from lmrec.text.encoder import EncoderConfig
from lmrec.train.trainer import TrainConfig

SPLIT = SplitConfig(method="global_time", valid_cut=8, cut=20)
TFIDF = EncoderConfig(kind="tfidf", tfidf_dim=64)
TRAIN = TrainConfig(epochs=15, batch_size=64, lr=3e-3, patience=5)
OPTIONS = EvalOptions(ks=(10, 20), n_bootstrap=50)


def make(name: str, **params):
    return create_model(name, params)


def sequence(name: str):
    return make(name, dim=16, layers=1, max_len=10, train=TRAIN, **({} if name == "sasrec" else {"encoder": TFIDF}))


@pytest.fixture(scope="module")
def data():
    return cold_start_data(new_items_data(), SPLIT)


def test_relabelling_puts_known_items_first_and_keeps_every_event(data) -> None:
    ds, split = data.dataset, data.split
    assert (data.n_known, data.n_items) == (32, 40)
    assert set(data.items_raw[: data.n_known]) == set(ds.items.raw[np.unique(split.train.item)])
    assert data.train.n_items == data.n_known and data.train.item.max() < data.n_known
    np.testing.assert_array_equal(data.items_raw[data.train.item], ds.items.raw[split.train.item])
    for new, old in ((data.test.inputs, split.test.inputs), (data.test.targets, split.test.targets)):
        np.testing.assert_array_equal(data.items_raw[new.items], ds.items.raw[old.items])
    assert data.valid is not None and data.valid.targets.items.max() < data.n_known
    assert all("novel" in t for t in data.new_catalog.texts()) and not any("novel" in t for t in
                                                                           data.known_catalog.texts())
    assert data.counts()["test_targets_new"] == data.counts()["test_users"] == 120


def test_keep_targets_drops_users_left_without_targets() -> None:
    holdout = Holdout(np.array([5, 6]), Sequences.from_lists([[0], [1]]), Sequences.from_lists([[7, 2], [3]]))
    kept = keep_targets(holdout, lambda items: items >= 5)
    assert kept.users.tolist() == [5] and kept.targets.items.tolist() == [7] and kept.inputs.items.tolist() == [0]


def test_text_models_find_new_items_and_id_models_score_zero(data, tmp_path: Path) -> None:
    models = {"pop": make("pop"), "sasrec": sequence("sasrec"), "sasrec-text": sequence("sasrec-text"),
              "lm-content": make("lm-content", encoder=TFIDF)}
    report = run_cold_start(data, models, options=OPTIONS)
    by_name = {row.model: row for row in report.models}
    for name in ("pop", "sasrec"):
        new = by_name[name].results["new"]
        assert not by_name[name].scores_new_items
        assert new.metrics["hr@10"] == 0.0 and new.metrics["ndcg@20"] == 0.0 and not new.ranking.hits.any()
    for name in ("sasrec-text", "lm-content"):
        assert by_name[name].scores_new_items
        assert by_name[name].results["new"].metrics["hr@10"] > 0.5, name
    assert by_name["sasrec"].results["known"].metrics["hr@10"] > 0.5  # the ID model still learned the topics

    write_cold_start(report, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["counts"]["new_items"] == 8 and saved["config"]["split"]["cut"] == 20
    assert saved["models"][0]["subsets"]["new"]["hr@10"] == 0.0
    markdown = (tmp_path / "results.md").read_text()
    assert "| lm-content | yes |" in markdown and "| pop | no (-inf) |" in markdown
    assert "versions" in (tmp_path / "config.yaml").read_text()


def test_no_new_item_text_reaches_fit(data, monkeypatch) -> None:
    import lmrec.text.encoder as encoder

    encoded: list[str] = []
    real = encoder.encode_catalog

    def spy(catalog, config=None, **kwargs):
        encoded.extend(catalog.texts(getattr(config, "template", None)))
        return real(catalog, config, **kwargs)

    monkeypatch.setattr(encoder, "encode_catalog", spy)
    seen = {}
    content_cls = get_model("lm-content").cls

    class Spy(content_cls):
        def fit(self, train, *, valid=None, catalog=None, progress=None):
            seen.update(n_items=train.n_items, max_item=int(train.item.max()), catalog=len(catalog))
            return super().fit(train, valid=valid, catalog=catalog, progress=progress)

    report = run_cold_start(data, {"sasrec-fused": sequence("sasrec-fused"), "spy": Spy(Spy.Config(encoder=TFIDF))},
                            options=OPTIONS)
    assert encoded and not any("novel" in text for text in encoded)  # fit only ever encodes known items
    assert seen == {"n_items": 32, "max_item": 31, "catalog": 32}
    assert all(row.results["new"].metrics["hr@10"] > 0 for row in report.models)


class Constant:
    """Scores item j as j over the known items; refuses any history item it was not trained on."""

    def __init__(self, n_known: int) -> None:
        self.n_known = n_known

    def score(self, histories: Histories) -> torch.Tensor:
        assert (histories.seq[histories.mask] < self.n_known).all()
        return torch.arange(self.n_known, dtype=torch.float32).repeat(len(histories), 1)


def test_unplaceable_new_items_never_count_as_hits() -> None:
    n_known, n_items = 3, 6
    scorer = KnownItemsOnly(Constant(n_known), n_known, n_items)
    holdout = Holdout(np.array([0, 1]), Sequences.from_lists([[4, 0], [1]]), Sequences.from_lists([[5], [3, 2]]))
    result = evaluate(scorer, holdout, n_items=n_items, options=EvalOptions(ks=(5,), n_bootstrap=0))
    assert result.metrics["hr@5"] == 0.5  # user 1 finds known item 2; no -inf item is a hit
    assert result.per_user["hr@5"].tolist() == [0.0, 1.0]
    assert (result.ranking.topk_items[:, 2:] == -1).all()  # fewer than 5 finite items: the rest is PAD
    scores = scorer.score(Histories.from_lists([[4, 0]]))
    assert scores.shape == (1, n_items) and torch.isinf(scores[0, n_known:]).all()


def test_lm_content_adds_items_by_text(data, tmp_path: Path) -> None:
    model = make("lm-content", encoder=TFIDF).fit(data.train, catalog=data.known_catalog)
    scorer, placed = place_items(model, data)
    assert placed and scorer is model and model.n_items_ == data.n_items
    scores = model.score(data.test.inputs.histories(np.arange(4)))
    assert scores.shape == (4, data.n_items) and torch.isfinite(scores).all()
    model.save(tmp_path / "model")
    loaded = type(model).load(tmp_path / "model")
    torch.testing.assert_close(loaded.score(data.test.inputs.histories(np.arange(4))), scores)


def test_bad_input_is_one_clear_error() -> None:
    dataset = new_items_data()
    with pytest.raises(DataError, match="no test target is a new item"):
        cold_start_data(dataset, SplitConfig(method="global_time"))  # quantiles 0.8 / 0.9: cut at 21
    with pytest.raises(ConfigError, match="global_time"):
        cold_start_data(dataset, SplitConfig())
    from dataclasses import replace

    bare = cold_start_data(replace(dataset, catalog=None), SPLIT)
    with pytest.raises(DataError, match="needs item text"):
        run_cold_start(bare, {"pop": make("pop"), "sasrec-text": sequence("sasrec-text")})
