"""`lmrec serve RUN_DIR`: the HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer

from lmrec.cli.common import DeviceOpt, RunDirArg, friendly


@friendly
def serve(
    run_dir: RunDirArg,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token_env: Annotated[str, typer.Option(help="Environment variable holding the write token.")] = "LMREC_API_TOKEN",
    allow_unauthenticated_writes: Annotated[bool, typer.Option(
        help="Accept POST /events and /items without a token when none is configured.")] = False,
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for.")] = 1000,
    threads: Annotated[int, typer.Option(help="Torch threads for scoring.")] = 1,
    faiss_min_items: Annotated[int, typer.Option(
        help="Catalogues this big use a FAISS index (dot-product models).")] = 50_000,
    coalesce: Annotated[int, typer.Option(
        help="Most concurrent /recommend calls scored in one model call (1: one call per request).")] = 64,
    watch_updates: Annotated[float, typer.Option(
        help="Every this many seconds, serve the version `lmrec update` made current (0: off).")] = 0.0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request line.")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    device: DeviceOpt = "auto",
) -> None:
    """Serve RUN_DIR over HTTP (FastAPI + uvicorn): /recommend, /events, /items, /users, /health, /metrics."""
    from lmrec.device import resolve_device
    from lmrec.serve import ServeConfig, run_server

    config = ServeConfig(token_env=token_env, allow_unauthenticated_writes=allow_unauthenticated_writes,
                         max_k=max_k, torch_threads=threads, faiss_min_items=faiss_min_items,
                         coalesce=coalesce, watch_updates_s=watch_updates, device=str(resolve_device(device)))
    run_server(run_dir, host=host, port=port, config=config, access_log=access_log, log_level=log_level)
