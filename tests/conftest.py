"""Shared test setup: offline model hubs, one thread per process, an isolated lmrec cache, the shared data."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

try:
    import torch
except ImportError:  # pragma: no cover - torch is a dependency, but the data tests do not need it
    torch = None
if torch is not None:
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run where torch sees a CUDA GPU and are skipped, with the reason, everywhere else."""
    if torch is not None and torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets in ../shared/data (or $LMREC_SHARED_DATA); the test is skipped when absent."""
    path = Path(os.environ.get("LMREC_SHARED_DATA") or Path(__file__).parents[1].parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"shared data folder not found: {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_lmrec_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's ~/.cache/lmrec or picks up their LMREC_DATA_DIR."""
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path_factory.mktemp("lmrec-cache")))
    monkeypatch.delenv("LMREC_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL server for the session (lmrec.testing.postgres); skipped, with the reason, where none
    can start (no server binaries, no psycopg)."""
    from lmrec.testing.postgres import TemporaryPostgres, unavailable

    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no PostgreSQL server: {reason}")
    with TemporaryPostgres() as url:
        yield url


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The URL of a new, empty database on the session's server (one per test)."""
    import psycopg

    name = f"test{next(_databases)}"
    with psycopg.connect(postgres_server, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + "/" + name
