"""The HTTP service end to end on small generic runs: every endpoint, events and items visible at once, restart,
results equal to `lmrec recommend`, FAISS equal to exact, and malformed requests answered with a clear 4xx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import FRUIT, OCEAN, fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app as cli_app  # noqa: E402
from lmrec.data.types import Histories, Sequences  # noqa: E402
from lmrec.errors import ConfigError  # noqa: E402
from lmrec.models.base import BaseRecommender  # noqa: E402
from lmrec.models.capabilities import DotProductScoring  # noqa: E402
from lmrec.pipeline import load_run  # noqa: E402
from lmrec.ranking import Exclusions, RankingPipeline  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402
from lmrec.serve.index import FaissIndex, dot_product, retriever_for  # noqa: E402

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# -- fixtures ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset():
    return two_groups()


def _fit(dataset, out: Path, model: dict) -> Path:
    return fit_toy_run(dataset, out, model)


@pytest.fixture(scope="module")
def ease_run(dataset, tmp_path_factory) -> Path:
    return _fit(dataset, tmp_path_factory.mktemp("runs") / "ease", {"name": "ease", "reg_weight": 10})


@pytest.fixture(scope="module")
def fused_run(dataset, tmp_path_factory) -> Path:
    model = {"name": "sasrec-fused", "dim": 16, "layers": 1, "heads": 1, "max_len": 10, "dropout": 0.1,
             "encoder": {"kind": "tfidf", "tfidf_dim": 16},
             "train": {"epochs": 8, "threads": 1, "batch_size": 32, "precision": "float32", "patience": 100}}
    return _fit(dataset, tmp_path_factory.mktemp("runs") / "fused", model)


def _copy(run: Path, tmp_path: Path) -> Path:
    """A private copy: writes (events.sqlite, added_items.jsonl) must not leak between tests."""
    return Path(shutil.copytree(run, tmp_path / run.name))


@pytest.fixture
def ease(ease_run, tmp_path) -> TestClient:
    return TestClient(create_app(_copy(ease_run, tmp_path), ServeConfig(token=TOKEN)), headers=AUTH,
                      raise_server_exceptions=False)


@pytest.fixture
def fused(fused_run, tmp_path) -> TestClient:
    return TestClient(create_app(_copy(fused_run, tmp_path), ServeConfig(token=TOKEN)), headers=AUTH,
                      raise_server_exceptions=False)


def _recommend(client: TestClient, **body) -> list[str]:
    response = client.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    return [row["item_id"] for row in response.json()["items"]]


def _cli(run: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli_app, ["recommend", str(run), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["items"]


# -- recommend ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["ease_run", "fused_run"])
@pytest.mark.parametrize("query", [("--user", "user3"), ("--history", "item01,item05,nope")])
def test_recommend_equals_the_cli(which, query, request, tmp_path) -> None:
    run = _copy(request.getfixturevalue(which), tmp_path)
    client = TestClient(create_app(run, ServeConfig(token=TOKEN)), headers=AUTH)
    expected = _cli(run, *query, "-k", "7")
    body = {"user_id": query[1]} if query[0] == "--user" else {"history": query[1].split(",")}
    response = client.post("/recommend", json={**body, "k": 7}).json()
    assert [r["item_id"] for r in response["items"]] == [r["item_id"] for r in expected]
    assert np.allclose([r["score"] for r in response["items"]], [r["score"] for r in expected], atol=1e-5)
    assert response["unknown_items"] == ([] if query[0] == "--user" else ["nope"])
    assert response["model_version"].startswith(load_run(run).config.model.name + "-")


def test_faiss_path_of_a_sequence_model_equals_the_cli(fused_run, tmp_path) -> None:
    run = _copy(fused_run, tmp_path)
    client = TestClient(create_app(run, ServeConfig(token=TOKEN, faiss_min_items=1)), headers=AUTH)
    assert client.get("/health").json()["retrieval"] == "faiss"
    for user in ("user0", "user1", "user6"):
        expected = _cli(run, "--user", user, "-k", "10")
        got = client.post("/recommend", json={"user_id": user, "k": 10}).json()["items"]
        assert [r["item_id"] for r in got] == [r["item_id"] for r in expected]
        assert np.allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-4)


@pytest.mark.parametrize("which", ["ease", "fused"])
def test_concurrent_requests_share_model_calls_and_match_single_ones(which, request) -> None:
    import asyncio

    import httpx

    client = request.getfixturevalue(which)
    bodies = [{"user_id": f"user{u}", "k": 5} for u in range(24)] + [{"history": FRUIT[:n], "k": 5} for n in (1, 4)]
    alone = [client.post("/recommend", json=body).json()["items"] for body in bodies]

    async def together() -> list:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as http:
            responses = await asyncio.gather(*[http.post("/recommend", json=body) for body in bodies])
            metrics = (await http.get("/metrics")).text
        return [r.json()["items"] for r in responses], metrics

    batched, metrics = asyncio.run(together())
    for one, many in zip(alone, batched, strict=True):
        assert [r["item_id"] for r in one] == [r["item_id"] for r in many]
        assert np.allclose([r["score"] for r in one], [r["score"] for r in many], atol=1e-5)
    values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("lmrec_score_"))
    assert float(values["lmrec_score_requests_total"]) == 2 * len(bodies)
    assert float(values["lmrec_score_calls_total"]) < len(bodies) + 5  # the concurrent ones were coalesced


def test_filters_blocklist_and_seen_items(ease) -> None:
    seen = set(ease.get("/users/user0").json()["history"])
    plain = _recommend(ease, user_id="user0", k=40)
    assert not seen & set(plain)
    assert set(_recommend(ease, user_id="user0", k=40, exclude_seen=False)) >= seen
    ocean = _recommend(ease, user_id="user0", k=10, include_categories=["ocean"])
    assert ocean and set(ocean) <= set(OCEAN)
    assert set(_recommend(ease, user_id="user0", k=10, exclude_categories=["food"])) <= set(OCEAN)
    scores = {r["item_id"]: r["score"] for r in ease.post("/recommend", json={"user_id": "user0", "k": 40}).json()
              ["items"]}
    blocked = _recommend(ease, user_id="user0", k=10, blocklist=plain[:3] + ["not-an-item"])
    assert not set(blocked) & set(plain[:3])  # the rest is the plain ranking (up to the order of equal scores)
    assert [scores[i] for i in blocked] == pytest.approx([scores[i] for i in plain[3:13]])
    few = _recommend(ease, user_id="user0", k=40, include_categories=["fruit"])  # fewer than k left: no -inf rows
    assert set(few) == set(FRUIT) - seen


def test_diversity_reranks_with_item_vectors(fused, ease) -> None:
    plain = _recommend(fused, history=FRUIT[:3], k=8)
    assert _recommend(fused, history=FRUIT[:3], k=8, diversity={"lambda": 1.0}) == plain
    mixed = _recommend(fused, history=FRUIT[:3], k=8, diversity={"lambda": 0.0})
    assert len(mixed) == 8 and mixed != plain
    response = ease.post("/recommend", json={"history": FRUIT[:3], "diversity": {"lambda": 0.5}})
    assert response.status_code == 422 and "item vectors" in response.json()["detail"]


# -- events ------------------------------------------------------------------------------------------------------
def test_an_event_changes_the_next_recommendation(ease) -> None:
    before = ease.post("/recommend", json={"user_id": "user0", "k": 10}).json()["items"]
    stored = ease.get("/users/user0").json()["history"]
    clicks = [{"user_id": "user0", "item_id": i} for i in OCEAN[:6]]
    response = ease.post("/events", json=clicks, headers=AUTH)
    assert response.status_code == 201 and response.json()["count"] == 6
    user = ease.get("/users/user0").json()
    assert user["history"] == stored + OCEAN[:6] and user["events_since_training"] == 6 and user["known"]
    after = ease.post("/recommend", json={"user_id": "user0", "k": 10}).json()["items"]
    assert [r["item_id"] for r in after] != [r["item_id"] for r in before]
    assert not set(OCEAN[:6]) & {r["item_id"] for r in after}  # now seen, so excluded


def test_cached_user_states_serve_what_the_net_serves_and_never_a_stale_one(fused_run, tmp_path) -> None:
    """The user-state cache (on by default) answers repeat requests without the net; after an event the user's
    history is new, so the next answer is the net's for that history, exactly as a service without the cache."""
    cached = TestClient(create_app(_copy(fused_run, tmp_path / "a"), ServeConfig(token=TOKEN)), headers=AUTH)
    plain = TestClient(create_app(_copy(fused_run, tmp_path / "b"), ServeConfig(token=TOKEN, user_cache=0)),
                       headers=AUTH)
    users = ["user0", "user1", "user7"]

    def lists(client: TestClient) -> list[list[tuple[str, float]]]:
        out = []
        for user in users:
            rows = client.post("/recommend", json={"user_id": user, "k": 10}).json()["items"]
            out.append([(r["item_id"], round(r["score"], 4)) for r in rows])
        return out

    before = lists(plain)
    assert lists(cached) == before == lists(cached)  # the second round comes from the cache
    metrics = cached.get("/metrics").text
    assert "lmrec_user_cache_hits_total 3\n" in metrics and "lmrec_user_cache_misses_total 3\n" in metrics
    assert "lmrec_user_cache" not in plain.get("/metrics").text
    event = [{"user_id": "user0", "item_id": i} for i in OCEAN[:3]]
    for client in (cached, plain):
        assert client.post("/events", json=event).status_code == 201
    after = lists(plain)
    assert after[0] != before[0]  # the net's state for user0 moved, so a stale cached state would show
    assert lists(cached) == after
    assert "lmrec_user_cache_misses_total 4\n" in cached.get("/metrics").text
    held = cached.app.state.serving.snapshot.user_cache
    assert len(held) == 4 and cached.delete("/users/user0").status_code == 200
    assert len(cached.app.state.serving.snapshot.user_cache) == 0  # the erasure starts a new cache: nothing
    # derived from the erased history stays in the service


