"""One way new items join a model: POST /items in the service and the cold-start protocol's placement give the
same vector for the same item text, for a fine-tuned language model (LoRA) and for a refitted TF-IDF encoder."""

from __future__ import annotations

import copy
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("peft")
from fastapi.testclient import TestClient  # noqa: E402

from lmrec.eval.coldstart import ColdStartData, place_items  # noqa: E402
from lmrec.models.growth import new_item_encoder  # noqa: E402
from lmrec.pipeline import fit_run, load_run  # noqa: E402
from lmrec.pipeline.transfer import transfer_config  # noqa: E402
from lmrec.serve import ServeConfig, create_app  # noqa: E402
from lmrec.testing.toy import block_data  # noqa: E402
from lmrec.text.encoder import catalogue_encoder  # noqa: E402
from lmrec.text.trainable import TunedTextEncoder  # noqa: E402
from lmrec.transfer import pretrain, resolve_pretrain_config  # noqa: E402

AUTH = {"Authorization": "Bearer t"}
NEW_TEXT = "a new rocket to a far planet, with aliens"  # words the toy catalogue knows (TF-IDF)
SMALL = {"dim": 16, "max_len": 8, "experts": 2, "train": {"epochs": 4, "batch_size": 32, "threads": 1}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A LoRA-tuned transfer run (its vectors come from the tuned LM) and a TF-IDF text run."""
    root = tmp_path_factory.mktemp("new-items")
    source, target = block_data(n_blocks=2, seed=0), block_data(n_blocks=2, seed=1)
    pretrain(resolve_pretrain_config({"sources": [{"dataset": "toy"}], "model": SMALL}), root / "pre",
             datasets=[source.dataset], device="cpu")
    config = transfer_config(root / "pre", {"dataset": "toy"}, finetune="lora",
                             overrides={"model": {"train": {"epochs": 1}}})
    fit_run(config, root / "lora", dataset=target.dataset, device="cpu")
    tfidf = transfer_config(root / "pre", {"dataset": "toy"}, overrides={"model": {"name": "sasrec-text"}})
    tfidf = replace(tfidf, model=replace(tfidf.model, params={
        "dim": 16, "max_len": 8, "encoder": {"kind": "tfidf", "tfidf_dim": 16}, "train": {"epochs": 2, "threads": 1}}))
    fit_run(tfidf, root / "tfidf", dataset=target.dataset, device="cpu")
    return {"lora": root / "lora", "tfidf": root / "tfidf"}


def served_vector(run_dir: Path, tmp_path: Path) -> torch.Tensor:
    home = Path(shutil.copytree(run_dir, tmp_path / f"served-{run_dir.name}"))
    client = TestClient(create_app(home, ServeConfig(token="t")), headers={"Authorization": "Bearer t"})
    answer = client.post("/items", json={"item_id": "brand-new", "text": NEW_TEXT}, headers=AUTH)
    assert answer.status_code == 201, answer.text
    model = client.app.state.serving.snapshot.model
    return model.text_vectors[-1].clone()


def cold_start_vector(run_dir: Path) -> torch.Tensor:
    """The cold-start protocol's placement (`place_items`) of the same text into the same trained model."""
    run = load_run(run_dir)
    model = copy.deepcopy(run.model)
    n = len(run.items)
    new_catalog = replace(run.catalog, frame=run.catalog.frame.iloc[:1].assign(
        **{field: "" for field in run.catalog.text_fields}).assign(**{run.catalog.text_fields[0]: NEW_TEXT}))
    data = ColdStartData(dataset=None, config=None, split=None, train=None, valid=None, test=None,
                         order=np.arange(n + 1), n_known=n, known_catalog=run.catalog, new_catalog=new_catalog)
    scorer, placed = place_items(model, data)
    assert placed and scorer is model and model.n_items_ == n + 1
    return model.text_vectors[-1].clone()


@pytest.mark.parametrize("kind", ["lora", "tfidf"])
def test_service_and_cold_start_place_a_new_item_identically(runs, kind: str, tmp_path: Path) -> None:
    run = load_run(runs[kind])
    encoder = new_item_encoder(run.model, run.catalog)
    assert isinstance(encoder, TunedTextEncoder) == (kind == "lora")  # the fine-tuned LM encodes new items
    served, placed = served_vector(runs[kind], tmp_path), cold_start_vector(runs[kind])
    assert torch.count_nonzero(served) > 0
    assert torch.equal(served, placed)
    if kind == "lora":  # the tuned LM really differs from the base model the config names
        base = catalogue_encoder(run.model.config.encoder, run.catalog).encode([NEW_TEXT])[0]
        assert not torch.allclose(served, torch.from_numpy(base), atol=1e-6)
