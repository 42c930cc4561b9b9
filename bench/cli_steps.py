"""Run one `lmrec` CLI step as a subprocess (own thread count, offline hub), for benchmark scripts that drive the
CLI end to end; a failing step stops the script with its output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lmrec(*args: str, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "lmrec.cli", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"lmrec {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    print(f"  {time.perf_counter() - started:6.1f}s  lmrec {' '.join(args[:3])} ...", flush=True)