def test_an_impression_is_logged_but_joins_no_history(ease) -> None:
    stored = ease.get("/users/user1").json()["history"]
    shown = [{"user_id": "user1", "item_id": i, "event_type": "impression"} for i in OCEAN[:2]]
    assert ease.post("/events", json=shown, headers=AUTH).status_code == 201
    assert ease.get("/users/user1").json()["history"] == stored
    assert set(OCEAN[:2]) <= set(_recommend(ease, user_id="user1", k=40)) - set(stored)  # still recommendable


def test_a_new_user_starts_with_their_events(ease) -> None:
    assert ease.get("/users/stranger").status_code == 404
    assert ease.post("/recommend", json={"user_id": "stranger"}).status_code == 404
    response = ease.post("/events", json={"user_id": "stranger", "item_id": "item21", "timestamp": 5, "value": 1},
                         headers=AUTH)
    assert response.status_code == 201 and len(response.json()["ids"]) == 1
    assert ease.get("/users/stranger").json() == {"user_id": "stranger", "known": False, "history": ["item21"],
                                                  "events_since_training": 1}
    assert len(_recommend(ease, user_id="stranger", k=5)) == 5
    assert ease.post("/events", json={"user_id": "stranger", "item_id": "nope"}, headers=AUTH).status_code == 422


