"""`lmrec robustness RUN_DIR --attack ...`: accuracy under perturbed item vectors (noise, fgsm) and data
poisoning (random, average, bandwagon, sequence shilling attacks, retrained, with and without the detection
defence). Prints a table and writes RUN_DIR/robustness.json (or --out)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lmrec.cli.common import ConsoleReporter, DeviceOpt, RunDirArg, friendly, out
from lmrec.errors import LmrecError

PERTURBATIONS = {"noise": "random", "fgsm": "adversarial"}
SHILLING = ("random", "average", "bandwagon", "sequence")


@friendly
def robustness(
    run_dir: RunDirArg,
    attack: Annotated[str, typer.Option("--attack", help="Comma-separated: noise, fgsm (perturbed item vectors) "
                                        "and/or random, average, bandwagon, sequence (shilling profiles).")
                      ] = "noise,fgsm",
    eps: Annotated[str, typer.Option(help="Perturbation radii, relative to each vector's length.")
                   ] = "0,0.05,0.1,0.2,0.5",
    parts: Annotated[str, typer.Option(help="What is perturbed: items (item table), text (LM vectors).")
                     ] = "items,text",
    steps: Annotated[int, typer.Option(help="fgsm: gradient steps (1 = FGSM, more = PGD).")] = 1,
    share: Annotated[float, typer.Option(help="Shilling: fake profiles as a share of the real users.")] = 0.01,
    targets: Annotated[int, typer.Option(help="Shilling: target items to promote.")] = 5,
    defend: Annotated[bool, typer.Option("--defend/--no-defend", help="Shilling: also detect and remove "
                                         "injected profiles, then retrain.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations, targets and profiles.")] = 0,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="JSON file to write (default: "
                                                  "RUN_DIR/robustness.json).")] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Measure how a run's accuracy holds up under perturbation and data poisoning."""
    from lmrec.io import atomic_write_json
    from lmrec.pipeline import load_run
    from lmrec.pipeline.robustness import perturbation_report, removed_exposure, shilling_report

    asked = [a.strip() for a in attack.split(",") if a.strip()]
    unknown = [a for a in asked if a not in PERTURBATIONS and a not in SHILLING]
    if unknown or not asked:
        raise LmrecError(f"--attack {attack!r}: expected some of {', '.join([*PERTURBATIONS, *SHILLING])}")
    radii = _floats(eps, "--eps")
    run = load_run(run_dir, device=device)
    report: dict[str, Any] = {"run": str(run_dir), "seed": seed, "started": time.time()}
    with ConsoleReporter() as progress:
        kinds = [PERTURBATIONS[a] for a in asked if a in PERTURBATIONS]
        if kinds:
            report["perturbation"] = perturbation_report(run, eps=radii, kinds=kinds, parts=_names(parts, "--parts"),
                                                         steps=steps, seed=seed, progress=progress)
        attacks = [a for a in asked if a in SHILLING]
        if attacks:
            rows = shilling_report(run, attacks=attacks, share=share, n_targets=targets, defend=defend, seed=seed,
                                   progress=progress)
            report["shilling"] = {"rows": rows, "share": share, "removed_exposure": removed_exposure(rows)}
    target = out_file or run.run_dir.robustness
    atomic_write_json(target, report)
    if "perturbation" in report:
        out.print(_perturbation_table(report["perturbation"]))
    if "shilling" in report:
        out.print(_shilling_table(report["shilling"]["rows"]))
    out.print(f"wrote {target}", soft_wrap=True)


def _floats(value: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise LmrecError(f"{flag} {value!r}: expected comma-separated numbers") from None


def _names(value: str, flag: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names or set(names) - {"items", "text"}:
        raise LmrecError(f"{flag} {value!r}: expected items and/or text")
    return names


def _perturbation_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="NDCG@10 under perturbation (test)")
    for name in ("kind", "eps", "NDCG@10", "95% CI"):
        table.add_column(name, justify="left" if name == "kind" else "right")
    for row in rows:
        table.add_row(row["kind"], f"{row['eps']:g}", f"{row['ndcg@10']:.4f}",
                      f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}]")
    return table


def _shilling_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Shilling: honest NDCG@10 and target HR@10")
    for name in ("attack", "defence", "NDCG@10", "target HR@10", "P / R"):
        table.add_column(name, justify="left" if name in ("attack", "defence") else "right")
    for row in rows:
        found = row.get("detection")
        table.add_row(row["attack"], row["defence"], f"{row['ndcg@10']:.4f}", f"{row['exposure']:.4f}",
                      f"{found['precision']:.2f} / {found['recall']:.2f}" if found else "")
    return table
