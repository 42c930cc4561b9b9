"""`lmrec simulate RUN_DIR`: a feedback loop of simulated users and the run's recommender (lmrec.online.simulate)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import ConsoleReporter, RunDirArg, friendly, out


@friendly
def simulate(
    run_dir: RunDirArg,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where results.json, results.md and plots go.")],
    rounds: Annotated[int, typer.Option(min=1, max=1000, help="Rounds of recommend -> choose -> update.")] = 20,
    policy: Annotated[str, typer.Option(help="Comma-separated policies, each plain or --rerank stages joined by "
                                             "'+': plain,mmr:0.7,calibrated:0.5,fair:0.2,explore:0.1")] = "plain",
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="List length.")] = 10,
    users: Annotated[int | None, typer.Option(min=1, help="Simulate the first N users (default: all).")] = None,
    temperature: Annotated[float, typer.Option(help="Of the users' choice model (lower: pickier).")] = 0.5,
    no_choice: Annotated[float, typer.Option(help="Utility (per-user z-score) of choosing nothing.")] = 3.0,
    update_every: Annotated[int, typer.Option(min=1, help="Rounds between online updates.")] = 1,
    seed: Annotated[int, typer.Option(help="Of the users' choices and exploring policies.")] = 0,
) -> None:
    """Simulated users choose from the lists a policy shows them; the recommender learns from their choices."""
    import os

    from lmrec.online.simulate import SimulationConfig
    from lmrec.online.simulate import simulate as run_simulation
    from lmrec.online.simulate_report import write_simulation
    from lmrec.pipeline import load_run
    from lmrec.provenance import environment

    load_before = os.getloadavg()[0]
    run = load_run(run_dir)
    policies = [p.strip() for p in policy.split(",") if p.strip()]
    if not policies:
        from lmrec.errors import ConfigError

        raise ConfigError("--policy is empty; e.g. --policy plain,fair:0.2")
    configs = [SimulationConfig(rounds=rounds, k=k, policy=p, users=users, temperature=temperature,
                                no_choice=no_choice, update_every=update_every, seed=seed) for p in policies]
    records = []
    with ConsoleReporter() as report:
        for config in configs:
            records += run_simulation(run, config, progress=lambda done, total, _p=config.policy: report(
                f"simulate {_p}", done, total))
    provenance = {"run": str(run_dir), "model": run.meta.get("model"), "split": run.meta["split"]["fingerprint"],
                  "dataset_digest": run.meta["dataset"]["digest"], "environment": environment(),
                  "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    write_simulation(out_dir, records, configs, provenance)
    last = {r["policy"]: r for r in records if r["round"] == rounds}
    for name, r in last.items():
        out.print(f"{name}: round {rounds} coverage {r['coverage']:.4f}, Gini {r['gini']:.4f}, true NDCG@{k} "
                  f"{r['true_ndcg']:.4f}", soft_wrap=True, highlight=False, markup=False)
    out.print(f"wrote {out_dir / 'results.json'}, results.md and plots", soft_wrap=True, highlight=False)
