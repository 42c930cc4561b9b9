"""`lmrec pretrain-lm --items FILE --out DIR`: domain-adaptive pre-training of the item text encoder on a
catalogue's own text (masked-LM or SimCSE); DIR is a sentence model for `--set model.encoder.model=DIR`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import ConsoleReporter, friendly, out


@friendly
def pretrain_lm(
    items: Annotated[Path, typer.Option("--items", help="Items file (CSV/TSV/Parquet: item_id + text columns).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    model: Annotated[str, typer.Option(help="The sentence model to start from (name or local directory).")
                     ] = "all-MiniLM-L6-v2",
    objective: Annotated[str, typer.Option(help="mlm (masked-language-model) or simcse (dropout contrastive).")
                         ] = "mlm",
    text_col: Annotated[list[str] | None, typer.Option("--text-col", help="Text column (repeatable); default: "
                                                       "title/text/name/... or every string column.")] = None,
    epochs: Annotated[int, typer.Option(min=1, max=1000)] = 3,
    batch_size: Annotated[int, typer.Option(min=2, max=4096)] = 32,
    lr: Annotated[float, typer.Option(min=0.0, help="The encoder's learning rate.")] = 2e-5,
    max_length: Annotated[int, typer.Option(min=8, max=512, help="Word pieces per text.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads.")] = None,
) -> None:
    """Continue pre-training the item text encoder on the items' own text; writes a sentence model directory."""
    from lmrec.data.build import guess_text_fields
    from lmrec.data.readers import read_items
    from lmrec.data.types import Catalog
    from lmrec.errors import ConfigError
    from lmrec.text.pretrain import LMPretrainConfig, pretrain_language_model

    frame = read_items(items)
    fields = list(text_col) if text_col else guess_text_fields(frame)
    missing = [c for c in fields if c not in frame.columns]
    if missing or not fields:
        raise ConfigError(f"{items}: no text column {missing or ''}; columns: {list(frame.columns)} (--text-col)")
    texts = Catalog(frame, tuple(fields)).texts()
    digest = hashlib.sha256(Path(items).read_bytes()).hexdigest()
    config = LMPretrainConfig(model=model, objective=objective,  # type: ignore[arg-type]
                              epochs=epochs, batch_size=batch_size, lr=lr, max_length=max_length, seed=seed,
                              threads=threads,
                              extra={"items": str(items), "items_sha256": digest, "text_fields": fields})
    with ConsoleReporter() as report:
        info = pretrain_language_model(texts, out_dir, config,
                                       progress=lambda step, steps, loss: report(f"pretrain-lm {objective}", step,
                                                                                 steps))
    losses = ", ".join(f"{x:.3f}" for x in info["epoch_losses"])
    out.print(f"pre-trained {info['base_model']} ({objective}) on {info['texts']} texts in {info['seconds']:.0f}s; "
              f"loss per epoch {losses}; wrote {out_dir} (use --set model.encoder.model={out_dir})",
              soft_wrap=True, highlight=False, markup=False)
