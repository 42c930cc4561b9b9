"""Two-stage ranking: a retriever's top N re-ordered by a ranking model, the same in `lmrec evaluate --rank-with`
and in the service; a ranker that cannot rank, or was trained on another split, is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app as cli_app  # noqa: E402
from lmrec.data.types import Histories  # noqa: E402
from lmrec.pipeline import build_config, fit_run, load_run  # noqa: E402
from lmrec.pipeline.evaluate import ranking_stage  # noqa: E402
from lmrec.ranking import RankingPipeline  # noqa: E402
from lmrec.ranking.stages import RankerStage  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

TOKEN = "s3cret-token"
DCN = {"name": "dcn", "dim": 8, "hidden": [16], "max_len": 8, "encoder": {"kind": "tfidf", "tfidf_dim": 16},
       "train": {"epochs": 5, "batch_size": 64, "threads": 1, "patience": 100}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    dataset = two_groups()
    retriever = fit_toy_run(dataset, root / "ease", {"name": "ease", "reg_weight": 10})
    ranker = fit_toy_run(dataset, root / "dcn", DCN)
    return retriever, ranker


def test_evaluate_rank_with_reorders_the_retrieved_top_n(runs) -> None:
    retriever, ranker = runs
    result = CliRunner().invoke(cli_app, ["evaluate", str(retriever), "--rank-with", str(ranker),
                                          "--rank-candidates", "20", "-k", "10", "--rank-weight", "alone"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((retriever / "metrics.json").read_text())
    assert metrics["rank_with_model"] == "dcn" and metrics["rank_candidates"] == 20
    assert metrics["rank_weight"] == "ranker alone"
    run, dcn = load_run(retriever), load_run(ranker)
    histories = run.split.test.histories(np.arange(3))
    top = RankingPipeline.for_model(run.model, (RankerStage(dcn.model, 20),)).rank(histories, 10)
    alone = RankingPipeline.for_model(run.model).rank(histories, 20)
    expected = dcn.model.score_candidates(histories, alone.items)
    for row in range(3):  # the final list is the retrieved 20 sorted by the ranker's scores
        order = alone.items[row][np.argsort(-expected[row], kind="stable")][:10]
        assert top.items[row].tolist() == order.tolist()


def test_the_weight_is_chosen_on_validation_and_never_loses_to_the_retriever_there(runs) -> None:
    retriever, ranker = runs
    stage = ranking_stage(load_run(retriever), load_run(ranker), 20)
    assert stage.search is not None and set(stage.search) >= {"0", "1", "ranker alone"}
    chosen = "ranker alone" if stage.weight is None else f"{stage.weight:g}"
    assert stage.search[chosen] == max(stage.search.values()) >= stage.search["0"]


def test_the_service_ranks_with_the_same_stage(runs, tmp_path) -> None:
    retriever, ranker = runs
    config = ServeConfig(token=TOKEN, rank_with=str(ranker), rank_candidates=20, rank_weight="alone")
    client = TestClient(create_app(retriever, config), headers={"Authorization": f"Bearer {TOKEN}"})
    run, dcn = load_run(retriever), load_run(ranker)
    history = [run.items.raw[i] for i in run.history.row(0)[:3]]
    response = client.post("/recommend", json={"history": history, "k": 5})
    assert response.status_code == 200, response.text
    served = [row["item_id"] for row in response.json()["items"]]
    query = Histories.from_lists([run.history.row(0)[:3]])
    expected = RankingPipeline.for_model(run.model, (RankerStage(dcn.model, 20),)).rank(query, 5)
    assert served == run.items.to_raw(expected.items[0]).tolist()


def test_a_model_that_cannot_rank_or_another_split_is_refused(runs, tmp_path) -> None:
    retriever, _ = runs
    result = CliRunner().invoke(cli_app, ["evaluate", str(retriever), "--rank-with", str(retriever)])
    assert result.exit_code != 0 and "is not a ranking model" in result.output
    other = tmp_path / "other"
    split = {"method": "global_time", "test_quantile": 0.7, "valid_quantile": 0.5}
    config = build_config(None, {"data": {"interactions": "toy.csv"}, "model": DCN, "split": split,
                                 "eval": {"n_bootstrap": 10}})
    fit_run(config, other, dataset=two_groups(), device="cpu")
    result = CliRunner().invoke(cli_app, ["evaluate", str(retriever), "--rank-with", str(other)])
    assert result.exit_code != 0 and "trained on another split" in result.output
