"""`lmrec quantize RUN --out RUN2 --method int8|onnx|prune:P[,...]`: a compressed copy of a sequence-model run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import RunDirArg, friendly, out


@friendly
def quantize(
    run_dir: RunDirArg,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New (or empty) run directory to write.")],
    method: Annotated[str, typer.Option("--method", help="int8 (dynamic quantisation), onnx (ONNX Runtime), "
                                        "prune:P (zero the fraction P of the net's weights by magnitude), or a "
                                        "comma-separated mix such as prune:0.5,int8.")] = "int8",
) -> None:
    """Write a compressed copy of a sequence-model run (prune, int8, ONNX); evaluate, recommend and serve read it
    like any run."""
    from lmrec.models.sequence.compress import CompressionSpec
    from lmrec.pipeline.compress import compress_run

    spec = CompressionSpec.parse(method)  # a bad --method fails before anything is read
    info = compress_run(run_dir, out_dir, spec)["compression"]
    pruned = info.get("pruning")
    pruning = f"; {pruned['sparsity']:.1%} of {pruned['weights']:,} net weights zero" if pruned else ""
    overlap = info["agreement"].get("top_k_overlap")
    agree = f"; keeps {overlap:.1%} of the source's top-{info['agreement']['k']}" if overlap is not None else ""
    out.print(f"{info['method']}: {run_dir} -> {out_dir} (scores as {info['inference']}{pruning}; "
              f"{info['nonzero_parameters']:,} of {info['parameters']:,} parameters nonzero; weights file "
              f"{info['weights_bytes']:,} bytes, net {info['net_bytes']:,} bytes as scored{agree})", soft_wrap=True)
