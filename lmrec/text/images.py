"""Item vectors from local image files through a CLIP image tower, written as a vectors file that a model fuses
as one more modality (`model.item_vectors=FILE`, lmrec/data/vectors.py).

The tower is the image half of transformers' `CLIPModel` read from a local directory in the Hugging Face format
(OpenAI CLIP, LAION's open_clip models published in that format, a user's own): nothing is downloaded, weights
are read from safetensors only. open_clip itself needs torchvision, whose wheels on the project machines are CUDA
builds that do not load beside the CPU torch, so lmrec reads CLIP through transformers instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from lmrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
MAX_IMAGE_PIXELS = 64_000_000  # larger files are refused, not decoded (decompression bombs)


def find_images(images_dir: str | Path, items: Iterable[str] | None = None,
                paths: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Item ID -> image file inside `images_dir`.

    With `paths` (item ID -> a path relative to the folder, e.g. an items file's image column) those files;
    otherwise `<item_id>.<jpg|png|...>`, for `items` when given, else for every image file in the folder. A path
    that leaves the folder is refused; items without a file are left out (the caller reports how many).
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise DataError("images folder not found", source=str(root))
    root = root.resolve()
    found: dict[str, Path] = {}
    if paths is not None:
        for item, relative in paths.items():
            if not relative:
                continue
            candidate = (root / relative).resolve()
            if not candidate.is_relative_to(root):
                raise DataError(f"item {item!r}: image path {relative!r} leaves the images folder", source=str(root),
                                field="image")
            if candidate.is_file():
                found[item] = candidate
        return found
    by_stem: dict[str, Path] = {}
    for file in sorted(root.iterdir()):
        if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file() and file.resolve().is_relative_to(root):
            by_stem.setdefault(file.stem, file)
    if items is None:
        return by_stem
    return {item: by_stem[item] for item in items if item in by_stem}


class ClipImageEncoder:
    """Images -> L2-normalised CLIP image embeddings [n, d] (the projection CLIP matches to text). The text tower
    is loaded too (a CLIP folder holds both) and left unused."""

    def __init__(self, model_dir: str | Path, *, device: str = "cpu", batch_size: int = 32) -> None:
        import torch  # noqa: F401  (fail early with the import error, not inside a batch)
        from transformers import CLIPImageProcessorPil, CLIPModel
        from transformers.utils import logging as hf_logging

        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a CLIP model folder (no config.json); save one with "
                              "CLIPModel.save_pretrained or download it once, by hand")
        if not any(path.glob("*.safetensors")):
            raise ConfigError(f"{path}: CLIP weights must be safetensors (pickled .bin files are not read)")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            model, info = CLIPModel.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                                    output_loading_info=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: unreadable CLIP model ({type(exc).__name__}: {str(exc)[:160]})") from None
        finally:
            hf_logging.set_verbosity(verbosity)
        untrained = [k for k in (*info.get("missing_keys", ()), *info.get("mismatched_keys", ()))
                     if "vision" in str(k) or "visual" in str(k)]
        if untrained:
            raise ConfigError(f"{path}: the image tower's weights are incomplete ({str(untrained[0])[:80]} and "
                              f"{len(untrained) - 1} more); is this a CLIP checkpoint?")
        self.model = model.to(device).eval()
        if (path / "preprocessor_config.json").is_file():
            self.processor = CLIPImageProcessorPil.from_pretrained(path, local_files_only=True)
        else:
            size = int(self.model.config.vision_config.image_size)
            self.processor = CLIPImageProcessorPil(size={"shortest_edge": size},
                                                   crop_size={"height": size, "width": size})
        self.device = device
        self.batch_size = batch_size
        self.dim = int(self.model.config.projection_dim)

    def encode(self, files: list[Path], progress: Callable[[int], None] | None = None) -> np.ndarray:
        import torch

        out = np.zeros((len(files), self.dim), np.float32)
        for start in range(0, len(files), self.batch_size):
            chunk = files[start:start + self.batch_size]
            pixels = self.processor(images=[_read_image(f) for f in chunk], return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                found = self.model.get_image_features(pixel_values=pixels.to(self.device))
            embeds = found if isinstance(found, torch.Tensor) else found.pooler_output  # transformers 4 | 5
            out[start:start + len(chunk)] = torch.nn.functional.normalize(embeds.float(), dim=-1).cpu().numpy()
            if progress is not None:
                progress(len(chunk))
        return out


def _read_image(file: Path):
    """An RGB PIL image, or one line naming the file that is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DataError(f"image of {image.width}x{image.height} pixels is larger than the "
                                f"{MAX_IMAGE_PIXELS:,} allowed", source=str(file))
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise DataError(f"not a readable image ({type(exc).__name__})", source=str(file)) from None
