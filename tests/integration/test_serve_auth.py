"""Who may call what: every read of user data needs a read-scoped token, writes a write-scoped one; tokens only in
the Authorization header; malformed tokens stop the start with one line naming where they came from."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import FRUIT, fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app as cli_app  # noqa: E402
from lmrec.errors import ConfigError  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402
from lmrec.serve.auth import RedactQueryTokens, url_carries_token  # noqa: E402

FULL, READ = "full-access-token-1", "read-only-token-22"
EVENT = {"user_id": "user0", "item_id": "item01"}
ITEM = {"item_id": "new1", "text": "red apple fruit"}

# every route that reveals a user's data or the catalogue: (method, path, json body)
READS = [("POST", "/recommend", {"user_id": "user0", "k": 3}), ("POST", "/recommend", {"history": FRUIT[:2]}),
         ("GET", "/users/user0", None), ("GET", "/items/item01", None), ("GET", "/items/item01/similar", None),
         ("GET", "/metrics", None)]
WRITES = [("POST", "/events", EVENT), ("POST", "/items", ITEM)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    model = {"name": "lm-content", "encoder": {"kind": "tfidf", "tfidf_dim": 16}}
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("runs") / "content", model)


def client(run: Path, tmp_path: Path, **config) -> TestClient:
    home = Path(shutil.copytree(run, tmp_path / f"home{len(list(tmp_path.iterdir()))}"))
    return TestClient(create_app(home, ServeConfig(**config)), raise_server_exceptions=False)


def call(http: TestClient, method: str, path: str, body, headers=None):
    return http.request(method, path, json=body, headers=headers or {})


@pytest.fixture
def scoped(run, tmp_path) -> TestClient:
    return client(run, tmp_path, token=FULL, read_token=READ)


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_reads_need_a_token(scoped, method, path, body) -> None:
    refused = call(scoped, method, path, body)
    assert refused.status_code == 401 and "read" in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = call(scoped, method, path, body, bearer("not-a-token"))
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid bearer token"
    for token in (READ, FULL):
        assert call(scoped, method, path, body, bearer(token)).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_token_cannot_write(scoped, method, path, body) -> None:
    refused = call(scoped, method, path, body, bearer(READ))
    assert refused.status_code == 403 and "'write'" in refused.json()["detail"] and READ not in refused.text
    assert call(scoped, method, path, body).status_code == 401
    assert call(scoped, method, path, body, bearer(FULL)).status_code == 201


def test_health_is_open_and_says_how_reads_and_writes_are_guarded(scoped) -> None:
    health = scoped.get("/health")
    assert health.status_code == 200
    assert health.json()["reads"] == "token" and health.json()["writes"] == "token"


@pytest.mark.parametrize("query", ["token=full-access-token-1", "access_token=x", "api_key=x", "k=3&Token=x"])
def test_a_token_in_the_url_is_refused_even_with_a_good_header(scoped, query) -> None:
    response = scoped.get(f"/users/user0?{query}", headers=bearer(FULL))
    assert response.status_code == 400 and "Authorization" in response.json()["detail"]
    assert "full-access-token-1" not in response.text


def test_no_token_configured_means_reads_and_writes_are_off_unless_opened(run, tmp_path) -> None:
    closed = client(run, tmp_path, token_env="LMREC_TEST_NO_TOKEN", read_token_env="LMREC_TEST_NO_READ")
    refused = closed.get("/users/user0")
    assert refused.status_code == 403 and "LMREC_TEST_NO_TOKEN or LMREC_TEST_NO_READ" in refused.json()["detail"]
    assert closed.post("/events", json=EVENT).status_code == 403
    assert closed.get("/health").json()["reads"] == "disabled"
    opened = client(run, tmp_path, token_env="LMREC_TEST_NO_TOKEN", read_token_env="LMREC_TEST_NO_READ",
                    allow_unauthenticated_reads=True)
    assert opened.get("/users/user0").status_code == 200 and opened.post("/events", json=EVENT).status_code == 403


def test_public_recommend_opens_raw_histories_and_items_only(run, tmp_path) -> None:
    public = client(run, tmp_path, token=FULL, public_recommend=True)
    assert public.post("/recommend", json={"history": FRUIT[:2]}).status_code == 200
    assert public.get("/items/item01").status_code == 200
    assert public.post("/recommend", json={"user_id": "user0"}).status_code == 401  # a stored user's history
    assert public.get("/users/user0").status_code == 401
    assert public.post("/events", json=EVENT).status_code == 401


def test_tokens_file_scopes(run, tmp_path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# deployment tokens\nread  reader-token-0001\nread,write  writer-token-0002  # ingest job\n")
    http = client(run, tmp_path, token_env="LMREC_TEST_NO_TOKEN", tokens_file=str(tokens))
    assert http.get("/users/user0", headers=bearer("reader-token-0001")).status_code == 200
    assert http.post("/events", json=EVENT, headers=bearer("reader-token-0001")).status_code == 403
    assert http.post("/events", json=EVENT, headers=bearer("writer-token-0002")).status_code == 201


@pytest.mark.parametrize(("content", "message"), [
    ("read\n", "tokens.txt:1: expected 'SCOPES TOKEN'"),
    ("# ok\nread,superuser tok-1\n", "tokens.txt:2: unknown scope(s) ['superuser']"),
    ("read tok\u00e9n\n", "tokens.txt:1: a token must be 1-256 printable ASCII"),
])
def test_a_bad_tokens_file_names_its_line(run, tmp_path, content, message) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        client(run, tmp_path, tokens_file=str(tokens))
    assert message in str(error.value) and "tok\u00e9n" not in str(error.value)


@pytest.mark.parametrize("token", [" padded-token ", "t\u00f6ken", "two words", ""])
def test_a_token_that_could_never_authenticate_stops_the_start(run, tmp_path, monkeypatch, token) -> None:
    monkeypatch.setenv("LMREC_TEST_BAD_TOKEN", token)
    if not token:  # empty means unset: reads are then off, not broken
        assert client(run, tmp_path, token_env="LMREC_TEST_BAD_TOKEN").get("/users/user0").status_code == 403
        return
    with pytest.raises(ConfigError, match="LMREC_TEST_BAD_TOKEN: a token must be") as error:
        client(run, tmp_path, token_env="LMREC_TEST_BAD_TOKEN")
    assert token not in str(error.value)


def test_serve_cli_refuses_a_bad_port_and_a_bad_token_in_one_line(run, monkeypatch) -> None:
    result = CliRunner().invoke(cli_app, ["serve", str(run), "--port", "99999"])
    assert result.exit_code == 2 and "--port 99999" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("LMREC_API_TOKEN", "bad token")
    result = CliRunner().invoke(cli_app, ["serve", str(run), "--port", "8765"])
    assert result.exit_code == 2 and "LMREC_API_TOKEN" in result.output and "bad token" not in result.output


def test_url_tokens_are_redacted_from_the_access_log() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1", "GET", "/users/u1?k=3&token=s3cret&api_key=abc", "1.1", 400), None)
    RedactQueryTokens().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "abc" not in line and "token=***" in line and "k=3" in line
    assert "u1" not in line and "/users/***" in line  # user IDs in paths stay out of the access log too
    assert url_carries_token("a=1&TOKEN=2") and not url_carries_token("k=10&tokens_left=2")


def test_the_openapi_schema_names_each_route_scope(scoped) -> None:
    schema = scoped.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    for path, method, scope in (("/users/{user_id}", "get", "read"), ("/events", "post", "write"),
                                ("/recommend", "post", "read"), ("/items", "post", "write")):
        assert f"Scope: {scope}" in schema["paths"][path][method]["description"]
