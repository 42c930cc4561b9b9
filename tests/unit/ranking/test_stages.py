"""MMR re-ranking against hand-worked cases: lambda 1 keeps the relevance order, lambda 0 spreads out, short and
padded candidate lists stay padded."""

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.ranking import MMR, Candidates, StageInputs, parse_stages

# items 0 and 1 are the same direction, 2 is orthogonal to both, 3 is the zero vector
VECTORS = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)


def candidates(*rows: list[tuple[int, float]]) -> Candidates:
    width = max(len(r) for r in rows)
    items = np.full((len(rows), width), -1, dtype=np.int64)
    scores = np.full((len(rows), width), -np.inf, dtype=np.float32)
    for i, row in enumerate(rows):
        items[i, : len(row)] = [item for item, _ in row]
        scores[i, : len(row)] = [score for _, score in row]
    return Candidates(items, scores)


def test_lambda_one_is_the_relevance_order() -> None:
    found = candidates([(0, 3.0), (1, 2.0), (2, 1.0)])
    out = MMR(1.0, VECTORS).rerank(found, 3)
    assert out.items.tolist() == [[0, 1, 2]]


def test_diversity_skips_the_near_duplicate() -> None:
    found = candidates([(0, 3.0), (1, 2.9), (2, 1.0)])
    # step 2: item 1 scores 0.5 * 0.95 - 0.5 * 1 < item 2's 0.5 * 0 - 0.5 * 0
    out = MMR(0.5, VECTORS).rerank(found, 2)
    assert out.items.tolist() == [[0, 2]]
    assert out.scores.tolist() == [[3.0, 1.0]]  # the model's scores travel with their items


def test_short_lists_stay_padded_and_rows_are_independent() -> None:
    found = candidates([(3, 1.0)], [(0, 2.0), (2, 1.0)])
    out = MMR(0.7, VECTORS).rerank(found, 2)
    assert out.items.tolist() == [[3, -1], [0, 2]]
    assert np.isneginf(out.scores[0, 1])


def test_pool_and_parsing() -> None:
    assert MMR(0.7, VECTORS).pool(10) == 500 and MMR(0.7, VECTORS, candidates=5).pool(10) == 20
    (stage,) = parse_stages(["mmr:0.3"], StageInputs(VECTORS))
    assert isinstance(stage, MMR) and stage.lam == 0.3
    with pytest.raises(ConfigError, match="needs item vectors"):
        parse_stages(["mmr:0.3"], StageInputs())
    with pytest.raises(ConfigError, match="unknown stage"):
        parse_stages(["calibrate"], StageInputs(VECTORS))
