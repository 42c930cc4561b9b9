"""`lmrec synth`: a synthetic interaction log and catalogue of any size, for scale tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import friendly, out


@friendly
def synth(
    events: Annotated[int, typer.Option(min=1, help="Interactions to generate.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for interactions.parquet, items.csv and "
                                          "synth.json.")],
    users: Annotated[int | None, typer.Option(min=1, help="Users (default: events / 50).")] = None,
    items: Annotated[int | None, typer.Option(min=1, help="Items (default: events / 100, at least 50).")] = None,
    topics: Annotated[int, typer.Option(min=1, help="Interest topics (each with its own item vocabulary).")] = 20,
    zipf: Annotated[float, typer.Option(help="Popularity exponent inside a topic.")] = 1.1,
    drift: Annotated[float, typer.Option(help="Chance a session moves the user to another topic.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Power-law popularity, heavy-tailed users, sessions, interest drift and templated item text; `lmrec fit
    --interactions OUT/interactions.parquet --items OUT/items.csv` reads it."""
    from lmrec.data.synth import SynthConfig, write_synth

    config = SynthConfig(events=events, users=users, items=items, topics=topics, zipf=zipf, drift=drift, seed=seed)
    info = write_synth(config, out_dir)
    out.print(f"wrote {info['events']} events of {info['users']} users on {info['items']} items to {out_dir}",
              soft_wrap=True)
