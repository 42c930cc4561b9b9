"""A persistent vector cache in front of any `ItemEncoder`: unchanged item texts are never encoded twice.

Layout: `<cache_dir>/<encoder-slug>-<sha256(name)[:16]>/` holds immutable shards `<time>-<uuid>.safetensors`,
each with `keys` (uint8 [m, 32], sha256 of the text) and `vectors` (float32 [m, dim]). The shards' key tensors
are the index, rebuilt in memory on open: there is no shared mutable index file, so two processes writing at
once can never lose each other's entries. Every file is written to a temp name and renamed into place
(atomic), so a crash leaves either a whole shard or none. Past `max_shards` shards, the writer merges them
into one and deletes the merged ones; concurrent merges are harmless: each merged shard holds all it deletes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmrec.io import atomic_write, atomic_write_json
from lmrec.text.base import ItemEncoder, Progress, check_texts, text_key

log = logging.getLogger(__name__)

FORMAT = "lmrec-vectors-v1"


class CachedEncoder:
    """`ItemEncoder` looking each text up by (encoder name, sha256(text)); only misses go to `encoder`.

    The encoder's `name` must change whenever its vectors would (model files, precision, fitted state): every
    lmrec encoder's does. Misses are encoded in chunks of `chunk_size` and stored after each, so a long run
    that is interrupted resumes where it stopped. `last_hits` / `last_misses` count unique texts of the last
    call.
    """

    def __init__(self, encoder: ItemEncoder, cache_dir: str | Path, *, chunk_size: int = 8192,
                 max_shards: int = 32) -> None:
        self.encoder = encoder
        self.cache_dir = Path(cache_dir).expanduser()
        self.chunk_size, self.max_shards = int(chunk_size), int(max_shards)
        self.last_hits = self.last_misses = 0
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shards: set[str] = set()
        self._unreadable: set[str] = set()
        self._directory: Path | None = None

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def directory(self) -> Path:
        """This encoder's folder inside the cache."""
        if self._directory is None:
            name = self.encoder.name
            slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
            self._directory = self.cache_dir / f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
        return self._directory

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
               ) -> np.ndarray:
        """float32 [n, dim], identical to the wrapped encoder's output for each text (cached or fresh)."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        self._refresh()
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._index}
        unique = len(set(keys))
        self.last_misses, self.last_hits = len(missing), unique - len(missing)
        fresh = self._encode_missing(list(missing.items()), batch_size, progress, len(texts))
        for attempt in range(3):
            try:
                return self._assemble(keys, fresh)
            except FileNotFoundError:  # another process merged shards under us: re-read the index
                if attempt == 2:
                    raise
                self._refresh(full=True)
        raise AssertionError("unreachable")

    def _encode_missing(self, items: list[tuple[bytes, str]], batch_size: int, progress: Progress | None,
                        total: int) -> dict[bytes, np.ndarray]:
        fresh: dict[bytes, np.ndarray] = {}
        base = total - len(items)
        for start in range(0, len(items), self.chunk_size):
            chunk = items[start:start + self.chunk_size]
            report = None if progress is None else (
                lambda done, _n, s=start: progress(base + s + done, total))
            vectors = self.encoder.encode([t for _, t in chunk], batch_size=batch_size, progress=report)
            keys = [k for k, _ in chunk]
            fresh.update(zip(keys, vectors, strict=True))
            self._write_shard(keys, vectors)
        if progress is not None and not items:
            progress(total, total)
        if items:
            self._maybe_compact()
        return fresh

    def _assemble(self, keys: list[bytes], fresh: dict[bytes, np.ndarray]) -> np.ndarray:
        from safetensors import safe_open

        wanted: dict[str, list[tuple[int, int]]] = {}
        for position, key in enumerate(keys):
            if key not in fresh:
                shard, row = self._index[key]
                wanted.setdefault(shard, []).append((position, row))
        dim = len(next(iter(fresh.values()))) if fresh else None
        rows_out: dict[int, np.ndarray] = {}
        for shard, pairs in wanted.items():
            rows = np.asarray([r for _, r in pairs])
            lo, hi = int(rows.min()), int(rows.max()) + 1
            with safe_open(str(self.directory / shard), framework="numpy") as handle:
                block = handle.get_slice("vectors")[lo:hi]  # only the covering range is read
            for (position, _), vector in zip(pairs, block[rows - lo], strict=True):
                rows_out[position] = vector
            dim = block.shape[1]
        out = np.empty((len(keys), dim if dim is not None else self.dim), dtype=np.float32)
        for position, key in enumerate(keys):
            out[position] = fresh[key] if key in fresh else rows_out[position]
        return out

    def _refresh(self, *, full: bool = False) -> None:
        """Bring the in-memory index up to date with the shards on disk (all of them when some vanished)."""
        names = set(self._list_shards())
        if full or (self._shards - names):
            self._index, self._shards = {}, set()
        for name in sorted(names - self._shards - self._unreadable):
            keys = self._read_keys(name)
            if keys is None:
                self._unreadable.add(name)
            else:
                self._index.update((bytes(k), (name, row)) for row, k in enumerate(keys))
                self._shards.add(name)

    def _list_shards(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.glob("*.safetensors") if not p.name.startswith("."))

    def _read_keys(self, name: str) -> np.ndarray | None:
        from safetensors import safe_open

        try:
            with safe_open(str(self.directory / name), framework="numpy") as handle:
                meta = handle.metadata() or {}
                if meta.get("format") != FORMAT or meta.get("encoder") != self.encoder.name:
                    log.warning("skipping vector shard %s: written by another format or encoder", name)
                    return None
                return handle.get_tensor("keys")
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged file must not stop encoding
            log.warning("skipping unreadable vector shard %s: %s", self.directory / name, exc)
            return None

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> str:
        from safetensors.numpy import save_file

        directory = self.directory
        if not (directory / "encoder.json").exists():
            atomic_write_json(directory / "encoder.json", {"name": self.encoder.name, "format": FORMAT})
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.safetensors"
        tensors = {"keys": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32),
                   "vectors": np.ascontiguousarray(vectors, dtype=np.float32)}
        metadata = {"format": FORMAT, "encoder": self.encoder.name, "dim": str(tensors["vectors"].shape[1])}
        atomic_write(directory / name, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        self._index.update((key, (name, row)) for row, key in enumerate(keys))
        self._shards.add(name)
        return name

    def _maybe_compact(self) -> None:
        """Merge all shards into one once there are more than `max_shards`; later shards win on duplicates."""
        from safetensors import safe_open

        names = self._list_shards()
        if len(names) <= self.max_shards:
            return
        merged: dict[bytes, np.ndarray] = {}
        read: list[str] = []
        for name in names:
            try:
                with safe_open(str(self.directory / name), framework="numpy") as handle:
                    if (handle.metadata() or {}).get("encoder") != self.encoder.name:
                        continue
                    keys, vectors = handle.get_tensor("keys"), handle.get_tensor("vectors")
                    merged.update(zip(map(bytes, keys), vectors, strict=True))
                read.append(name)
            except FileNotFoundError:
                continue  # merged away by another process; its content lives in that process's shard
            except Exception as exc:  # noqa: BLE001 - leave a damaged shard alone, merge the rest
                log.warning("not merging unreadable vector shard %s: %s", name, exc)
        if not merged:
            return
        self._write_shard(list(merged), np.stack(list(merged.values())))
        for name in read:
            (self.directory / name).unlink(missing_ok=True)
        self._refresh(full=True)