def test_writes_need_the_token(ease_run, tmp_path, monkeypatch) -> None:
    event = {"user_id": "user0", "item_id": "item01"}
    closed = TestClient(create_app(_copy(ease_run, tmp_path / "a"), ServeConfig(token_env="LMREC_TEST_NO_TOKEN")))
    refused = closed.post("/events", json=event, headers=AUTH)
    assert refused.status_code == 403 and "LMREC_TEST_NO_TOKEN" in refused.json()["detail"]
    monkeypatch.setenv("LMREC_TEST_TOKEN", TOKEN)
    client = TestClient(create_app(_copy(ease_run, tmp_path / "b"), ServeConfig(token_env="LMREC_TEST_TOKEN")))
    assert client.post("/events", json=event).status_code == 401
    wrong = client.post("/events", json=event, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text and wrong.headers["www-authenticate"] == "Bearer"
    assert client.post("/events", json=event, headers={"Authorization": TOKEN}).status_code == 401
    assert client.post("/events", json=event, headers=AUTH).status_code == 201
    open_ = TestClient(create_app(_copy(ease_run, tmp_path / "c"),
                                  ServeConfig(token_env="LMREC_TEST_NO_TOKEN", allow_unauthenticated_writes=True)))
    assert open_.post("/events", json=event).status_code == 201


# -- items -------------------------------------------------------------------------------------------------------
def test_a_posted_item_is_recommendable_at_once(fused) -> None:
    new = {"item_id": "item99", "text": "red apple fruit sweet number 99", "attributes": {"genre": "fruit"}}
    response = fused.post("/items", json=new, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["items"] == [{"item_id": "item99", "index": 40}]
    item = fused.get("/items/item99").json()
    assert item == {"item_id": "item99", "text": new["text"], "attributes": {"genre": "fruit"}, "added": True}
    neighbours = [r["item_id"] for r in fused.get("/items/item99/similar", params={"k": 5}).json()["items"]]
    assert set(neighbours) <= set(FRUIT)
    fruit = _recommend(fused, history=FRUIT[:4], k=41)
    ocean = _recommend(fused, history=OCEAN[:4], k=41)
    assert fruit.index("item99") < ocean.index("item99")  # closer to the history it resembles
    assert "item99" in _recommend(fused, history=FRUIT[:4], k=41, include_categories=["fruit"])
    assert fused.get("/health").json()["items_added"] == 1
    assert fused.post("/items", json=new, headers=AUTH).status_code == 409  # duplicate
    click = fused.post("/events", json={"user_id": "user0", "item_id": "item99"}, headers=AUTH)
    assert click.status_code == 201


def test_id_only_models_refuse_new_items(ease) -> None:
    response = ease.post("/items", json={"item_id": "x1", "text": "anything"}, headers=AUTH)
    assert response.status_code == 409 and "ID-only" in response.json()["detail"]


def test_restart_keeps_events_and_added_items(fused_run, tmp_path) -> None:
    run = _copy(fused_run, tmp_path)
    first = TestClient(create_app(run, ServeConfig(token=TOKEN)), headers=AUTH)
    new_items = [{"item_id": "n1", "text": "blue ocean water wave new"}, {"item_id": "n2", "text": "red apple fruit"}]
    assert first.post("/items", json=new_items, headers=AUTH).status_code == 201
    assert first.post("/events", json=[{"user_id": "user2", "item_id": "n1"},
                                       {"user_id": "fresh", "item_id": "n2"}], headers=AUTH).status_code == 201
    before = _recommend(first, user_id="user2", k=10)
    first.app.state.serving.close()
    (run / "added_items.jsonl").open("a").write('{"item_id": "torn", "te')  # a crash mid-write: never acknowledged
    second = TestClient(create_app(run, ServeConfig(token=TOKEN)), headers=AUTH)
    assert second.get("/users/user2").json()["history"][-1] == "n1"
    assert second.get("/users/fresh").json()["history"] == ["n2"]
    assert second.get("/items/n2").json()["added"] is True
    assert second.get("/items/torn").status_code == 404
    assert _recommend(second, user_id="user2", k=10) == before
    assert second.post("/items", json={"item_id": "n3", "text": "more fruit"}, headers=AUTH).status_code == 201
    lines = (run / "added_items.jsonl").read_text().splitlines()
    assert [json.loads(line)["item_id"] for line in lines if line.startswith('{"item_id": "n')] == ["n1", "n2", "n3"]


# -- read endpoints, swap ----------------------------------------------------------------------------------------
def test_items_users_health_and_metrics(ease) -> None:
    item = ease.get("/items/item03").json()
    assert item["text"].startswith("red apple fruit") and item["attributes"]["genre"] == "fruit|food"
    assert item["added"] is False
    assert ease.get("/items/nope").status_code == 404
    assert ease.get("/items/item03/similar").status_code == 422  # EASE has no item vectors
    health = ease.get("/health").json()
    assert health["status"] == "ok" and health["items"] == 40 and health["retrieval"] == "exact"
    assert health["writes"] == "token"
    ease.post("/recommend", json={"user_id": "user1"})
    ease.post("/events", json={"user_id": "user1", "item_id": "item30"}, headers=AUTH)
    text = ease.get("/metrics").text
    assert 'lmrec_requests_total{method="POST",route="/recommend",status="200"} 1' in text
    assert 'lmrec_requests_total{method="GET",route="/items/{item_id}",status="404"} 1' in text
    assert 'lmrec_request_duration_seconds_bucket{route="/recommend",le="+Inf"} 1' in text
    assert f'lmrec_model_info{{version="{health["model_version"]}",retrieval="exact"}} 1' in text
    assert "lmrec_events_ingested_total 1" in text


def test_swap_and_reload(ease_run, fused_run, tmp_path) -> None:
    client = TestClient(create_app(_copy(ease_run, tmp_path), ServeConfig(token=TOKEN)), headers=AUTH)
    state = client.app.state.serving
    model = load_run(ease_run).model
    state.swap(model, "v2")
    assert client.post("/recommend", json={"user_id": "user0"}).json()["model_version"] == "v2"
    with pytest.raises(ConfigError, match="scores 41 items"):
        small = load_run(ease_run).model
        small.n_items_ = 41
        state.swap(small, "bad")
    state.reload_from(fused_run)
    assert client.get("/health").json()["model"] == "sasrec-fused"


def test_refresh_serves_the_version_lmrec_update_committed(ease) -> None:
    """An `lmrec update` version holds the events up to its cursor in history.npz: they must count once."""
    state = ease.app.state.serving
    stored = ease.get("/users/user0").json()["history"]
    ease.post("/events", json=[{"user_id": "user0", "item_id": i} for i in OCEAN[:3]], headers=AUTH)
    run = load_run(state.home)
    rows = [list(run.history.row(u)) for u in range(len(run.users))]
    rows[run.users.index("user0")] += [run.items.index(i) for i in OCEAN[:3]]
    folder = state.home / "versions" / "v00001"
    run.model.save(folder / "model")
    (folder / "ids.json").write_text(json.dumps({"users": run.users.raw.tolist(), "items": run.items.raw.tolist()}))
    history = Sequences.from_lists(rows)
    np.savez(folder / "history.npz", indptr=history.indptr, items=history.items)
    assert state.refresh() is False  # nothing committed yet
    (state.home / "update_state.json").write_text(json.dumps({"version": "v00001", "last_event_id": 3}))
    assert state.refresh() is True and state.refresh() is False
    assert ease.get("/health").json()["model_version"] == "v00001"
    assert ease.get("/users/user0").json()["history"] == stored + OCEAN[:3]  # once, not twice
    ease.post("/events", json={"user_id": "user0", "item_id": OCEAN[5]}, headers=AUTH)
    assert ease.get("/users/user0").json()["history"] == stored + OCEAN[:3] + [OCEAN[5]]


# -- FAISS -------------------------------------------------------------------------------------------------------
class MeanDot(BaseRecommender, DotProductScoring):
    """score = mean(item vectors of the history) @ item table; declares both halves."""

    name = "mean-dot"
    Config = dict

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__({})
        self.table, self.n_items_ = table, table.shape[0]

    def user_vectors(self, histories: Histories, table: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.from_numpy(histories.mask).float()
        vectors = self.table[torch.from_numpy(np.where(histories.mask, histories.seq, 0))]  # [B, L, D]
        return (vectors * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)

    def item_table(self) -> torch.Tensor:
        return self.table

    def score(self, histories: Histories) -> torch.Tensor:
        return self.user_vectors(histories) @ self.table.T


def test_faiss_topk_equals_exact_on_60k_items() -> None:
    generator = torch.Generator().manual_seed(0)
    model = MeanDot(torch.randn(60_000, 32, generator=generator))
    parts = dot_product(model)
    assert parts is not None
    index = FaissIndex(parts.table)
    faiss, exact_pipeline = RankingPipeline(retriever_for(model, index, parts)), RankingPipeline.for_model(model)
    rng = np.random.default_rng(1)
    histories = Histories.from_lists([rng.choice(60_000, size=n, replace=False) for n in (1, 5, 30, 200)])
    for exclude_seen in (True, False):
        exact = model.recommend(histories, 50, exclude_seen=exclude_seen)
        fast = faiss.rank(histories, 50, exclude_seen=exclude_seen)
        assert np.array_equal(fast.items, exact.items)
        assert np.allclose(fast.scores, exact.scores, rtol=1e-5, atol=1e-5)
    blocked = exact.items[:, :5].ravel()
    exact = exact_pipeline.rank(histories, 20, exclusions=Exclusions(blocked=blocked))
    fast = faiss.rank(histories, 20, exclusions=Exclusions(blocked=blocked))
    assert np.array_equal(fast.items, exact.items) and not np.isin(fast.items, blocked).any()


# -- malformed requests ------------------------------------------------------------------------------------------
BIG = {"history": ["item01"] * 5, "blocklist": ["x" * 500] * 2500}  # > 1 MiB of JSON
MALFORMED = [
    ("post", "/recommend", {"json": {"user_id": "user0", "k": 5000}}, 422, "max_k"),
    ("post", "/recommend", {"json": {"user_id": "user0", "k": -1}}, 422, "k:"),
    ("post", "/recommend", {"json": {"user_id": "user0", "k": 0}}, 422, "k:"),
    ("post", "/recommend", {"json": {"user_id": "user0", "k": "ten"}}, 422, "k:"),
    ("post", "/recommend", {"json": {"user_id": "user0", "k": 2.5}}, 422, "k:"),
    ("post", "/recommend", {"json": {"user_id": "user0", "k": True}}, 422, "k:"),
    ("post", "/recommend", {"json": {"user_id": "nobody"}}, 404, "unknown user"),
    ("post", "/recommend", {"json": {"history": ["nope", "never"]}}, 422, "none of the history items"),
    ("post", "/recommend", {"json": {"history": []}}, 422, "history:"),
    ("post", "/recommend", {"json": {"history": "item01"}}, 422, "history:"),
    ("post", "/recommend", {"json": {"history": [None]}}, 422, "history.0"),
    ("post", "/recommend", {"json": {"history": ["item01"] * 1001}}, 422, "limit"),
    ("post", "/recommend", {"json": {}}, 422, "exactly one"),
    ("post", "/recommend", {"json": {"user_id": "user0", "history": ["item01"]}}, 422, "exactly one"),
    ("post", "/recommend", {"json": {"user_id": "user0", "exclude_sen": False}}, 422, "exclude_sen"),
    ("post", "/recommend", {"json": {"user_id": "user0", "include_categories": ["nope"]}}, 422, "unknown genre"),
    ("post", "/recommend", {"json": {"user_id": "user0", "diversity": {"lambda": 3}}}, 422, "diversity.lambda"),
    ("post", "/recommend", {"json": [1, 2]}, 422, "body"),
    ("post", "/recommend", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
    ("post", "/recommend", {"content": b"", "headers": {"content-type": "application/json"}}, 422, ""),
    ("post", "/recommend", {"json": BIG}, 413, "limit"),
    ("post", "/recommend", {"content": iter([b"{" + b" " * (1 << 20) + b"}"])}, 413, "limit"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "item01"}, "auth": False}, 401, "bearer"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "item01"}, "headers": {"Authorization": "Bearer x"}},
     401, "invalid"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "missing"}}, 422, "unknown item"),
    ("post", "/events", {"json": {"user_id": "u"}}, 422, "item_id: Field required"),
    ("post", "/events", {"json": [{"user_id": "u", "item_id": "item01", "value": "high"}]}, 422, "0.value"),
    ("post", "/events", {"json": {"user_id": "", "item_id": "item01"}}, 422, "user_id"),
    ("post", "/events", {"json": [{"user_id": "u", "item_id": "item01"}] * 1001}, 422, "limit is 1000"),
    ("post", "/events", {"json": []}, 422, "no events"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "item01", "timestamp": "yesterday"}}, 422, "timestamp"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "item01", "timestamp": 2**70}}, 422, "timestamp"),
    ("post", "/events", {"json": {"user_id": "u", "item_id": "item01", "event_type": "x" * 65}}, 422, "event_type"),
    ("post", "/items", {"json": {"item_id": "n", "text": ""}}, 422, "text"),
    ("post", "/items", {"json": {"item_id": "item01", "text": "again"}}, 409, "already exist"),
    ("post", "/items", {"json": {"item_id": "n", "text": "x", "attributes": [1]}}, 422, "attributes"),
    ("post", "/items", {"json": {"item_id": "n", "text": "x"}, "auth": False}, 401, "bearer"),
    ("get", "/items/nope/similar", {"params": {"k": 5}}, 404, "unknown item"),
    ("get", "/items/item01/similar", {"params": {"k": -3}}, 422, "query.k"),
    ("get", "/items/item01/similar", {"params": {"k": "many"}}, 422, "query.k"),
    ("get", "/users/nobody", {}, 404, "unknown user"),
    ("get", "/nowhere", {}, 404, ""),
    ("delete", "/recommend", {}, 405, ""),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "says"), MALFORMED,
                         ids=[f"{m}-{p}-{i}" for i, (m, p, *_) in enumerate(MALFORMED)])
