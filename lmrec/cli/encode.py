"""`lmrec encode --items FILE --out VECTORS.npz [--workers N]`: item texts -> LM vectors, once, for any later fit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import ConsoleReporter, ItemsOpt, friendly, out


@friendly
def encode(
    items: ItemsOpt,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Vectors file to write (.npz: ids, vectors); "
                                           "`--set model.item_vectors=FILE` reads it.")],
    model: Annotated[str | None, typer.Option(help="Sentence encoder (name or local folder); default "
                                              "all-MiniLM-L6-v2.")] = None,
    template: Annotated[str | None, typer.Option(help="Item text template, e.g. '{title}. Brand: {brand}'.")] = None,
    precision: Annotated[str, typer.Option(help="float32, bf16 or int8.")] = "float32",
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Texts per forward pass.")] = 64,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Encode on Ray Data with this many actors, each loading the encoder once (needs `pip install "
                    "'lmrec[ray]'`). Without it: this process.")] = None,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="With --workers: the Ray cluster to "
                                                    "join. Default: a private local instance.")] = None,
    threads_per_worker: Annotated[int, typer.Option(min=1, help="With --workers: torch threads per actor.")] = 1,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Read and fill the vector cache (a later fit "
                                        "with the same encoder reuses the vectors).")] = True,
) -> None:
    """Encode every item's text with the sentence encoder, in this process or on a Ray cluster: the same vectors
    either way (and the same cache entries)."""
    from lmrec.data.build import catalog_from_items
    from lmrec.data.readers import read_items
    from lmrec.data.vectors import write_item_vectors
    from lmrec.errors import ConfigError
    from lmrec.text.base import DEFAULT_MODEL, EncoderConfig
    from lmrec.text.cache import CachedEncoder
    from lmrec.text.sentence import SentenceEncoder

    if ray_address is not None and workers is None:
        raise ConfigError("--ray-address needs --workers N (how many encoding actors to start there)")
    if items is None:
        raise ConfigError("--items FILE is required: the catalogue to encode")
    if out_file.suffix.lower() != ".npz":
        raise ConfigError(f"--out {out_file}: item vectors are written as .npz (arrays ids, vectors)")
    catalog = catalog_from_items(read_items(items), str(items))
    config = EncoderConfig(model=model or DEFAULT_MODEL, precision=precision, batch_size=batch_size,  # type: ignore[arg-type]
                           template=template)
    texts = catalog.texts(template)
    started = time.perf_counter()
    with ConsoleReporter() as report:
        step = lambda done, total: report("encode", done, total)  # noqa: E731
        if workers is None:
            encoder = SentenceEncoder(config)
            vectors = (CachedEncoder(encoder, config.resolved_cache_dir()) if cache else encoder).encode(
                texts, batch_size=batch_size, progress=step)
        else:
            from lmrec.cluster import ray_session
            from lmrec.text.distributed import RayEncoder

            with ray_session(ray_address, cpus=workers * threads_per_worker):
                encoder = RayEncoder(config, workers, threads=threads_per_worker)
                vectors = (CachedEncoder(encoder, config.resolved_cache_dir()) if cache else encoder).encode(
                    texts, batch_size=batch_size, progress=step)
    seconds = time.perf_counter() - started
    write_item_vectors(out_file, catalog.frame["item_id"].astype(str).tolist(), vectors)
    where = f"{workers} Ray workers" if workers else "this process"
    out.print(f"encoded {len(texts)} items ({vectors.shape[1]} dimensions) on {where} in {seconds:.1f}s "
              f"({len(texts) / max(seconds, 1e-9):.0f} items/s) -> {out_file}", soft_wrap=True, highlight=False,
              markup=False)
