"""The ranking pipeline: without stages it is exactly `model.recommend`; exclusions remove items for exact and
list retrieval alike; a top-k-only ranker is over-fetched so exclusions never shorten its lists."""

import numpy as np
import torch

from lmrec.data.types import Histories
from lmrec.models.base import TopK
from lmrec.models.capabilities import Scorer, TopKRanker, supports
from lmrec.ranking import Exclusions, RankingPipeline, ScoreRetriever, TopKRetriever
from lmrec.testing.toy import block_data


class Fixed:
    """Scores item j as j (the last item is best) for every history."""

    n_items = 8

    def score(self, histories: Histories) -> torch.Tensor:
        return torch.arange(self.n_items, dtype=torch.float32).repeat(len(histories), 1)


class ListsOnly:
    """A top-k-only ranker over Fixed's order (no score method)."""

    def recommend(self, histories: Histories, k: int, *, exclude_seen: bool = True) -> TopK:
        top = RankingPipeline(ScoreRetriever(Fixed())).rank(histories, k, exclude_seen=exclude_seen)
        return top


HISTORIES = Histories.from_lists([[7], [6, 5]])


def test_retriever_follows_the_declared_capability() -> None:
    assert supports(Fixed(), Scorer) and not supports(ListsOnly(), Scorer) and supports(ListsOnly(), TopKRanker)
    assert isinstance(RankingPipeline.for_model(Fixed()).retriever, ScoreRetriever)
    assert isinstance(RankingPipeline.for_model(ListsOnly()).retriever, TopKRetriever)


def test_exact_and_list_retrieval_agree_with_masking_and_exclusions() -> None:
    exclusions = Exclusions(keep=np.array([True] * 7 + [True]), blocked=np.array([4]))
    for model in (Fixed(), ListsOnly()):
        top = RankingPipeline.for_model(model).rank(HISTORIES, 3, exclusions=exclusions)
        assert top.items.tolist() == [[6, 5, 3], [7, 3, 2]], type(model).__name__
    keep = np.zeros(8, dtype=bool)
    keep[[1, 2]] = True
    top = RankingPipeline.for_model(ListsOnly()).rank(HISTORIES, 3, exclusions=Exclusions(keep=keep))
    assert top.items.tolist() == [[2, 1, -1], [2, 1, -1]] and np.isneginf(top.scores[:, 2]).all()


def test_no_stages_is_exactly_recommend_on_a_real_model() -> None:
    from lmrec.models.registry import create_model

    toy = block_data()
    model = create_model("ease").fit(toy.split.train)
    top = RankingPipeline.for_model(model).rank(toy.queries, 5)
    expected = model.recommend(toy.queries, 5)
    assert np.array_equal(top.items, expected.items) and np.allclose(top.scores, expected.scores)
    scores = model.score(toy.queries).clone()
    selected = RankingPipeline.for_model(model).select(scores, toy.queries, 5)
    assert np.array_equal(selected.items, expected.items)
