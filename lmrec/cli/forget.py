"""`lmrec forget RUN_DIR --user ID`: erase one user's events, histories and rows from a run directory."""

from __future__ import annotations

from typing import Annotated

import typer

from lmrec.cli.common import EVENTS_URL_HELP, RunDirArg, checked_events_url, friendly, out


@friendly
def forget(
    run_dir: RunDirArg,
    user: Annotated[str, typer.Option("--user", help="The user's ID (the raw ID, also in a pseudonymous run).")],
    events_url: Annotated[str | None, typer.Option("--events-url", help=EVENTS_URL_HELP)] = None,
) -> None:
    """Erase one user: events, stored histories, split rows and evaluation rows (lmrec/online/erasure.py says
    what is and is not erased); the model is marked for retraining and the erasure is audited."""
    from lmrec.config import read_yaml
    from lmrec.data.pseudonym import stored_user_id
    from lmrec.online.erasure import forget_user
    from lmrec.pipeline import resolve_config
    from lmrec.pipeline.rundir import RunDir

    layout = RunDir(run_dir)
    layout.require_complete()
    pseudonymized = resolve_config(read_yaml(layout.config)).data.pseudonymize
    removed = forget_user(run_dir, stored_user_id(user, pseudonymized), who="cli",
                          events_url=checked_events_url(events_url))
    out.print(f"erased user from {run_dir}: {removed['events']} events, {removed['histories']} stored "
              f"histories, {removed['split_rows']} split rows, {removed['evaluation_rows']} evaluation rows; the "
              "model still carries the user's influence until the next `lmrec fit` (marked retrain_required)",
              soft_wrap=True)
