"""`lmrec distill TEACHER_RUN --out RUN`: a small student (by default an ID-only 1-layer SASRec of dimension 32,
no language model at serve time) trained on the teacher's split with the teacher's softmax as an extra target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import ConsoleReporter, SetOpt, TensorBoardOpt, friendly, out


@friendly
def distill(
    teacher: Annotated[Path, typer.Argument(help="The teacher: a sequence-model run written by `lmrec fit`.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (new or empty).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The student: a registered sequence model.")
                     ] = "sasrec",
    weight: Annotated[float, typer.Option(help="Weight of the distillation loss beside the next-item loss; 0 "
                                          "trains the same student without the teacher.")] = 1.0,
    temperature: Annotated[float, typer.Option(help="Softmax temperature of both models in the distillation "
                                               "loss.")] = 2.0,
    set_: SetOpt = None,
    tensorboard: TensorBoardOpt = None,
) -> None:
    """Distil a teacher run into a small student run (student config: --set model.dim=32 ...)."""
    from lmrec.config import parse_overrides
    from lmrec.errors import LmrecError
    from lmrec.pipeline.distill import distill_run

    overrides = parse_overrides(set_ or [])
    unknown = sorted(set(overrides) - {"model"})
    if unknown:
        raise LmrecError(f"--set {unknown[0]}...: distill takes model.* keys only (the student's config)")
    if weight < 0 or temperature <= 0:
        raise LmrecError(f"--weight {weight} / --temperature {temperature}: need weight >= 0 and temperature > 0")
    with ConsoleReporter() as progress:
        meta = distill_run(teacher, out_dir, student=model, overrides=overrides.get("model", {}), weight=weight,
                           temperature=temperature, progress=progress, tensorboard=tensorboard)
    counts = meta["distillation"]["parameters"]
    out.print(f"student {model}: {counts['student']['total']:,} parameters (teacher {counts['teacher']['total']:,}, "
              f"language model included); wrote {out_dir}", soft_wrap=True)
    if tensorboard is not None:
        out.print(f"training curves: tensorboard --logdir {tensorboard}", soft_wrap=True)
