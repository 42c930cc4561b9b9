"""A Ray session for the steps that scale out (item encoding on Ray Data, training on Ray Train): join the cluster
at `address` (`ray start --head` printed it; "auto" finds the local one), or start a private local one sized for
the work, and shut down only what this call started. Ray is optional (`pip install 'lmrec[ray]'`): without it, or
without `--workers`, every step runs in this process as before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lmrec.errors import ConfigError


def require_ray() -> Any:
    """The `ray` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--workers needs Ray: pip install 'lmrec[ray]' (or leave --workers out to run in this "
                          "process)") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, *, cpus: int = 1) -> Iterator[Any]:
    """`ray`, initialised: connected to `address`, else a local instance with at least `cpus` CPUs (more workers
    than cores oversubscribe them); an instance already running in this process is reused as it is."""
    ray = require_ray()
    if address:
        check_reachable(address)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                   "configure_logging": True}
        try:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=max(os.cpu_count() or 1, int(cpus)), **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise ConfigError(f"--ray-address: cannot start or join {where} ({str(exc).splitlines()[0]})") from None
        started = True
    try:
        quiet_data_progress(ray)
        yield ray
    finally:
        if started:
            ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ConfigError unless something listens at a HOST:PORT address (Ray itself would retry for minutes);
    `auto`, `local` and `ray://` addresses are left to Ray."""
    import socket

    if address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT (what `ray start --head` prints), auto "
                          "or ray://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc}); start "
                          "one with `ray start --head`") from None


def quiet_data_progress(ray: Any) -> None:
    """Ray Data's progress bars only on a terminal: in CI and logs they are pages of carriage returns."""
    import sys

    try:
        context = ray.data.DataContext.get_current()
    except AttributeError:  # ray without its data extra
        return
    context.enable_progress_bars = sys.stderr.isatty()
