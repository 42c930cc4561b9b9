"""dcn: the ranking model, trained with hard negatives drawn from a saved retriever's top items."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.models.dcn import click_samples, retriever_pools
from lmrec.models.registry import get_model
from lmrec.testing.toy import block_data


def test_hard_negatives_come_from_the_retrievers_top_items(tmp_path) -> None:
    toy = block_data()
    retriever = get_model("ease").create({"reg_weight": 10.0}).fit(toy.split.train)
    retriever.save(tmp_path / "retriever")
    histories, owner, _ = click_samples(toy.split.train, 8)
    pools = retriever_pools(str(tmp_path / "retriever"), histories, toy.dataset.n_items, 5)
    assert pools.shape == (len(histories), 5)
    # EASE ranks the history's own block first: hard negatives are same-block items the user has not touched
    assert (toy.item_block[pools] == toy.query_block[owner][:, None]).mean() > 0.9
    for row, history in zip(pools[:20], histories[:20], strict=True):
        assert not set(row) & set(history[history >= 0])
    tiny = get_model("dcn").tiny
    model = get_model("dcn").create({**tiny, "hard_negatives_from": str(tmp_path / "retriever")})
    model.fit(toy.split.train, valid=toy.split.valid, catalog=toy.dataset.catalog)
    assert model.score_candidates(toy.queries, np.tile(np.arange(4), (len(toy.queries), 1))).shape == (40, 4)


def test_a_retriever_of_another_catalogue_is_refused(tmp_path) -> None:
    toy = block_data()
    get_model("pop").create().fit(block_data(n_blocks=3).split.train).save(tmp_path / "other")
    histories, _, _ = click_samples(toy.split.train, 8)
    with pytest.raises(ConfigError, match="the retriever scores 36 items, the data has 24"):
        retriever_pools(str(tmp_path / "other"), histories, toy.dataset.n_items, 5)
