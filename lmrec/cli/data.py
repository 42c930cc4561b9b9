"""`lmrec data info`: what is in a dataset or file; `lmrec data drift`: how interests move over time;
`lmrec data images`: item images -> a vectors file through a local CLIP model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lmrec.cli.common import ConsoleReporter, DataDirOpt, DatasetOpt, InterOpt, ItemsOpt, friendly, out


@friendly
def data_info(
    source: Annotated[str, typer.Argument(help="Built-in dataset name or an interactions file.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Statistics of a dataset or file: counts, density, time range, text coverage, checksums."""
    from lmrec.data import dataset_info

    info = dataset_info(source, data_dir=str(data_dir) if data_dir else None)
    table = Table(title=str(source))
    table.add_column("field")
    table.add_column("value", justify="right")
    files = info.pop("files", None) or {}
    for key, value in info.items():
        table.add_row(str(key), f"{value:.6g}" if isinstance(value, float) else str(value))
    out.print(table)
    if files:
        checks = Table(title="files")
        for column in ("file", "bytes", "sha256", "checksum"):
            checks.add_column(column)
        for name, entry in files.items():
            pinned = entry.get("pinned")
            verdict = "not pinned" if not pinned else ("ok" if entry.get("matches_pin") else "MISMATCH")
            checks.add_row(name, str(entry.get("bytes")), str(entry.get("sha256", ""))[:16], verdict)
        out.print(checks)


@friendly
def data_drift(
    dataset: DatasetOpt = None,
    interactions: InterOpt = None,
    items: ItemsOpt = None,
    data_dir: DataDirOpt = None,
    field: Annotated[str | None, typer.Option(help="Categorical item field (default: the catalogue's first).")] = None,
    periods: Annotated[int, typer.Option(min=2, help="Equal-count periods of time.")] = 5,
) -> None:
    """Interest drift per period: the share of users' choices outside the categories they chose before."""
    from datetime import datetime, timezone

    from lmrec.data.config import DataConfig, load_data
    from lmrec.eval.drift import drift_report

    config = DataConfig(dataset=dataset, interactions=str(interactions) if interactions else None,
                        items=str(items) if items else None, data_dir=str(data_dir) if data_dir else None)
    config.check()
    loaded = load_data(config)
    table = Table(title=f"interest drift: {loaded.name}")
    for column in ("period", "from", "users", "events", "outside earlier categories", "new items"):
        table.add_column(column, justify="right")
    day = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")  # noqa: E731
    for row in drift_report(loaded, field=field, periods=periods):
        table.add_row(str(row.period), day(row.start), str(row.users), str(row.events), f"{row.outside_share:.3f}",
                      f"{row.new_item_share:.3f}")
    out.print(table)


@friendly
def data_images(
    images_dir: Annotated[Path, typer.Argument(help="Folder of item images: <item_id>.jpg/.png/... or, with "
                                               "--image-col, the paths an items file names.")],
    clip: Annotated[Path, typer.Option(help="Local CLIP model folder in the Hugging Face format (safetensors).")],
    out_file: Annotated[Path, typer.Option("--out", help="Vectors file to write (.npz: ids, vectors).")],
    items: ItemsOpt = None,
    image_col: Annotated[str | None, typer.Option(help="Items-file column with each item's image path, relative "
                                                       "to the images folder.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024)] = 32,
) -> None:
    """Encode item images with a local CLIP image tower into a vectors file for `--set model.item_vectors=FILE`."""
    from lmrec.data.readers import read_items
    from lmrec.data.vectors import write_item_vectors
    from lmrec.errors import ConfigError
    from lmrec.text.images import ClipImageEncoder, find_images

    if image_col and items is None:
        raise ConfigError("--image-col names a column of the items file: give --items FILE too")
    wanted, paths = None, None
    if items is not None:
        frame = read_items(items)
        wanted = frame["item_id"].astype(str).tolist()
        if image_col:
            if image_col not in frame.columns:
                raise ConfigError(f"--image-col {image_col!r}: no such column in {items}; columns: "
                                  f"{list(frame.columns)}")
            paths = dict(zip(wanted, frame[image_col].fillna("").astype(str), strict=True))
    found = find_images(images_dir, wanted, paths)
    if not found:
        raise ConfigError(f"{images_dir}: no image found for any item")
    encoder = ClipImageEncoder(clip, batch_size=batch_size)
    ids = list(found)
    with ConsoleReporter() as report:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            report("images", done[0], len(ids))

        vectors = encoder.encode([found[i] for i in ids], progress=step)
    write_item_vectors(out_file, ids, vectors)
    missing = f"; {len(wanted) - len(ids)} of {len(wanted)} items have no image" if wanted is not None else ""
    out.print(f"wrote {len(ids)} image vectors of dimension {vectors.shape[1]} to {out_file}{missing}",
              soft_wrap=True, highlight=False, markup=False)
