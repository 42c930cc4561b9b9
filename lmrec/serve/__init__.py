"""The HTTP service: `create_app(run_dir, ServeConfig()) -> FastAPI`, `run_server` for `lmrec serve`.

FastAPI, uvicorn and faiss are optional (`pip install 'lmrec[serve]'`); importing this package does not need them.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError
from lmrec.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run_server"]


def create_app(run_dir: str | Path, config: ServeConfig | None = None, **kwargs: Any) -> Any:
    """See `lmrec.serve.app.create_app`."""
    try:
        from lmrec.serve.app import create_app as build
    except ModuleNotFoundError as exc:
        if exc.name not in ("fastapi", "starlette", "pydantic"):
            raise
        raise ConfigError(f"the service needs FastAPI ({exc.name} missing): pip install 'lmrec[serve]'") from None
    return build(run_dir, config, **kwargs)


def run_server(run_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000, config: ServeConfig | None = None,
               access_log: bool = True, log_level: str = "info") -> None:
    """Serve RUN_DIR with uvicorn, one worker (the model and the event log live in this process)."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("`lmrec serve` needs uvicorn: pip install 'lmrec[serve]'") from None
    config = config or ServeConfig()
    if config.torch_threads:
        import torch

        torch.set_num_threads(int(config.torch_threads))
        try:
            import faiss

            faiss.omp_set_num_threads(int(config.torch_threads))
        except ImportError:
            pass
    app = create_app(run_dir, config)  # tokens are checked here: a malformed one stops the start
    from lmrec.serve.auth import RedactQueryTokens

    logging.getLogger("uvicorn.access").addFilter(RedactQueryTokens())
    gc.collect()
    gc.freeze()  # the loaded run is long-lived: keep it out of every later collection (shorter GC pauses)
    uvicorn.run(app, host=host, port=port, workers=1, access_log=access_log, log_level=log_level,
                timeout_graceful_shutdown=5)
