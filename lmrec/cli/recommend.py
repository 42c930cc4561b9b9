"""`lmrec recommend RUN_DIR`: top-k for a known user or for any history of item IDs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from lmrec.cli.common import DeviceOpt, RunDirArg, friendly, out, warn
from lmrec.errors import LmrecError


@friendly
def recommend(
    run_dir: RunDirArg,
    user: Annotated[str | None, typer.Option("--user", help="A known user ID.")] = None,
    history: Annotated[str | None, typer.Option("--history", help="Comma-separated item IDs.")] = None,
    k: Annotated[int, typer.Option("-k", help="How many items (1-1000).")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="One JSON line per item: the history items that drove "
                                          "it (attribution), what it shares with them, a reason.")] = False,
    explain_method: Annotated[str, typer.Option(help="auto (integrated gradients where the model has them, else "
                                                "leave-one-out), gradients or leave-one-out.")] = "auto",
    reason_lm: Annotated[bool, typer.Option("--reason-lm", help="With --explain: also a sentence by the small "
                                            "offline LM (SmolLM2-135M), kept only where it sticks to the facts; "
                                            "seconds per item.")] = False,
    device: DeviceOpt = "cpu",
) -> None:
    """Top-k items for a known user or for a raw history of item IDs (a user the model never saw)."""
    from lmrec.data.types import Histories
    from lmrec.pipeline import history_for, load_run
    from lmrec.ranking import RankingPipeline

    if (user is None) == (history is None):
        raise LmrecError("give exactly one of --user ID or --history ID,ID,...")
    if not 1 <= k <= 1000:
        raise LmrecError(f"-k {k}: give 1 to 1000 items")
    run = load_run(run_dir, device=device)
    if k > len(run.items):
        raise LmrecError(f"-k {k}: more than the run's {len(run.items)} items")
    items = [v.strip() for v in history.split(",") if v.strip()] if history is not None else None
    if items is not None and not items:
        raise LmrecError("--history is empty; give at least one item ID")
    seq, unknown = history_for(run, user=user, items=items)
    queries = Histories.from_lists([seq])
    index = -1
    if user is not None:  # a model that reads user attributes serves them with the history
        from lmrec.data.pseudonym import stored_user_id

        index = run.users.index(stored_user_id(user, run.config.data.pseudonymize))
    if index >= 0:
        queries = Histories(queries.seq, queries.lengths, users=np.asarray([index], np.int64))
    top = RankingPipeline.for_model(run.model).rank(queries, k)
    rows = [{"item_id": str(run.items.raw[i]), "score": float(s)}
            for i, s in zip(top.items[0], top.scores[0], strict=True) if i >= 0]
    if unknown:
        warn(f"ignored unknown item IDs: {', '.join(unknown[:10])}")
    if explain:
        from lmrec.ranking.explain import explain as explain_items

        picked = np.asarray([i for i in top.items[0] if i >= 0], np.int64)
        lm = None
        if reason_lm:
            from lmrec.text.generate import small_lm

            lm = small_lm()
        found = explain_items(run.model, np.asarray(seq, np.int64), picked, catalog=run.catalog, user=index,
                              method=explain_method, lm=lm, lm_items=len(picked))
        for rank, (row, why) in enumerate(zip(rows, found, strict=True), 1):
            print(json.dumps({"rank": rank, **row, "explanation": why.to_json(run.items.raw)}), flush=True)
        return
    if as_json:
        out.print_json(json.dumps({"items": rows, "unknown_items": unknown}))
        return
    titles = _titles(run)
    table = Table(title=f"top {k} for " + (f"user {user}" if user else f"history of {len(seq)} items"))
    for column in ("rank", "item_id", "score", "text"):
        table.add_column(column)
    for rank, row in enumerate(rows, 1):
        table.add_row(str(rank), row["item_id"], f"{row['score']:.4f}", titles.get(row["item_id"], "")[:60])
    out.print(table)


def _titles(run: Any) -> dict[str, str]:
    if run.catalog is None:
        return {}
    return dict(zip(run.items.raw.tolist(), run.catalog.texts(), strict=False))
