"""The `lmrec` command line: one module per verb (each a plain function), registered on one typer app here.
The only place that reads argv or prints; errors become one line and exit code 2."""

from __future__ import annotations

import logging
import os

import typer

from lmrec.cli.benchmark import benchmark
from lmrec.cli.cold_start import cold_start
from lmrec.cli.compare import compare
from lmrec.cli.data import data_drift, data_images, data_info
from lmrec.cli.distill import distill
from lmrec.cli.encode import encode
from lmrec.cli.evaluate import evaluate
from lmrec.cli.fit import fit
from lmrec.cli.forget import forget
from lmrec.cli.models import models
from lmrec.cli.prequential import prequential
from lmrec.cli.pretrain import pretrain
from lmrec.cli.pretrain_lm import pretrain_lm
from lmrec.cli.quantize import quantize
from lmrec.cli.recommend import recommend
from lmrec.cli.robustness import robustness
from lmrec.cli.serve import serve
from lmrec.cli.simulate import simulate
from lmrec.cli.synth import synth
from lmrec.cli.tune import tune
from lmrec.cli.update import update
from lmrec.cli.zero_shot import zero_shot

os.environ.setdefault("HF_HUB_OFFLINE", "1")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Language-model item semantics + sequence models for recommendation.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect datasets and files.")
app.add_typer(data_app, name="data")
data_app.command("info")(data_info)
data_app.command("drift")(data_drift)
data_app.command("images")(data_images)
for verb in (fit, evaluate, recommend, update, forget, compare, models, benchmark, serve, pretrain, prequential,
             tune, synth, encode):
    app.command()(verb)
app.command("zero-shot")(zero_shot)
app.command("cold-start")(cold_start)
app.command("pretrain-lm")(pretrain_lm)
app.command()(quantize)
app.command()(robustness)
app.command()(distill)
app.command()(simulate)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LMREC_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    app()


__all__ = ["app", "main"]
