"""`lmrec serve RUN_DIR`: the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.common import EVENTS_URL_HELP, DeviceOpt, RunDirArg, checked_events_url, friendly


@friendly
def serve(
    run_dir: RunDirArg,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token_env: Annotated[str, typer.Option(
        help="Environment variable holding the full-access token (read, write, admin).")] = "LMREC_API_TOKEN",
    read_token_env: Annotated[str, typer.Option(
        help="Environment variable holding a read-only token.")] = "LMREC_READ_TOKEN",
    tokens_file: Annotated[str | None, typer.Option(
        help="More tokens, one 'SCOPES TOKEN' per line (scopes: read, write, admin, comma-separated).")] = None,
    allow_unauthenticated_writes: Annotated[bool, typer.Option(
        help="Accept POST /events and /items without a token when no token has the write scope.")] = False,
    allow_unauthenticated_reads: Annotated[bool, typer.Option(
        help="Answer reads (recommendations, users, items) without a token when no token has the read scope: "
             "only for a private deployment.")] = False,
    public_recommend: Annotated[bool, typer.Option(
        help="Answer /recommend for a raw history, and item lookups, without a token (a public front-end); "
             "a stored user's data still needs one.")] = False,
    max_k: Annotated[int, typer.Option(help="Largest k a request may ask for.")] = 1000,
    threads: Annotated[int, typer.Option(help="Torch threads for scoring.")] = 1,
    faiss_min_items: Annotated[int, typer.Option(
        help="Catalogues this big use a FAISS index (dot-product models).")] = 50_000,
    faiss_index: Annotated[str, typer.Option(
        help="FAISS index for big catalogues: flat (exact), hnsw or ivf (approximate, faster on millions of "
             "items; recall in bench/results/ann_recall.md).")] = "flat",
    coalesce: Annotated[int, typer.Option(
        help="Most concurrent /recommend calls scored in one model call (1: one call per request).")] = 64,
    user_cache: Annotated[int, typer.Option(
        min=0, help="User states kept between requests (dot-product models): a user whose history has not "
                    "changed is not run through the net again (0: none).")] = 10_000,
    watch_updates: Annotated[float, typer.Option(
        help="Every this many seconds, serve the version `lmrec update` made current (0: off).")] = 0.0,
    rank_with: Annotated[Path | None, typer.Option("--rank-with", help="A ranking model's run (`-m dcn`, same "
                                                   "split): it re-orders every retrieved top N.")] = None,
    rank_candidates: Annotated[int, typer.Option(min=1, help="With --rank-with: N.")] = 100,
    rank_weight: Annotated[str, typer.Option(help="With --rank-with: auto (chosen on validation), alone or W.")
                           ] = "auto",
    content_filter: Annotated[Path | None, typer.Option("--filter", help="Content rules (YAML/JSON): the items "
                                                        "they remove are never served; counts in /health and "
                                                        "/metrics.")] = None,
    explain_lm: Annotated[bool, typer.Option("--explain-lm", help="Explained requests also get a sentence by the "
                                             "small offline LM for their first item (loaded at start).")] = False,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request line.")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    events_url: Annotated[str | None, typer.Option("--events-url", help=EVENTS_URL_HELP)] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Serve RUN_DIR over HTTP (FastAPI + uvicorn): /recommend, /events, /items, /users, /health, /metrics."""
    from lmrec.device import resolve_device
    from lmrec.errors import ConfigError
    from lmrec.serve import ServeConfig, run_server

    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be in 1-65535")
    config = ServeConfig(token_env=token_env, read_token_env=read_token_env, tokens_file=tokens_file,
                         allow_unauthenticated_writes=allow_unauthenticated_writes,
                         allow_unauthenticated_reads=allow_unauthenticated_reads, public_recommend=public_recommend,
                         max_k=max_k, torch_threads=threads, faiss_min_items=faiss_min_items,
                         coalesce=coalesce, user_cache=user_cache, faiss_index=faiss_index,
                         watch_updates_s=watch_updates,
                         device=str(resolve_device(device)), rank_with=str(rank_with) if rank_with else None,
                         rank_candidates=rank_candidates, rank_weight=rank_weight,
                         content_filter=str(content_filter) if content_filter else None, explain_lm=explain_lm,
                         event_log=checked_events_url(events_url))
    run_server(run_dir, host=host, port=port, config=config, access_log=access_log, log_level=log_level)