def test_malformed_requests_get_a_clear_4xx(fused, method, path, kwargs, status, says) -> None:
    kwargs = dict(kwargs)
    if not kwargs.pop("auth", True):
        del fused.headers["Authorization"]  # the fixture's client sends the token by default
    response = fused.request(method.upper(), path, headers=kwargs.pop("headers", {}), **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert says.lower() in detail.lower()


def test_a_retried_post_with_its_idempotency_key_is_stored_once(ease) -> None:
    clicks = [{"user_id": "user5", "item_id": i} for i in OCEAN[:2]]
    before = ease.get("/users/user5").json()["history"]
    first = ease.post("/events", json=clicks, headers={"Idempotency-Key": "retry-me-1"})
    again = ease.post("/events", json=clicks, headers={"Idempotency-Key": "retry-me-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == {**first.json(), "replayed": True} and first.json()["replayed"] is False
    assert ease.get("/users/user5").json()["history"] == before + OCEAN[:2]  # once, not twice
    other = ease.post("/events", json=clicks[:1], headers={"Idempotency-Key": "retry-me-1"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    bad = ease.post("/events", json=clicks, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]
    assert ease.get("/health").json()["events_ingested"] == 2


def test_events_on_added_items_survive_an_update(fused_run, tmp_path) -> None:
    from lmrec.online.updater import UpdateConfig, update_run

    run = _copy(fused_run, tmp_path)
    client = TestClient(create_app(run, ServeConfig(token=TOKEN)), headers=AUTH)
    assert client.post("/items", json={"item_id": "n1", "text": "red apple fruit new"}).status_code == 201
    clicks = [{"user_id": "user2", "item_id": "n1"}, {"user_id": "user2", "item_id": "item03"}]
    assert client.post("/events", json=clicks).status_code == 201
    before = client.get("/users/user2").json()["history"]
    update_run(run, config=UpdateConfig(epochs=1))  # the model does not know n1: its event is carried, not lost
    assert client.app.state.serving.refresh()
    after = client.get("/users/user2").json()["history"]
    assert sorted(after) == sorted(before) and "n1" in after
    restarted = TestClient(create_app(run, ServeConfig(token=TOKEN)), headers=AUTH)
    assert sorted(restarted.get("/users/user2").json()["history"]) == sorted(before)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_of_the_exact_top_10(kind) -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(3000, 16)).astype(np.float32)
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    exact = FaissIndex(table).search(queries, 10)[1]
    approx = FaissIndex(table, kind).search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9, recall


def test_the_service_serves_through_an_approximate_index_when_asked(fused_run, tmp_path) -> None:
    run = _copy(fused_run, tmp_path)
    client = TestClient(create_app(run, ServeConfig(token=TOKEN, faiss_min_items=1, faiss_index="hnsw")),
                        headers=AUTH)
    assert client.get("/health").json()["retrieval"] == "faiss-hnsw"
    got = [r["item_id"] for r in client.post("/recommend", json={"user_id": "user0", "k": 10}).json()["items"]]
    assert got == [r["item_id"] for r in _cli(run, "--user", "user0", "-k", "10")]  # 40 items: the graph is exact
    with pytest.raises(ConfigError, match="faiss_index"):
        ServeConfig(faiss_index="annoy")


# -- explanations ------------------------------------------------------------------------------------------------
def test_explain_attributes_each_item_to_the_history(fused, ease) -> None:
    history = FRUIT[:4]
    for client, method in ((fused, "gradients"), (ease, "leave-one-out")):
        answer = client.post("/recommend", json={"history": history, "k": 3, "explain": True})
        assert answer.status_code == 200, answer.text
        for item in answer.json()["items"]:
            why = item["explanation"]
            assert why["method"] == method and why["reason"].startswith("Because you chose")
            assert why["drivers"] and {d["item_id"] for d in why["drivers"]} <= set(history)
    plain = fused.post("/recommend", json={"history": history, "k": 3}).json()["items"]
    assert all("explanation" not in item or item["explanation"] is None for item in plain)
    bad = fused.post("/recommend", json={"history": history, "explain": True, "explain_method": "shap"})
    assert bad.status_code == 422 and "explain_method" in bad.text
    refused = ease.post("/recommend", json={"history": history, "explain": True, "explain_method": "gradients"})
    assert refused.status_code == 422 and "no gradient attribution" in refused.text


# -- the page and the simulation plots ---------------------------------------------------------------------------
def test_the_page_is_static_and_the_plots_need_a_token_and_stay_inside(fused_run, tmp_path) -> None:
    run = _copy(fused_run, tmp_path)
    (run / "simulations" / "s1").mkdir(parents=True)
    (run / "simulations" / "s1" / "gini.png").write_bytes(b"\x89PNG fake")
    (run / "outside.png").write_bytes(b"\x89PNG secret")
    (run / "simulations" / "s1" / "link.png").symlink_to(run / "outside.png")
    client = TestClient(create_app(run, ServeConfig(token=TOKEN)), raise_server_exceptions=False)
    page = client.get("/ui")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/simulations").status_code == 401
    listed = client.get("/simulations", headers=AUTH).json()
    assert listed == {"simulations": [{"name": "s1", "plots": ["gini.png"]}]}  # the link is not listed
    assert client.get("/simulations/s1/gini.png", headers=AUTH).content == b"\x89PNG fake"
    for name, plot in (("s1", "link.png"), ("..", "outside.png"), ("s1", "..%2F..%2Foutside.png"),
                       ("s1", "config.yaml")):
        assert client.get(f"/simulations/{name}/{plot}", headers=AUTH).status_code == 404, (name, plot)


def test_stages_that_count_across_requests_keep_their_counts(fused) -> None:
    snapshot = fused.app.state.serving.snapshot
    (first,) = snapshot.stages(["fair:0.5:genre"])
    body = {"history": FRUIT[:3], "k": 5, "rerank": ["fair:0.5:genre"]}
    assert fused.post("/recommend", json=body).status_code == 200
    (again,) = snapshot.stages(["fair:0.5:genre"])
    assert again is first and first.exposure.sum() > 0


def test_the_llm_stage_gets_the_items_titles(fused) -> None:
    inputs = fused.app.state.serving.snapshot.stage_inputs
    assert inputs.names is not None and len(inputs.names) == 40 and "apple" in inputs.names[0]
