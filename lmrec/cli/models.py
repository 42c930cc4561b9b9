"""`lmrec models`: the registered models, what each can do, and the sequence nets and losses to build from."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lmrec.cli.common import friendly, out


@friendly
def models(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Capabilities, nets and losses too.")] = False,
) -> None:
    """List the registered models (one name a line; -v adds what each declares)."""
    from lmrec.models.registry import get_model, model_names

    if not verbose:
        for name in model_names():
            out.print(name)
        return
    from lmrec.models.sequence import net_names
    from lmrec.train.losses import loss_names

    table = Table(title="registered models")
    for column in ("model", "what", "capabilities"):
        table.add_column(column)
    for name in model_names():
        entry = get_model(name)
        table.add_row(name, entry.summary, ", ".join(entry.capabilities))
    out.print(table)
    out.print(f"sequence nets (model.net): {', '.join(net_names())}")
    out.print(f"losses (model.loss): {', '.join(loss_names())}")
