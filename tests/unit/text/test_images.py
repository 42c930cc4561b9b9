"""Item images -> CLIP image vectors -> the vectors file a fused model reads. The CLIP model here is a tiny
randomly initialised one (no real weights ship offline): the plumbing is tested, not the quality of CLIP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.data.types import IdMap
from lmrec.data.vectors import read_item_vectors
from lmrec.errors import ConfigError, DataError
from lmrec.text.images import ClipImageEncoder, find_images

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 30, 230)}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": 100, "max_position_embeddings": 16},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 16},
        projection_dim=8)
    folder = tmp_path_factory.mktemp("clip")
    CLIPModel(config).save_pretrained(folder)  # safetensors by default
    return folder


@pytest.fixture()
def images(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for name, colour in COLOURS.items():
        Image.new("RGB", (40, 30), colour).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_images_are_found_by_item_id_and_paths_stay_inside(images) -> None:
    assert sorted(find_images(images)) == ["blue", "green", "red"]
    assert sorted(find_images(images, items=["red", "absent"])) == ["red"]
    assert find_images(images, paths={"x": "red.png", "y": "missing.png"}) == {"x": (images / "red.png").resolve()}
    with pytest.raises(DataError, match="leaves the images folder"):
        find_images(images, paths={"x": "../../etc/passwd"})


def test_the_encoder_gives_one_unit_vector_per_image(clip_dir, images) -> None:
    encoder = ClipImageEncoder(clip_dir, batch_size=2)
    files = [images / "red.png", images / "green.png", images / "red.png"]
    vectors = encoder.encode(files)
    assert vectors.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


def test_bad_images_and_models_get_one_clear_line(clip_dir, images, tmp_path) -> None:
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        ClipImageEncoder(clip_dir).encode([images / "broken.png"])
    with pytest.raises(ConfigError, match="not a CLIP model folder"):
        ClipImageEncoder(tmp_path)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((clip_dir / "config.json").read_text())
    with pytest.raises(ConfigError, match="must be safetensors"):
        ClipImageEncoder(pickled)


def test_the_command_writes_a_file_the_models_read(clip_dir, images, tmp_path) -> None:
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["i1", "i2", "i3"], "picture": ["red.png", "blue.png", ""]}).to_csv(items, index=False)
    out = tmp_path / "vectors.npz"
    result = CliRunner().invoke(app, ["data", "images", str(images), "--clip", str(clip_dir), "--out", str(out),
                                      "--items", str(items), "--image-col", "picture"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 image vectors of dimension 8" in result.output and "1 of 3 items have no image" in result.output
    vectors, present = read_item_vectors(out, IdMap(np.asarray(["i1", "i2", "i3"])))
    assert present.tolist() == [True, True, False] and vectors.shape == (3, 8)
    refused = CliRunner().invoke(app, ["data", "images", str(images), "--clip", str(clip_dir), "--out",
                                       str(tmp_path / "v.npy")])
    assert refused.exit_code == 2 and "written as .npz" in refused.output
