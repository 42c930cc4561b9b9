"""`lmrec pretrain`: an inductive text sequence model trained on one or several source catalogues."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lmrec.cli.common import (
    ConsoleReporter,
    DataDirOpt,
    DeviceOpt,
    ItemColOpt,
    OrderColOpt,
    SetOpt,
    TimeColOpt,
    UserColOpt,
    friendly,
    out,
)
from lmrec.errors import LmrecError


@friendly
def pretrain(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory to write.")],
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="Built-in source dataset "
                                                      "(repeatable).")] = None,
    interactions: Annotated[list[Path] | None, typer.Option("--interactions", help="Source interactions file "
                                                            "(repeatable; pairs with --items in order).")] = None,
    items: Annotated[list[Path] | None, typer.Option("--items", help="Source items file with text (repeatable).")
                     ] = None,
    data_dir: DataDirOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML config (sources, model, prepare).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    user_col: UserColOpt = None,
    item_col: ItemColOpt = None,
    timestamp_col: TimeColOpt = None,
    order_col: OrderColOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Pre-train an inductive text sequence model on one or several source catalogues (no item IDs: it
    transfers to catalogues it has never seen)."""
    from lmrec.config import merge, parse_overrides, read_yaml
    from lmrec.transfer.pretrain import pretrain as run_pretrain
    from lmrec.transfer.pretrain import resolve_pretrain_config

    interactions, items = interactions or [], items or []
    if len(interactions) != len(items):
        raise LmrecError(f"{len(interactions)} --interactions but {len(items)} --items: give one items file "
                         "(the text) per interactions file")
    columns = {k: v for k, v in {"user_col": user_col, "item_col": item_col, "timestamp_col": timestamp_col,
                                 "order_col": order_col}.items() if v is not None}
    sources: list[dict[str, Any]] = [{"dataset": name, **({"data_dir": str(data_dir)} if data_dir else {})}
                                     for name in dataset or []]
    sources += [{"interactions": str(f), "items": str(i), **columns}
                for f, i in zip(interactions, items, strict=True)]
    base = read_yaml(config) if config else {}
    tree = merge(base, {"sources": sources} if sources else {})
    if seed is not None:
        tree["seed"] = seed
    settings = resolve_pretrain_config(merge(tree, parse_overrides(set_ or [])))
    with ConsoleReporter() as progress:
        meta = run_pretrain(settings, out_dir, progress=progress, device=device)
    names = ", ".join(f"{s['name']} ({s['users']} users, {s['items']} items)" for s in meta["sources"])
    fit_log = meta["fit_log"] or {}
    out.print(f"pretrained [bold]{meta['model']}[/] on {names} in {meta['fit_seconds']:.1f}s; best validation "
              f"ndcg@10 {fit_log.get('best_valid') or float('nan'):.4f} -> {out_dir}")

