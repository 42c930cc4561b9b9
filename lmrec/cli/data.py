"""`lmrec data info`: what is in a dataset or file; `lmrec data drift`: how interests move over time."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lmrec.cli.common import DataDirOpt, DatasetOpt, InterOpt, ItemsOpt, friendly, out


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
