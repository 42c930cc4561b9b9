"""Harmful-content filtering through the one pipeline: planted harmful items are never recommended, offline or
served, including items posted after start; the audit says which rule removed what."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app  # noqa: E402
from lmrec.data import from_dataframes  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

PLANTED = {"item03": "cheap weapon parts, untraceable", "item07": "red apple fruit poison recipe",
           "item24": "blue ocean water wave harmful dare challenge"}
RULES = "keywords: [weapon, poison]\npatterns: ['\\bdare\\s+challenge\\b']\n"


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory) -> Path:
    """The two taste groups, three of whose items (chosen often by their group) now carry harmful text."""
    base = two_groups()
    items = base.catalog.frame.copy()
    for item, text in PLANTED.items():
        items.loc[items.item_id == item, "title"] = text
    inter = pd.DataFrame({"user_id": base.users.to_raw(base.interactions.user),
                          "item_id": base.items.to_raw(base.interactions.item),
                          "timestamp": base.interactions.timestamp})
    dataset = from_dataframes(inter, items, name="toy", categorical=("genre",))
    model = {"name": "sasrec-fused", "dim": 16, "layers": 1, "heads": 1, "max_len": 10,
             "encoder": {"kind": "tfidf", "tfidf_dim": 16},
             "train": {"epochs": 4, "threads": 1, "batch_size": 32, "precision": "float32"}}
    return fit_toy_run(dataset, tmp_path_factory.mktemp("planted") / "fused", model)


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(RULES)
    return path


def test_evaluation_never_recommends_a_removed_item_and_audits_it(planted_run: Path, rules: Path) -> None:
    plain = CliRunner().invoke(app, ["evaluate", str(planted_run), "-k", "10"])
    assert plain.exit_code == 0
    listed = set(pd.read_csv(planted_run / "recommendations.csv", dtype=str).item_id)
    assert listed & set(PLANTED), "the planted items are popular: unfiltered, some are recommended"
    result = CliRunner().invoke(app, ["evaluate", str(planted_run), "-k", "10", "--filter", str(rules)])
    assert result.exit_code == 0, result.output
    assert "removed 3 items (keyword 2, pattern 1)" in result.output
    assert not set(pd.read_csv(planted_run / "recommendations.csv", dtype=str).item_id) & set(PLANTED)
    audit = json.loads((planted_run / "metrics.json").read_text())["filter"]
    assert audit["items"] == {"item03": "keyword:weapon", "item07": "keyword:poison",
                              "item24": "pattern:\\bdare\\s+challenge\\b"}


def test_the_service_removes_them_for_every_request_and_for_posted_items(planted_run: Path, rules: Path,
                                                                         tmp_path: Path) -> None:
    served = Path(shutil.copytree(planted_run, tmp_path / "served"))
    client = TestClient(create_app(served, ServeConfig(token="t", content_filter=str(rules))),
                        headers={"Authorization": "Bearer t"})
    fruit = [f"item{i:02d}" for i in range(20) if f"item{i:02d}" not in PLANTED][:6]
    for body in ({"history": fruit, "k": 30}, {"history": fruit, "k": 30, "rerank": ["mmr:0.5"]},
                 {"history": ["item03", "item07"], "k": 39, "exclude_seen": False},
                 {"user_id": "user0", "k": 30, "include_categories": ["fruit"]}):
        answer = client.post("/recommend", json=body)
        assert answer.status_code == 200, answer.text
        assert not {i["item_id"] for i in answer.json()["items"]} & set(PLANTED), body
    posted = client.post("/items", json={"item_id": "new1", "text": "red apple fruit weapon", "attributes": {}})
    assert posted.status_code == 201
    answer = client.post("/recommend", json={"history": fruit, "k": 40})
    assert "new1" not in {i["item_id"] for i in answer.json()["items"]}
    neighbours = client.get("/items/item01/similar", params={"k": 40}).json()["items"]
    assert not {i["item_id"] for i in neighbours} & {*PLANTED, "new1"}
    assert client.get("/health").json()["filtered"] == {"keyword": 3, "pattern": 1, "total": 4}
    assert 'lmrec_filtered_items{rule="total"} 4' in client.get("/metrics").text


def test_a_bad_rules_file_stops_the_service_with_one_line(planted_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("keywords: weapon\n")
    result = CliRunner().invoke(app, ["evaluate", str(planted_run), "--filter", str(bad)])
    assert result.exit_code == 2 and "'keywords' must be a list of strings" in result.output
    assert len(result.output.strip().splitlines()) == 1
