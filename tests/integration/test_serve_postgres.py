"""Service replicas sharing one PostgreSQL event log: an event acknowledged by one is in the history the other
serves; a database that drops away is a 503 for that request, not a crash; a bad --events-url is one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import OCEAN, fit_toy_run, two_groups  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lmrec.cli import app as cli_app  # noqa: E402
from lmrec.online.event_logs import open_event_log  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

TOKEN = "pg-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def ease_run(tmp_path_factory) -> Path:
    return fit_toy_run(two_groups(), tmp_path_factory.mktemp("runs") / "ease", {"name": "ease", "reg_weight": 10})


def _replica(run: Path, folder: Path, url: str) -> TestClient:
    """A service on its own copy of the run (as on another machine), writing the shared log."""
    home = Path(shutil.copytree(run, folder / run.name))
    return TestClient(create_app(home, ServeConfig(token=TOKEN, event_log=url)), headers=AUTH,
                      raise_server_exceptions=False)


def test_two_replicas_serve_each_others_events(ease_run, tmp_path, postgres_url) -> None:
    a, b = _replica(ease_run, tmp_path / "a", postgres_url), _replica(ease_run, tmp_path / "b", postgres_url)
    stored = a.get("/users/user0").json()["history"]
    assert a.post("/events", json=[{"user_id": "user0", "item_id": i} for i in OCEAN[:3]]).status_code == 201
    assert b.get("/users/user0").json()["history"] == stored + OCEAN[:3]
    assert b.post("/events", json={"user_id": "user0", "item_id": OCEAN[3]}).status_code == 201
    assert a.get("/users/user0").json()["history"] == stored + OCEAN[:4]
    recommended = {row["item_id"] for row in b.post("/recommend", json={"user_id": "user0", "k": 40}).json()["items"]}
    assert not recommended & set(OCEAN[:4])  # what user0 did on either replica counts as seen on both
    assert b.post("/events", json={"user_id": "newcomer", "item_id": OCEAN[0]}).status_code == 201
    assert a.get("/users/newcomer").json()["history"] == [OCEAN[0]]
    with open_event_log(postgres_url) as log:
        assert log.count() == 5 and not (tmp_path / "a" / "ease" / "events.sqlite").exists()


def test_a_lost_database_is_a_503_then_the_service_resumes(ease_run, tmp_path, postgres_server, postgres_url
                                                           ) -> None:
    import psycopg

    client = _replica(ease_run, tmp_path, postgres_url)
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server, autocommit=True) as admin:  # the database goes away for everyone
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        response = client.post("/events", json={"user_id": "user0", "item_id": OCEAN[0]})
        assert response.status_code == 503 and "event log" in response.json()["detail"]
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
    assert client.post("/events", json={"user_id": "user0", "item_id": OCEAN[1]}).status_code == 201
    assert client.get("/users/user0").json()["history"][-1:] == [OCEAN[1]]


@pytest.mark.parametrize("url, says", [
    ("mysql://x@h/db", "expected postgresql://"),
    ("postgresql://someone:pw@127.0.0.1:1/none", "cannot connect"),
])
def test_a_bad_events_url_is_one_line(ease_run, url, says) -> None:
    pytest.importorskip("psycopg")
    result = CliRunner().invoke(cli_app, ["serve", str(ease_run), "--events-url", url])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert ":pw@" not in result.output
