"""On a machine with a CUDA GPU: `--device auto` picks it, a sequence model trains there (and still learns), and
the service serves it from the GPU with the scores the CPU gives. Skipped with the reason elsewhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lmrec.data.types import Histories
from lmrec.device import resolve_device
from lmrec.models.registry import create_model
from lmrec.models.sequence import SEQUENCE_TINY
from lmrec.pipeline import load_run
from lmrec.testing.toy import ring_data

pytestmark = pytest.mark.gpu
TFIDF = {"kind": "tfidf", "tfidf_dim": 16}


def test_auto_picks_the_gpu() -> None:
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("name", ["sasrec", "sasrec-fused", "gru4rec", "lstm4rec"])
def test_a_sequence_model_trains_on_the_gpu_and_learns_the_ring(name: str) -> None:
    ring = ring_data()
    model = create_model(name, {**SEQUENCE_TINY, "encoder": TFIDF}).to(torch.device("cuda"))
    model.fit(ring.split.train, valid=ring.split.valid, catalog=ring.dataset.catalog)
    assert all(p.device.type == "cuda" for p in model.module_.parameters())
    assert model.score(ring.queries).device.type == "cuda"
    hit_rate = float((model.recommend(ring.queries, 1).items[:, 0] == ring.answers).mean())
    assert hit_rate > 0.9


def test_the_service_serves_a_gpu_trained_model_from_the_gpu(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from toy_runs import two_groups

    from lmrec.pipeline import build_config, fit_run
    from lmrec.serve import ServeConfig, create_app

    model = {"name": "sasrec-fused", "dim": 16, "layers": 1, "heads": 1, "max_len": 10, "encoder": TFIDF,
             "train": {"epochs": 3, "batch_size": 32}}
    config = build_config(None, {"data": {"interactions": "toy.csv"}, "model": model})
    meta = fit_run(config, tmp_path / "run", dataset=two_groups(), device="cuda")
    assert meta["device"].startswith("cuda")
    home = Path(shutil.copytree(tmp_path / "run", tmp_path / "served"))
    client = TestClient(create_app(home, ServeConfig(token="t", device="cuda")),
                        headers={"Authorization": "Bearer t"})
    served = client.app.state.serving.snapshot.model
    assert served.device.type == "cuda" and next(served.module_.parameters()).device.type == "cuda"
    answer = client.post("/recommend", json={"user_id": "user0", "k": 5})
    assert answer.status_code == 200 and len(answer.json()["items"]) == 5
    added = client.post("/items", json={"item_id": "new", "text": "red apple fruit"},
                        headers={"Authorization": "Bearer t"})
    assert added.status_code == 201, added.text
    cpu = load_run(tmp_path / "run", device="cpu").model
    query = Histories.from_lists([[0, 1, 2]])
    np.testing.assert_allclose(cpu.score(query).numpy(), load_run(tmp_path / "run", device="cuda").model.score(
        query).cpu().numpy(), rtol=1e-3, atol=1e-3)
