"""Random requests against every route of the service (Hypothesis): whatever the body, path, header or method, the
answer is a 4xx or 2xx with a JSON `detail` on errors, never a 5xx and never slow. Bounded: a fixed number of
examples per route, no shrinking deadline surprises (each call is timed)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402

from lmrec.serve import ServeConfig, create_app  # noqa: E402

TOKEN = "fuzz-token-0123456789"
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ids = st.one_of(st.sampled_from(["user0", "user1", "item01", "item30", "", "nope"]), st.text(max_size=40),
                st.integers(-5, 2**70), st.none(), st.booleans(), st.floats(allow_nan=True))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                                     st.text(max_size=30)),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                                      max_size=5), max_leaves=20)
recommend_bodies = st.fixed_dictionaries({}, optional={
    "user_id": ids, "history": st.lists(ids, max_size=6) | ids, "k": st.one_of(st.integers(-3, 3000), ids),
    "exclude_seen": json_values, "include_categories": st.lists(st.text(max_size=8), max_size=3) | json_values,
    "exclude_categories": json_values, "blocklist": st.lists(ids, max_size=4) | json_values,
    "diversity": st.fixed_dictionaries({}, optional={"lambda": json_values}) | json_values,
    "unknown_field": json_values})
event_bodies = st.fixed_dictionaries({}, optional={
    "user_id": ids, "item_id": ids, "timestamp": st.one_of(st.integers(-10, 2**70), ids),
    "event_type": st.text(max_size=80) | json_values, "value": json_values})
item_bodies = st.fixed_dictionaries({}, optional={
    "item_id": ids, "text": st.text(max_size=50) | json_values, "attributes": json_values})


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    model = {"name": "sasrec-fused", "dim": 8, "layers": 1, "heads": 1, "max_len": 6, "dropout": 0.1,
             "encoder": {"kind": "tfidf", "tfidf_dim": 8},
             "train": {"epochs": 1, "threads": 1, "batch_size": 32, "precision": "float32"}}
    run = fit_toy_run(two_groups(), tmp_path_factory.mktemp("runs") / "fused", model)
    home = Path(shutil.copytree(run, tmp_path_factory.mktemp("home") / "fused"))
    return TestClient(create_app(home, ServeConfig(token=TOKEN)), headers={"Authorization": f"Bearer {TOKEN}"},
                      raise_server_exceptions=False)


def check(response, started: float) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert time.perf_counter() - started < 10
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and len(detail) < 2000


def send(client: TestClient, method: str, path: str, body) -> None:
    started = time.perf_counter()
    content = json.dumps(body, allow_nan=True).encode()
    check(client.request(method, path, content=content, headers={"content-type": "application/json"}), started)


@FUZZ
@given(body=recommend_bodies | json_values)
def test_recommend_never_5xx(client, body) -> None:
    send(client, "POST", "/recommend", body)


@FUZZ
@given(body=event_bodies | st.lists(event_bodies, max_size=4) | json_values)
def test_events_never_5xx(client, body) -> None:
    send(client, "POST", "/events", body)


@FUZZ
@given(body=item_bodies | st.lists(item_bodies, max_size=3) | json_values)
def test_items_never_5xx(client, body) -> None:
    send(client, "POST", "/items", body)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
       route=st.sampled_from(["/users/", "/items/", "/items/{}/similar", "/health", "/metrics", "/", "/users"]),
       segment=st.text(max_size=600), query=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
       auth=st.one_of(st.none(), st.text(max_size=40), st.just(f"Bearer {TOKEN}")))
def test_any_route_method_and_header_never_5xx(client, method, route, segment, query, auth) -> None:
    from urllib.parse import quote

    path = route.format(quote(segment, safe="")) if "{}" in route else (
        route + quote(segment, safe="") if route.endswith("/") and route != "/" else route)
    headers = {} if auth is None else {"Authorization": auth.encode("ascii", "replace").decode()}
    started = time.perf_counter()
    response = client.request(method, path, params=query, headers=headers)
    check(response, started)
