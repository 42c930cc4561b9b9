"""Item encoding on Ray Data: the texts go through `map_batches` to a pool of actors, each of which loads the
sentence encoder once and encodes the blocks it is given; rows carry their position, so the vectors come back in
the catalogue's order whatever order the blocks finish in.

`RayEncoder` is an `ItemEncoder` with the *same name* as the single-process `SentenceEncoder` of its config (the
vectors are the same), so it sits behind the same `CachedEncoder`: only texts the cache lacks go to the cluster,
and a later `lmrec fit` on one machine reads what the cluster encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from lmrec.text.base import EncoderConfig, Progress, check_texts
from lmrec.text.sentence import SentenceEncoder


class RayEncoder:
    """`ItemEncoder` that fans `encode` out to `workers` Ray actors (`threads` torch threads each). Needs a Ray
    session (lmrec.cluster.ray_session) around the calls."""

    def __init__(self, config: EncoderConfig, workers: int, *, threads: int = 1, block_size: int = 1024) -> None:
        self.config, self.workers, self.threads, self.block_size = config, int(workers), int(threads), int(block_size)
        self.local = SentenceEncoder(config)  # its name and dim; it never encodes here

    @property
    def name(self) -> str:
        return self.local.name

    @property
    def dim(self) -> int:
        return self.local.dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
               ) -> np.ndarray:
        """float32 [n, dim], row i for texts[i], as SentenceEncoder.encode gives it."""
        import ray.data

        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                   override_num_blocks=max(1, -(-len(texts) // self.block_size)))
        encoded = rows.map_batches(
            EncodingActor, fn_constructor_kwargs={"config": asdict(self.config), "threads": self.threads,
                                                  "batch_size": batch_size},
            batch_size=self.block_size, batch_format="numpy", concurrency=self.workers, num_cpus=self.threads)
        out = np.empty((len(texts), 0), dtype=np.float32)
        done = 0
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors = np.stack(batch["vector"]).astype(np.float32)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch["row"]] = vectors
            done += len(vectors)
            if progress is not None:
                progress(done, len(texts))
        return out


class EncodingActor:
    """One Ray actor: loads the encoder once, then encodes every block sent to it."""

    def __init__(self, config: dict[str, Any], threads: int, batch_size: int) -> None:
        import torch

        torch.set_num_threads(int(threads))
        self.encoder = SentenceEncoder(EncoderConfig(**config))
        self.batch_size = int(batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]], batch_size=self.batch_size)
        return {"row": batch["row"], "vector": list(vectors)}
