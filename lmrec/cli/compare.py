"""`lmrec compare A B`: a paired significance test of run B against run A."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import friendly, out


@friendly
def compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run directory (evaluated).")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run directory (evaluated, same split).")],
    metric: Annotated[str, typer.Option(help="Per-user metric, e.g. ndcg@10.")] = "ndcg@10",
    method: Annotated[str, typer.Option(help="t, wilcoxon, bootstrap or randomization.")] = "t",
) -> None:
    """Paired significance test of B against A over the same test users."""
    from lmrec.pipeline import compare_runs

    result = compare_runs(run_a, run_b, metric=metric, method=method)
    out.print(f"{metric}: A={result['mean_a']:.4f}  B={result['mean_b']:.4f}  diff={result['mean_diff']:+.4f} "
              f"95% CI [{result['ci'][0]:+.4f}, {result['ci'][1]:+.4f}]  p={result['p_value']:.3g} "
              f"({result['method']}, {result['users']} users)", soft_wrap=True)
