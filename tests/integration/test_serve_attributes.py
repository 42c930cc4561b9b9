"""A model that reads user attributes is served with them: /recommend for a named user ranks as the model does
for that user's history and attributes (coalesced or not)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from toy_runs import fit_toy_run, two_groups  # noqa: E402

from lmrec.data.types import Histories  # noqa: E402
from lmrec.pipeline import load_run  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def attr_run(tmp_path_factory):
    dataset = two_groups()
    users = pd.DataFrame({"user_id": dataset.users.raw, "taste": [f"t{int(u[4:]) % 2}" for u in dataset.users.raw],
                          "age": np.arange(dataset.n_users) % 50 + 18})
    dataset = dataclasses.replace(dataset, user_attributes=users)
    model = {"name": "sasrec-attr", "dim": 16, "layers": 1, "heads": 1, "max_len": 10, "dropout": 0.1,
             "encoder": {"kind": "tfidf", "tfidf_dim": 16},
             "train": {"epochs": 6, "threads": 1, "batch_size": 32, "precision": "float32", "patience": 100}}
    return fit_toy_run(dataset, tmp_path_factory.mktemp("runs") / "attr", model)


@pytest.mark.parametrize("coalesce", [1, 8])
def test_a_named_user_is_ranked_with_their_attributes(attr_run, coalesce: int) -> None:
    run = load_run(attr_run)
    client = TestClient(create_app(attr_run, ServeConfig(token=TOKEN, coalesce=coalesce)), headers=AUTH)
    user = "user3"
    index = run.users.index(user)
    plain = Histories.from_lists([run.history.row(index)])
    named = dataclasses.replace(plain, users=np.asarray([index]))
    expected = run.items.to_raw(run.model.recommend(named, 5).items[0]).tolist()
    anonymous = run.items.to_raw(run.model.recommend(plain, 5).items[0]).tolist()
    response = client.post("/recommend", json={"user_id": user, "k": 5})
    assert response.status_code == 200, response.text
    served = [row["item_id"] for row in response.json()["items"]]
    assert served == expected
    assert run.model.score(named).tolist() != run.model.score(plain).tolist()  # the attributes do change scores
    assert len(anonymous) == 5


def test_erasing_a_user_removes_their_attributes_from_the_model(attr_run, tmp_path) -> None:
    import shutil

    from lmrec.online.erasure import forget_user

    run_dir = Path(shutil.copytree(attr_run, tmp_path / "copy"))
    before = load_run(run_dir)
    index = before.users.index("user5")
    assert before.model.module_.users.codes[index].gt(0).any()
    forget_user(run_dir, "user5")
    after = load_run(run_dir)
    assert not after.model.module_.users.codes[index].gt(0).any()
    assert after.model.module_.users.codes[index + 1].gt(0).any()  # nobody else's
    query = Histories(np.full((1, 1), -1), np.zeros(1, np.int64), users=np.asarray([index]))
    anonymous = Histories(np.full((1, 1), -1), np.zeros(1, np.int64))
    assert after.model.score(query).tolist() == after.model.score(anonymous).tolist()
