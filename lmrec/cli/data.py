"""`lmrec data info`: what is in a dataset or file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lmrec.cli.common import DataDirOpt, friendly, out


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
